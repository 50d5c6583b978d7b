#!/usr/bin/env bash
# Builds the demo model's text corpus from Debian packages (man pages in six
# languages, the Python standard library, C headers).
# Usage: tools/demo_model/build_corpus.sh OUT_DIR
# Writes OUT_DIR/corpus-train.jsonl.xz, OUT_DIR/heldout.jsonl.xz and OUT_DIR/stats.json.
# Deterministic for a given set of installed package versions (recorded in stats.json).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out_dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Packages whose text makes up the corpus; man-db/groff render the pages.
packages=(man-db groff-base manpages manpages-dev manpages-de manpages-fr manpages-es manpages-it manpages-ja
          libpython3.11-stdlib linux-libc-dev libc6-dev)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

mkdir -p "$out_dir"
# Record exact package versions: the corpus is a function of them.
dpkg-query -W -f='${Package}=${Version}\n' "${packages[@]}" | sort > "$out_dir/packages.txt"
python3 "$here/build_corpus.py" --out "$out_dir" --packages "$out_dir/packages.txt"
