#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (carry .carry): the CUDA engine tests, then the Qwen3-30B-A3B
# geometry benchmark of banyan and of transformers in the same run. Results go to $OUT (or ./cuda-out).
# Usage: scripts/cuda/run_on_device.sh [tests|bench|all]
set -uo pipefail
what=${1:-all}
source scripts/cuda/device_env.sh
device_preamble
ldd "$carry/banyan" | grep -i "not found" && echo "missing libraries" >&2
rc=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  timeout ${TEST_TIMEOUT:-240} "$carry/test_cuda_engine" --gtest_output=xml:"$out/test_cuda_engine.xml" 2>&1 | tee "$out/tests.log" | tail -60
  rc=${PIPESTATUS[0]}
  timeout 60 "$carry/banyan" generate --model models/demo --device cuda --prompt "The river" --max-tokens 16 2>&1 | tail -3
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  cfg=tools/bench/configs/qwen3-30b-a3b.json
  timeout ${BENCH_TIMEOUT:-150} "$carry/banyan" bench --device cuda --dummy-weights --config "$cfg" | tee "$out/bench_banyan.json"
  PYTHONUNBUFFERED=1 timeout ${HF_TIMEOUT:-200} python3 tools/bench/transformers_decode.py --config "$cfg" | tee "$out/bench_transformers.json"
fi
exit $rc
