#!/usr/bin/env bash
# The test command: installs dependencies, builds (CPU; plus a CUDA compile/link check when nvcc exists), runs
# the fuzzers briefly, then every test with CTest. Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBANYAN_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  if compgen -G "src/**/*.cu" >/dev/null || find src -name '*.cu' | grep -q .; then
    echo "test.sh: compiling and linking the CUDA build (its tests run on a GPU machine)"
    PATH=$PATH:/usr/local/cuda/bin cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DBANYAN_CUDA=ON \
      -DBANYAN_TESTS=ON >/dev/null
    PATH=$PATH:/usr/local/cuda/bin cmake --build build-cuda -j "$jobs"
  fi
fi
# The parsers' libFuzzer targets, briefly (clang + ASan/UBSan, in build-fuzz); longer runs: scripts/fuzz.sh SECONDS.
bash scripts/fuzz.sh "${BANYAN_FUZZ_SECONDS:-20}" safetensors_header_fuzz tokenizer_json_fuzz chat_template_fuzz
cd build
ctest --output-on-failure -j "$jobs" --timeout 1800 "$@"
