#!/usr/bin/env bash
# calibrate -> plan -> pack -> inspect with the real CLI on the repo's demo model (no ../shared needed), plus the
# refusals (plan for another model, bad scheme). When `banyan eval nll` exists, every bundle's NLL must equal the
# full model's restricted to the node's experts (<= 1e-5). Usage: pack_cli.sh /path/to/banyan
set -euo pipefail
BANYAN=${1:?usage: pack_cli.sh /path/to/banyan}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=$ROOT/models/demo
[ -f "$MODEL/model.safetensors" ] || { echo "skip: $MODEL missing"; exit 77; }
TMP=$(mktemp -d /tmp/banyan-pack-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# calibrate: 5 documents per domain of 128 tokens from the demo calibration sample.
"$BANYAN" calibrate --model "$MODEL" --corpus "$MODEL/calib.jsonl.xz" --per-domain 5 --tokens 128 \
  --out "$TMP/profiles.safetensors" 2>"$TMP/calibrate.log" || { cat "$TMP/calibrate.log"; fail calibrate; }
grep -q "calibrate: 100%" "$TMP/calibrate.log" || fail "no final progress line: $(cat "$TMP/calibrate.log")"

for spec in "contiguous 2 0 0" "clustered 2 2 0" "budget 4 0 16"; do
  set -- $spec
  name=$1-$2
  args=(--scheme "$1" --nodes "$2" --replicate "$3")
  [ "$4" != 0 ] && args+=(--experts-per-node "$4")
  "$BANYAN" plan --model "$MODEL" --profiles "$TMP/profiles.safetensors" "${args[@]}" --out "$TMP/$name.json" \
    2>/dev/null >/dev/null || fail "plan $spec"
  "$BANYAN" pack --model "$MODEL" --plan "$TMP/$name.json" --out "$TMP/$name" 2>"$TMP/pack.log" >/dev/null \
    || { cat "$TMP/pack.log"; fail "pack $spec"; }
  python3 - "$TMP/$name.json" "$TMP/$name" <<'PY' || fail "bundles of $spec"
import json, os, sys
plan = json.load(open(sys.argv[1]))
assert plan["format"] == "banyan-plan/1"
for node in plan["nodes"]:
    d = os.path.join(sys.argv[2], node["name"])
    cfg = json.load(open(os.path.join(d, "config.json")))
    man = json.load(open(os.path.join(d, "banyan-node.json")))
    assert cfg["num_experts"] == plan["experts_per_node"], (cfg["num_experts"], plan["experts_per_node"])
    assert cfg["num_experts_per_tok"] == min(plan["top_k"], plan["experts_per_node"])
    assert man["format"] == "banyan-node/1" and man["plan"] == plan["id"]
    assert man["local_to_global"] == node["experts"] and man["source"]["sha256"] == plan["source"]["sha256"]
    for f in ("model.safetensors", "router-full.safetensors", "tokenizer.json", "generation_config.json"):
        assert os.path.exists(os.path.join(d, f)), f
PY
  for node in "$TMP/$name"/node-*; do
    "$BANYAN" inspect --json "$node" >"$TMP/inspect.json" 2>"$TMP/inspect.err" || { cat "$TMP/inspect.err"; fail "inspect $node"; }
    python3 - "$TMP/inspect.json" "$node/banyan-node.json" <<'PY' || fail "inspect of $node disagrees with its manifest"
import json, sys
info, man = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert info["num_experts"] == man["local_experts"], (info["num_experts"], man["local_experts"])
assert info["bytes_total"] == man["tensor_bytes"], (info["bytes_total"], man["tensor_bytes"])
assert info["source_hash"] != man["source"]["sha256"]  # a bundle is a checkpoint of its own
PY
  done
done

# Refusals: a plan for another checkpoint, an unknown scheme.
python3 - "$TMP/contiguous-2.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); p["source"]["sha256"] = "0" * 64
json.dump(p, open(sys.argv[1] + ".other", "w"))
PY
if "$BANYAN" pack --model "$MODEL" --plan "$TMP/contiguous-2.json.other" --out "$TMP/x" 2>"$TMP/err.txt"; then
  fail "pack accepted a plan for another model"
fi
grep -q "banyan: error: .*another model" "$TMP/err.txt" || fail "unclear refusal: $(cat "$TMP/err.txt")"
if "$BANYAN" plan --model "$MODEL" --nodes 2 --scheme diagonal --out "$TMP/y.json" 2>"$TMP/err.txt"; then
  fail "plan accepted an unknown scheme"
fi
grep -q "banyan: error: unknown --scheme" "$TMP/err.txt" || fail "unclear error: $(cat "$TMP/err.txt")"

# Logits equivalence through the engine helper's `eval nll`, when it exists.
if "$BANYAN" eval nll --help 2>&1 | grep -q -- "--experts"; then
  for node in 0 1; do
    experts=$(python3 -c "import json,sys; p=json.load(open(sys.argv[1])); print(';'.join(','.join(map(str,l)) for l in p['nodes'][$node]['experts']))" "$TMP/clustered-2.json")
    a=$("$BANYAN" eval nll --model "$TMP/clustered-2/node-$node" --corpus "$MODEL/heldout.jsonl.xz" 2>/dev/null | tail -1)
    b=$("$BANYAN" eval nll --model "$MODEL" --experts "$experts" --corpus "$MODEL/heldout.jsonl.xz" 2>/dev/null | tail -1)
    python3 -c "import sys; a,b=float(sys.argv[1].split()[-1]),float(sys.argv[2].split()[-1]); assert abs(a-b)<=1e-5,(a,b)" "$a" "$b" \
      || fail "node $node: bundle nll '$a' != restricted nll '$b'"
  done
else
  echo "note: banyan eval nll not available; logits equivalence is covered by test_pack (BundleLogits.*)"
fi
echo "pack_cli: ok"
