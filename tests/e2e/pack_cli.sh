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

# Logits equivalence through the engine helper's `eval nll`: every bundle == the full model restricted to the
# node's experts (NLL and top logits within 1e-5), for every node of every plan above.
if "$BANYAN" eval nll --help 2>&1 | grep -q -- "--experts"; then
  python3 - "$TMP/ids.jsonl" <<'PY'
import json, random, sys
rng = random.Random(7)
with open(sys.argv[1], "w") as f:
    for n in (16, 40, 64):
        f.write(json.dumps({"ids": [rng.randrange(4, 4096) for _ in range(n)]}) + "\n")
PY
  for name in contiguous-2 clustered-2 budget-4; do
    nodes=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['nodes']))" "$TMP/$name.json")
    for ((node = 0; node < nodes; node++)); do
      python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))['nodes'][$node]['experts'], open(sys.argv[2],'w'))" \
        "$TMP/$name.json" "$TMP/experts.json"
      "$BANYAN" eval nll --model "$TMP/$name/node-$node" --jsonl "$TMP/ids.jsonl" >"$TMP/a.jsonl" 2>"$TMP/err.txt" \
        || { cat "$TMP/err.txt"; fail "eval nll on $name node-$node"; }
      "$BANYAN" eval nll --model "$MODEL" --experts "$TMP/experts.json" --jsonl "$TMP/ids.jsonl" >"$TMP/b.jsonl" \
        2>"$TMP/err.txt" || { cat "$TMP/err.txt"; fail "eval nll restricted for $name node-$node"; }
      python3 - "$TMP/a.jsonl" "$TMP/b.jsonl" <<'PY' || fail "$name node-$node: bundle != restricted full model"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 3, (len(a), len(b))
for x, y in zip(a, b):
    assert abs(x["nll"] - y["nll"]) <= 1e-5, (x["nll"], y["nll"])
    assert x["top_ids"] == y["top_ids"], (x["top_ids"], y["top_ids"])
    assert max(abs(p - q) for p, q in zip(x["top_logits"], y["top_logits"])) <= 1e-5
PY
    done
  done
  echo "pack_cli: every bundle's NLL equals the restricted full model's"
else
  echo "note: banyan eval nll --experts not available; logits equivalence is covered by test_pack (BundleLogits.*)"
fi
echo "pack_cli: ok"
