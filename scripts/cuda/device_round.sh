#!/usr/bin/env bash
# One device call that checks and measures everything the CUDA backend has, on the GPU machine from the repository
# root (carry .carry/cuda.tar.xz from build_for_device.sh, plus any other builds to compare, as .tar.xz of a folder
# holding `banyan`): every test_cuda_engine test, the Qwen3-30B-A3B geometry bench of this build and of the others
# (A/B, two rounds), fp8 experts, the Qwen3-235B-A22B per-node bench, serve --device cuda with device sampling, and
# transformers in the time left. Output in $OUT; a summary line per bench on stdout.
# Usage: scripts/cuda/device_round.sh [LABEL=ARCHIVE.tar.xz ...]    (e.g. base=.carry/base.tar.xz)
# Env: ROUND_S (default 560): the time budget in seconds; transformers only runs when > 60 s are left.
set -uo pipefail
start=$(date +%s)
el() { echo $(( $(date +%s) - start )); }
source scripts/cuda/device_env.sh
device_preamble
summ() { python3 tools/bench/summarize_bench.py; }
TEST_TIMEOUT=200 bash scripts/cuda/run_on_device.sh tests > "$out/tests_wrapper.txt" 2>&1
grep -E "FAILED|PASSED|tests ran|Failure|DISAGREE|tokens equal" "$out/tests.log" | head -60
echo "tests done at $(el) s"
others=()
for spec in "$@"; do
  label=${spec%%=*}
  dir=$PWD/.carry/ab-$label
  mkdir -p "$dir" && tar xJf "${spec#*=}" -C "$dir"
  others+=("$label=$(find "$dir" -name banyan -type f | head -1)")
done
for round in 1 2; do
  BENCH_TIMEOUT=120 bash scripts/cuda/ab_bench.sh "this=" | summ
  for o in "${others[@]}"; do BANYAN_BIN=${o#*=} bash scripts/cuda/ab_bench.sh "${o%%=*}=" | summ; done
  echo "A/B round $round done at $(el) s"
done
cfg=tools/bench/configs/qwen3-30b-a3b.json
r=$(timeout 120 "$carry/banyan" bench --device cuda --dummy-weights --config "$cfg" --expert-dtype fp8 | tail -1)
printf '{"label": "fp8", "result": %s}\n' "${r:-null}" | tee -a "$out/ab_bench.jsonl" | summ
mem=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
epn=$([ "$mem" -gt 100000 ] && echo 32 || echo 16)  # one node's share that fits the card in bf16
for dt in bf16 fp8; do
  timeout 150 "$carry/banyan" bench --device cuda --dummy-weights --config tools/bench/configs/qwen3-235b-a22b.json \
    --experts-per-node $epn --expert-dtype $dt > "$out/bench_235b_e${epn}_$dt.json" 2>"$out/bench_235b_e${epn}_$dt.err"
  printf '{"label": "235b_e%s_%s", "result": %s}\n' "$epn" "$dt" "$(tail -1 "$out/bench_235b_e${epn}_$dt.json" || echo null)" | summ
done
echo "benches done at $(el) s"
timeout 200 bash scripts/cuda/sampling_check.sh serve > "$out/sampling_serve_wrapper.txt" 2>&1
grep -E "rc |reproducible|differs" "$out/serve_cuda.log" | tail -6
left=$(( ${ROUND_S:-560} - $(el) ))
if [ $left -gt 60 ]; then
  PYTHONUNBUFFERED=1 timeout $left python3 tools/bench/transformers_decode.py --config "$cfg" |
    tee "$out/bench_transformers.json" | tail -3
fi
echo "round done at $(el) s"
