#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (carry .carry/cuda.tar.xz from build_for_device.sh): the fp8
# expert tests (tests/cuda/test_cuda_fp8.cc), then the Qwen3-30B-A3B geometry benchmark with bf16 and with fp8
# experts in the same run (same machine, same session). Output in $OUT: fp8_tests.log, fp8_bench.jsonl.
# Usage: scripts/cuda/fp8_check.sh [tests|bench|all]
set -uo pipefail
what=${1:-all}
source scripts/cuda/device_env.sh
device_preamble
rc=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  run_gtests 'CudaFp8*:Models/CudaFp8*' fp8_tests.log "RESULT|FAILED|Failure|error|PASSED|tests ran"
  rc=$?
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  cfg=tools/bench/configs/qwen3-30b-a3b.json
  for dt in bf16 fp8; do
    result=$(timeout ${BENCH_TIMEOUT:-150} "$carry/banyan" bench --device cuda --dummy-weights --config "$cfg" \
      --expert-dtype $dt | tail -1)
    printf '{"expert_dtype": "%s", "result": %s}\n' "$dt" "${result:-null}" | tee -a "$out/fp8_bench.jsonl"
  done
fi
exit $rc
