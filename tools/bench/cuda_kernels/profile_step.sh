#!/usr/bin/env bash
# On the GPU machine, from the repository root (carry .carry/cuda): the per-kernel time of one warm decode step of
# the Qwen3-30B-A3B geometry (dummy bf16 weights), at batch 1 and at batch 32, with Nsight Compute (each kernel of the
# CUDA graph timed on its own: --graph-profiling node; clocks and caches left alone). The bench marks the step with
# cudaProfilerStart/Stop (BANYAN_CUDA_PROFILE_BATCH). Summaries (kernel, count, total µs) go to $OUT/profile_b*.txt.
set -uo pipefail
source scripts/cuda/device_env.sh
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[ -n "$ncu" ] || { echo "no ncu on this machine" >&2; exit 1; }
cfg=tools/bench/configs/qwen3-30b-a3b.json
for b in ${PROFILE_BATCHES:-1 32}; do
  BANYAN_CUDA_PROFILE_BATCH=$b timeout ${PROFILE_TIMEOUT:-240} "$ncu" --profile-from-start off --graph-profiling node \
    --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --print-units base \
    --log-file "$out/ncu_b$b.csv" "$carry/banyan" bench --device cuda --dummy-weights --config "$cfg"
  python3 tools/bench/cuda_kernels/summarize_ncu.py "$out/ncu_b$b.csv" | tee "$out/profile_b$b.txt"
done
