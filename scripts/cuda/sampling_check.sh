#!/usr/bin/env bash
# Runs on the GPU machine from the repository root (carry .carry/cuda.tar.xz from build_for_device.sh): the GPU
# sampling tests (tests/cuda/test_cuda_sampling.cc: hash, penalties, agreement with the CPU Sampler with every
# disagreement printed, the engine path), `serve --device cuda` driven by tests/e2e/serve_curl.sh plus a seeded
# reproducibility check, then the Qwen3-30B-A3B geometry benchmark (greedy, sampled on the device, sampled on the
# host at batch 32). Output in $OUT: sampling_tests.log, serve_cuda.log, sampling_bench.json.
# Usage: scripts/cuda/sampling_check.sh [tests|serve|bench|all]
set -uo pipefail
what=${1:-all}
source scripts/cuda/device_env.sh
device_preamble
rc=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  run_gtests 'CudaSampling*:*CudaEngineSampling*' sampling_tests.log "DISAGREE|tokens equal|FAILED|Failure|error|PASSED|tests ran"
  rc=$?
fi
if [ "$what" = serve ] || [ "$what" = all ]; then
  # The CPU engine's e2e serve test against the CUDA engine (greedy, sampled and logprobs requests).
  BANYAN_E2E_SERVE_ARGS="--device cuda --device-sampling" timeout 300 bash tests/e2e/serve_curl.sh "$carry/banyan" \
    > "$out/serve_cuda.log" 2>&1
  echo "serve_curl.sh --device cuda: rc $?" | tee -a "$out/serve_cuda.log"
  # Seeded sampling on the device is reproducible; another seed gives another completion.
  log=$(mktemp)
  "$carry/banyan" serve --model tests/fixtures/models/qwen3_moe --device cuda --device-sampling --port 0 --host 127.0.0.1 2>"$log" &
  pid=$!
  port=""
  for _ in $(seq 1 300); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
    [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && break
    sleep 0.1
  done
  ask() {
    curl -s --max-time 60 -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/completions" \
      -d "{\"prompt\":\"the cat\",\"max_tokens\":24,\"temperature\":0.9,\"top_p\":0.95,\"top_k\":50,\"presence_penalty\":0.5,\"seed\":$1}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])'
  }
  a=$(ask 7); b=$(ask 7); c=$(ask 8)
  kill $pid; wait $pid 2>/dev/null
  { echo "seed 7: $a"; echo "seed 7 again: $b"; echo "seed 8: $c"
    [ "$a" = "$b" ] && [ -n "$a" ] && echo "reproducible: yes" || echo "reproducible: NO"
    [ "$a" != "$c" ] && echo "seed 8 differs: yes" || echo "seed 8 differs: no (possible but unlikely)"; } |
    tee -a "$out/serve_cuda.log"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  cfg=tools/bench/configs/qwen3-30b-a3b.json
  timeout ${BENCH_TIMEOUT:-240} "$carry/banyan" bench --device cuda --dummy-weights --config "$cfg" | tail -1 |
    tee "$out/sampling_bench.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print({k: d.get(k) for k in
    ["device", "concurrent_sequences", "aggregate_decode_tok_s", "aggregate_decode_sampled_tok_s",
     "aggregate_decode_sampled_on_host_tok_s", "batch1_decode_tok_s"]})'
fi
exit $rc
