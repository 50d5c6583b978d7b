#!/usr/bin/env bash
# GGUF export proof with real llama.cpp: models/demo (full and every node of a 2-node contiguous plan) and, when
# present, the shared tiny-qwen3moe are exported; llama.cpp (node-llama-cpp's prebuilt CPU binaries) must tokenize
# prompts to the same ids as banyan and its greedy continuation must equal `banyan generate --prompt-ids` for the
# first 8 tokens (f16, f32). q8_0 changes the weights themselves, so it must agree on the first 4 and the agreement
# is reported. f32 runs GGUF_F32_TOKENS (default 32) tokens and reports how long it agrees (at least 8).
# usage: gguf_llamacpp.sh /path/to/banyan      (exit 77: skipped)
set -euo pipefail
BANYAN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE_DIR="$HERE/gguf"
F32_TOKENS=${GGUF_F32_TOKENS:-32}
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
if [ ! -d "$NODE_DIR/node_modules/@node-llama-cpp/linux-x64" ]; then
  (cd "$NODE_DIR" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --omit=optional --ignore-scripts \
      >/dev/null 2>&1) || { echo "SKIP: npm cannot install node-llama-cpp (registry unreachable?)"; exit 77; }
fi
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
PROMPTS='["The quick brown fox", "Once upon a time there was", "In 1997, the city of", "def fib(n):\n    return"]'
tokenize_banyan() {  # model_dir text -> ids "a,b,c"
  printf '%s\n' "$(python3 -c 'import json,sys; print(json.dumps({"text": sys.argv[1]}))' "$2")" |
    "$BANYAN" tokenize --model "$1" --jsonl - | python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.stdin.readline())["ids"])))'
}
check() {  # model_dir type ntokens label [tokens that must agree, default ntokens]
  local dir=$1 type=$2 n=$3 label=$4 need=${5:-$3} gguf="$TMP/m.gguf"
  "$BANYAN" export gguf --model "$dir" --out "$gguf" --type "$type" >/dev/null
  node "$NODE_DIR/greedy.mjs" "$gguf" "$n" "$PROMPTS" > "$TMP/llama.jsonl"
  local i=0
  while IFS= read -r line; do
    local text; text=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[int(sys.argv[2])])' "$PROMPTS" "$i")
    local lp lg bp bg
    lp=$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.argv[1])["prompt_ids"])))' "$line")
    lg=$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.argv[1])["ids"])))' "$line")
    bp=$(tokenize_banyan "$dir" "$text")
    [ "$lp" = "$bp" ] || { echo "FAIL $label/$type prompt $i tokens: llama.cpp $lp banyan $bp"; exit 1; }
    bg=$("$BANYAN" generate --model "$dir" --prompt-ids "$bp" --max-tokens "$n" --temperature 0 | tail -1)
    # Compare up to the shorter (llama.cpp stops at EOG; banyan at EOS).
    python3 - "$lg" "$bg" "$n" "$label/$type prompt $i" "$need" <<'PY' || exit 1
import sys
a = [int(x) for x in sys.argv[1].split(",") if x]; b = [int(x) for x in sys.argv[2].split(",") if x]
n = int(sys.argv[3]); m = min(len(a), len(b), n); need = min(int(sys.argv[5]), m)
same = next((i for i in range(m) if a[i] != b[i]), m)
print(f"{sys.argv[4]}: {same}/{m} greedy tokens equal (need {need})")
if same < need: print(f"FAIL llama.cpp {a} banyan {b}"); sys.exit(1)
PY
    i=$((i + 1))
  done < "$TMP/llama.jsonl"
}
DEMO="$ROOT/models/demo"
check "$DEMO" f16 8 demo
check "$DEMO" q8_0 8 demo 4
check "$DEMO" f32 "$F32_TOKENS" demo 8
"$BANYAN" plan --model "$DEMO" --nodes 2 --scheme contiguous --out "$TMP/plan.json" >/dev/null
"$BANYAN" pack --model "$DEMO" --plan "$TMP/plan.json" --out "$TMP/bundles" >/dev/null
for b in "$TMP"/bundles/*/; do check "$b" f16 8 "node $(basename "$b")"; done
SHARED="$ROOT/../shared/models/tiny-qwen3moe"
if [ -d "$SHARED" ]; then check "$SHARED" f16 8 tiny-qwen3moe; else echo "tiny-qwen3moe absent: skipped"; fi
echo PASS
