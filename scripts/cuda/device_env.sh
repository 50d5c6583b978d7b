# Sourced by the scripts that run on the GPU machine from the repository root (carry .carry/cuda, or
# .carry/cuda.tar.xz, unpacked here): sets `out` ($OUT or ./cuda-out, created), `carry` (the staged binaries) and
# LD_LIBRARY_PATH (the carried Debian libraries, then the machine's cuBLAS: the CUDA toolkit's or the pip wheel's).
# device_preamble: the test binary's fixture path and the GPU's name in $out/device.txt.
out=${OUT:-$PWD/cuda-out}
mkdir -p "$out"
carry=$PWD/.carry/cuda
[ -d "$carry" ] || [ ! -f "$carry.tar.xz" ] || tar xJf "$carry.tar.xz" -C "$PWD/.carry"
cublas=$(ls -d /usr/local/cuda/lib64 2>/dev/null; python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)
export LD_LIBRARY_PATH=$carry/lib:$(echo "$cublas" | tr '\n' ':')${LD_LIBRARY_PATH:-}

# The test binary names fixtures by the build machine's source path (BANYAN_SOURCE_DIR): point that path here.
device_preamble() {
  local src=${BANYAN_BUILD_SOURCE:-/work/main}
  [ -e "$src" ] || { mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/device.txt"
}

# run_gtests FILTER LOG PATTERN: the carried test_cuda_engine's tests matching FILTER, the full output in $out/LOG and
# the lines matching PATTERN on stdout; returns the test binary's status.
run_gtests() {
  timeout ${TEST_TIMEOUT:-300} "$carry/test_cuda_engine" --gtest_filter="$1" 2>&1 | tee "$out/$2" | grep -E "$3" | tail -80
  return ${PIPESTATUS[0]}
}
