#!/usr/bin/env bash
# GGUF export proof with real llama.cpp (node-llama-cpp 3.22.1's prebuilt CPU binaries; never built or downloaded).
# Each GGUF is loaded by llama.cpp, which must tokenize the prompts to banyan's ids and continue them greedily with
# the ids `banyan generate --prompt-ids` gives on the same checkpoint (gguf/agreement.py: a difference where
# banyan's two candidates are within 0.05 logits is a near-tie, reported and stepped over; any other ends the count):
#  - models/demo (qwen3moe): f16, f32 and bf16 agree on the first 8 tokens (f32 and bf16 run GGUF_F32_TOKENS,
#    default 32, and report how long they agree); q8_0 changes the weights themselves, so it must agree on the
#    first 4;
#  - every node of a 3-node budget plan of models/demo written by `pack --format both --gguf-type bf16` (lossless
#    for the bf16 demo; f16 rounding flips a near-tie at token 5 on one node): 8 of 16 tokens against the node's
#    bundle, and each node-i.gguf byte-identical to `export gguf --model node-i`; `pack --format gguf` leaves only
#    the GGUFs, with the same bytes;
#  - the Mixtral fixture (llama architecture, q/k rotary permutation): f32 and f16, 8 tokens;
#  - a SentencePiece vocabulary (tokenizer.ggml.model "llama"; the sentencepiece-bpe fixture tokenizer on a
#    Mixtral-shaped synthetic model): llama.cpp's ids for all golden tokenizer strings equal banyan's and the
#    transformers goldens; greedy f32 8 tokens;
#  - ../shared tiny-qwen3moe when present: f16 8 tokens.
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
fail() { echo "FAIL: $*"; exit 1; }
PROMPTS='["The quick brown fox", "Once upon a time there was", "In 1997, the city of", "def fib(n):\n    return"]'
tokenize_banyan() {  # model_dir text -> ids "a,b,c"
  printf '%s\n' "$(python3 -c 'import json,sys; print(json.dumps({"text": sys.argv[1]}))' "$2")" |
    "$BANYAN" tokenize --model "$1" --jsonl - | python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.stdin.readline())["ids"])))'
}
compare() {  # gguf model_dir ntokens label [tokens that must agree, default ntokens]
  local gguf=$1 dir=$2 n=$3 label=$4 need=${5:-$3}
  node "$NODE_DIR/greedy.mjs" "$gguf" "$n" "$PROMPTS" > "$TMP/llama.jsonl"
  local i=0
  while IFS= read -r line; do
    local text; text=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[int(sys.argv[2])])' "$PROMPTS" "$i")
    local lp lg bp
    lp=$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.argv[1])["prompt_ids"])))' "$line")
    lg=$(python3 -c 'import json,sys; print(",".join(map(str, json.loads(sys.argv[1])["ids"])))' "$line")
    bp=$(tokenize_banyan "$dir" "$text")
    [ "$lp" = "$bp" ] || fail "$label prompt $i tokens: llama.cpp $lp banyan $bp"
    python3 "$NODE_DIR/agreement.py" "$BANYAN" "$dir" "$bp" "$lg" "$n" "$need" "$label prompt $i" || exit 1
    i=$((i + 1))
  done < "$TMP/llama.jsonl"
  [ "$i" = 4 ] || fail "$label: llama.cpp answered $i of 4 prompts"
}
check() {  # model_dir type ntokens label [need]: export, then compare
  "$BANYAN" export gguf --model "$1" --out "$TMP/m.gguf" --type "$2" >/dev/null
  compare "$TMP/m.gguf" "$1" "$3" "$4/$2" "${5:-$3}"
}

DEMO="$ROOT/models/demo"
check "$DEMO" f16 8 demo
check "$DEMO" q8_0 8 demo 4
check "$DEMO" f32 "$F32_TOKENS" demo 8
check "$DEMO" bf16 "$F32_TOKENS" demo 8

# A 3-node plan (budget: 12 of 32 experts per node, from a small calibration), packed straight to GGUF.
"$BANYAN" calibrate --model "$DEMO" --corpus "$DEMO/calib.jsonl.xz" --per-domain 4 --tokens 96 \
  --out "$TMP/profiles.safetensors" >/dev/null 2>&1
