#!/usr/bin/env bash
# Builds the CUDA binaries here (build-cuda, sm_90a) and stages them with the Debian shared libraries a GPU
# machine's image lacks into .carry/cuda/ (git-ignored) and .carry/cuda.tar.xz, for the device tool's `carry`.
# Usage: scripts/cuda/build_for_device.sh [ninja targets...]   (default: banyan test_cuda_engine)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-cuda
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(banyan test_cuda_engine)
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBANYAN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a
fi
ninja -C "$build" -j"${JOBS:-2}" "${targets[@]}"
grep -qx '/.carry/' "$root/.git/info/exclude" 2>/dev/null || echo '/.carry/' >>"$root/.git/info/exclude"
carry=$root/.carry/cuda
rm -rf "$carry"
mkdir -p "$carry/lib"
for t in "${targets[@]}"; do
  bin=$(find "$build" -maxdepth 4 -type f -name "$t" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "no binary for target $t" >&2; exit 1; }
  cp "$bin" "$carry/"
  # Shared libraries outside glibc and CUDA (the device image has its own of those).
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libcuda.so*|libcublas*|libcudart*) ;;
      *) cp -L "$lib" "$carry/lib/" ;;
    esac
  done
done
strip -s "$carry"/* 2>/dev/null || true
# Compressed copy for the device tool's carry (the working tree plus carry must stay under 64 MiB); the device-side
# scripts unpack it when .carry/cuda is absent.
tar cf - -C "$root/.carry" cuda | xz -T2 -3 >"$root/.carry/cuda.tar.xz"
du -sh "$carry" "$root/.carry/cuda.tar.xz"
