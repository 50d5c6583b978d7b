#!/usr/bin/env bash
# Builds the CUDA kernel test (tests/cuda/test_kernels_moe_attention.cc, against the CPU reference ops) and the
# kernel microbenchmark without the CMake tree, into OUT_DIR (default .carry/cudakern), with the shared libraries
# they need copied beside them, so they can be carried to a GPU machine that lacks the -dev packages.
# Usage: tools/bench/cuda_kernels/build.sh [OUT_DIR]; then there: LD_LIBRARY_PATH=OUT_DIR OUT_DIR/test_kernels_cuda
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${1:-$ROOT/.carry/cudakern}
OBJ=${OBJ_DIR:-$ROOT/build-cudakern/obj}
mkdir -p "$OBJ"
NVCC=${NVCC:-nvcc}
ARCH="-gencode=arch=compute_90,code=sm_90"
DEFS="-DFMT_SHARED -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL -DSPDLOG_SHARED_LIB -DHWY_SHARED_DEFINE"
# fmt 9 under nvcc, as in CMakeLists.txt's CUDA block.
NVCC_DEFS="-DFMT_USE_CONSTEXPR=1 -DFMT_CONSTEVAL="
CXXFLAGS="-std=c++20 -O2 -Wall -Wextra -I$ROOT/src -I/usr/local/cuda/include $DEFS"

cpu_sources=("$ROOT"/src/core/*.cc "$ROOT"/src/runtime/ops/cpu/{moe_cpu,attention_cpu,matmul_cpu,simd,elementwise_cpu}.cc)
objs=()
pids=()
for src in "${cpu_sources[@]}"; do
  o=$OBJ/$(basename "${src%.cc}").o
  objs+=("$o")
  if [[ ! -f $o || $src -nt $o ]]; then g++ $CXXFLAGS -c "$src" -o "$o" & pids+=($!); fi
done
for src in "$ROOT"/src/runtime/ops/cuda/{moe_cuda,attention_cuda}.cu; do
  o=$OBJ/$(basename "${src%.cu}").o
  objs+=("$o")
  dep=$(ls -t "$src" "$ROOT"/src/runtime/ops/cuda/*.h "$ROOT"/src/runtime/ops/cuda/*.cuh | head -1)
  if [[ ! -f $o || $dep -nt $o ]]; then $NVCC -std=c++20 -O3 $ARCH -I"$ROOT/src" $DEFS $NVCC_DEFS -c "$src" -o "$o" & pids+=($!); fi
done
for p in "${pids[@]}"; do wait "$p"; done

g++ $CXXFLAGS -c "$ROOT/tests/cuda/test_kernels_moe_attention.cc" -o "$OBJ/test_kernels_moe_attention.o"
$NVCC -std=c++20 -O3 $ARCH -I"$ROOT/src" $DEFS $NVCC_DEFS -c "$ROOT/tools/bench/cuda_kernels/bench_kernels.cu" -o "$OBJ/bench_kernels.o"
LIBS="-lhwy -lfmt -lspdlog -lpthread"
$NVCC $ARCH -o "$OUT/test_kernels_cuda" "$OBJ/test_kernels_moe_attention.o" "${objs[@]}" -lgtest_main -lgtest $LIBS \
  -Xcompiler -static-libstdc++ -Xcompiler -static-libgcc
$NVCC $ARCH -o "$OUT/bench_cuda_kernels" "$OBJ/bench_kernels.o" "${objs[@]}" $LIBS -Xcompiler -static-libstdc++ \
  -Xcompiler -static-libgcc
for lib in $(ldd "$OUT/test_kernels_cuda" | awk '/=> \// {print $3}' | grep -E 'lib(fmt|spdlog|hwy)'); do
  cp -L "$lib" "$OUT/"
done
ls -la "$OUT"
