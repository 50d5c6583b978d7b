#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (carry .carry/cuda): the Qwen3-30B-A3B geometry benchmark once
# per environment setting given, in one process order, so A/B timings come from the same machine and session.
# Usage: scripts/cuda/ab_bench.sh "LABEL=ENV ..." ...   e.g. ab_bench.sh "default=" "nofuse=BANYAN_CUDA_FUSED_NORM=0"
# (BANYAN_BIN=path: time another banyan binary, e.g. a build of an earlier commit)
# Each result is one JSON line {"label": ..., "env": ..., "result": <bench JSON>} in $OUT/ab_bench.jsonl.
set -uo pipefail
source scripts/cuda/device_env.sh
cfg=tools/bench/configs/qwen3-30b-a3b.json
bin=${BANYAN_BIN:-$carry/banyan}  # another build to compare against
for spec in "$@"; do
  label=${spec%%=*}
  envs=${spec#*=}
  result=$(env $envs timeout ${BENCH_TIMEOUT:-150} "$bin" bench --device cuda --dummy-weights --config "$cfg" | tail -1)
  printf '{"label": "%s", "env": "%s", "result": %s}\n' "$label" "$envs" "${result:-null}" | tee -a "$out/ab_bench.jsonl"
done
