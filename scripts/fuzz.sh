#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz (ASan + UBSan) and runs each for N seconds.
# Usage: scripts/fuzz.sh [seconds=30] [target...]   (default target: safetensors_header_fuzz)
# Prints one line per target: "fuzz: <target>: <executions> executions, no crash" or fails with the crash input.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors_header_fuzz)
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBANYAN_FUZZ=ON -DBANYAN_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" >/dev/null
cmake --build build-fuzz -j "$jobs" --target "${targets[@]}"

for target in "${targets[@]}"; do
  short=${target%_fuzz}
  corpus=build-fuzz/corpus/$short
  mkdir -p "$corpus"
  seeds=tests/fuzz/seeds/$short
  [[ -d $seeds ]] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  dict=()
  [[ -f tests/fuzz/$short.dict ]] && dict=(-dict="tests/fuzz/$short.dict")
  log=build-fuzz/$target.log
  if ! ./build-fuzz/tests/fuzz/"$target" "$corpus" "${dict[@]}" -max_total_time="$seconds" -max_len=4096 \
      -artifact_prefix=build-fuzz/ -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target: CRASH (input saved under build-fuzz/, log $log)" >&2
    exit 1
  fi
  runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}')
  echo "fuzz: $target: ${runs:-?} executions in ${seconds}s, no crash"
done