"$BANYAN" plan --model "$DEMO" --profiles "$TMP/profiles.safetensors" --nodes 3 --scheme budget \
  --experts-per-node 12 --out "$TMP/plan.json" >/dev/null 2>&1
"$BANYAN" pack --model "$DEMO" --plan "$TMP/plan.json" --out "$TMP/both" --format both --gguf-type bf16 \
  >/dev/null 2>&1
nodes=0
for b in "$TMP"/both/node-*/; do
  node=$(basename "$b")
  "$BANYAN" export gguf --model "$b" --out "$TMP/exported.gguf" --type bf16 >/dev/null
  cmp "$TMP/both/$node.gguf" "$TMP/exported.gguf" || fail "pack --format both $node.gguf differs from export gguf"
  compare "$TMP/both/$node.gguf" "$b" 16 "plan $node/bf16" 8
  nodes=$((nodes + 1))
done
[ "$nodes" = 3 ] || fail "pack --format both wrote $nodes bundles, expected 3"
"$BANYAN" pack --model "$DEMO" --plan "$TMP/plan.json" --out "$TMP/only" --format gguf --gguf-type bf16 --node 1 \
  >/dev/null 2>&1
[ "$(ls "$TMP/only")" = "node-1.gguf" ] || fail "pack --format gguf left: $(ls "$TMP/only")"
cmp "$TMP/only/node-1.gguf" "$TMP/both/node-1.gguf" || fail "pack --format gguf and --format both differ"
echo "pack --format gguf: 3 node GGUFs byte-identical to export gguf of their bundles"

MIXTRAL="$ROOT/tests/fixtures/models/mixtral"
check "$MIXTRAL" f32 16 mixtral 8
check "$MIXTRAL" f16 8 mixtral

# SentencePiece vocabulary: the sentencepiece-bpe fixture tokenizer on a Mixtral-shaped random model.
SPT="$ROOT/tests/fixtures/tokenizer/sentencepiece-bpe"
python3 - "$MIXTRAL/config.json" "$SPT/tokenizer.json" "$TMP/spm-config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["vocab_size"] = len(json.load(open(sys.argv[2]))["model"]["vocab"])
cfg["bos_token_id"] = 1
json.dump(cfg, open(sys.argv[3], "w"))
PY
"$BANYAN" synth --config "$TMP/spm-config.json" --out "$TMP/spm" --dtype f32 --seed 7 >/dev/null 2>&1
cp "$SPT/tokenizer.json" "$SPT/tokenizer_config.json" "$TMP/spm/"
"$BANYAN" export gguf --model "$TMP/spm" --out "$TMP/spm.gguf" --type f32 >/dev/null
GOLDEN="$ROOT/tests/fixtures/tokenizer/sentencepiece-bpe.jsonl"
node "$NODE_DIR/tokenize.mjs" "$TMP/spm.gguf" "$GOLDEN" > "$TMP/spm-llama.jsonl"
"$BANYAN" tokenize --model "$TMP/spm" --jsonl "$GOLDEN" > "$TMP/spm-banyan.jsonl"
python3 - "$GOLDEN" "$TMP/spm-llama.jsonl" "$TMP/spm-banyan.jsonl" <<'PY' || exit 1
import json, sys
gold, llama, banyan = ([json.loads(l) for l in open(p) if l.strip()] for p in sys.argv[1:4])
assert len(gold) == len(llama) == len(banyan), (len(gold), len(llama), len(banyan))
bad = [(g["text"], g["ids"], l["ids"], b["ids"]) for g, l, b in zip(gold, llama, banyan)
       if not (g["ids"] == l["ids"] == b["ids"])]
print(f"sentencepiece-bpe: llama.cpp ids equal banyan's and the goldens for {len(gold) - len(bad)}/{len(gold)} strings")
for text, g, l, b in bad[:5]: print(f"  {text!r}: golden {g} llama.cpp {l} banyan {b}")
sys.exit(1 if bad else 0)
PY
compare "$TMP/spm.gguf" "$TMP/spm" 8 "sentencepiece/f32"

SHARED="$ROOT/../shared/models/tiny-qwen3moe"
if [ -d "$SHARED" ]; then check "$SHARED" f16 8 tiny-qwen3moe; else echo "tiny-qwen3moe absent: skipped"; fi
echo PASS
