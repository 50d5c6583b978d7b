#!/usr/bin/env bash
# Router e2e on the shared trained MoE (../shared/models/tiny-qwen3moe, 128 experts top-8) with real binaries on
# loopback; skipped (77) when ../shared is absent. Calibrated on a small slice of corpus-train (12 documents per
# domain, 128 tokens each), a budget plan of 3 nodes x 64 experts per layer (3 calibration clusters), packed, 3
# `banyan serve` nodes and `banyan route --placement auto` in front. Checks:
#  1. held-out prompts of domains that clearly belong to one calibration cluster are placed on that cluster's node
#     (the expected node comes from the plan's clusters, see route/pick_prompts.py): at least 75% of 4 prompts per
#     domain, and every node gets some of its cluster's prompts;
#  2. 64 concurrent streaming sessions (two turns each) complete, second turns on their pinned nodes;
#  3. kill -9 the node serving a stream: the client gets an SSE error event within 2 s and a closed stream; the
#     session's next turn is served by another node with the full history (it counts the same prompt tokens as the
#     same body sent to it directly); the node restarted on its port is healthy again and gets its cluster's prompt.
source "$(dirname "$0")/route/route_lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${BANYAN_SHARED:-$ROOT/../shared}
MODEL=$SHARED/models/tiny-qwen3moe
[ -f "$MODEL/model.safetensors" ] && [ -f "$SHARED/data/corpus-train.jsonl.xz" ] ||
  { echo "SKIP: ../shared/models/tiny-qwen3moe or ../shared/data is absent (set BANYAN_SHARED)"; exit 77; }
T0=$(date +%s)

prepare_model_cluster tiny-qwen3moe "$MODEL" "$SHARED/data/corpus-train.jsonl.xz" \
  "--per-domain 12 --tokens 128 --threads 2" "--nodes 3 --scheme budget --experts-per-node 64"
for i in 0 1 2; do start_node "$i"; done
# A generous score deadline: on a loaded machine a late score would turn a placement into a load-based one.
start_router --placement auto --score-timeout-ms 20000
log "cluster up after $(($(date +%s) - T0)) s"

# 1. Placement follows the plan's calibration clusters.
# A domain "clearly belongs" to a cluster with more than 3/4 of its calibration documents there (--share 0.8 of 12):
# calibrate's spread selection (session 5) mixes each domain's sub-genres, and es_prose then splits 9 / 3 between
# the de/es/fr and it/ja clusters, its held-out prompts going 3 of 4 to the latter.
python3 "$HERE/route/pick_prompts.py" "$CLUSTER_DIR/plan.json" "$SHARED/data/heldout-dev.jsonl.xz" --per-domain 4 \
  --share 0.8 >"$WORK/prompts.json"
python3 - "$WORK/prompts.json" <<'PY' || fail "the plan has too few clearly clustered domains"
import json, sys
p = json.load(open(sys.argv[1]))
nodes = {x["node"] for x in p}
print(f"{len(p)} held-out prompts from {len({x['domain'] for x in p})} domains, expected on {sorted(nodes)}")
sys.exit(0 if len(p) >= 6 and len(nodes) >= 2 else 1)
PY
placed=$(python3 "$HERE/route/drive.py" place "$ROUTER_URL" "$WORK/prompts.json")
echo "$placed"
python3 - "$placed" <<'PY' || fail "placement does not follow the plan's clusters"
import json, sys
d = json.loads(sys.argv[1])
share = d["correct"] / d["total"]
print(f"placement agrees with the plan's clusters on {d['correct']}/{d['total']} prompts ({share:.0%})")
# Measured: 24/31 with calibrate's first-N selection (C code tended to go to the node of the Python+English+German
# cluster); with the spread selection 22/31 at --share 0.75 (es_prose, 9 / 3, counted) and 21-22/27 at --share 0.8;
# chance is 1/3. Every node must get some of its own cluster's prompts.
for dom, v in sorted(d["by_domain"].items()):
    print(f"  {dom:12s} expected {v['expected']}: {v['got']}")
hit = {v["expected"] for v in d["by_domain"].values() if v["got"].get(v["expected"], 0) > 0}
sys.exit(0 if share >= 0.75 and len(hit) == 3 else 1)
PY

# 2. 64 concurrent sessions across the 3 nodes.
log "64 concurrent streaming sessions, two turns each"
conc=$(python3 "$HERE/route/drive.py" concurrent "$ROUTER_URL" 64 "$WORK/prompts.json")
echo "$conc"
python3 - "$conc" <<'PY' || fail "concurrent sessions did not all complete on their pinned nodes"
import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if d["completed"] == 64 and d["failed"] == 0 and d["repinned"] == 0 and len(d["nodes"]) == 3 else 1)
PY

# 3. Kill the node serving a stream; fail over with the full history; restart it; it is used again.
python3 - "$WORK/prompts.json" >"$WORK/body1.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))[0]
print(json.dumps({"messages": [{"role": "user", "content": p["prompt"]}], "user": "kill-1", "stream": True,
                  "max_tokens": 2000, "ignore_eos": True, "temperature": 0}))
PY
kill_serving_node "$WORK/body1.json" s1
victim=$VICTIM idx=$VICTIM_INDEX

# The next turn carries the history (first prompt, the partial answer, a second question) to a surviving node.
next_turn_body "$WORK/body1.json" s1 "And then?" 4 >"$WORK/body2.json"
failover_turn "$WORK/body2.json" "$victim"
new_node=$FAILOVER_NODE
expect_full_history "$WORK/body2.json" "${NODE_URL[${new_node#node-}]}" 100 "$new_node"
[ "$(router_metric 'banyan_route_failovers_total{from="'"$victim"'",to="'"$new_node"'"}')" -ge 1 ] ||
  fail "the failover was not counted"

log "restarting $victim on port ${NODE_PORT[$idx]}"
start_node "$idx" 127.0.0.1 "${NODE_PORT[$idx]}"
wait_rejoined "$victim"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b.update(user="kill-2", stream=False, max_tokens=2); print(json.dumps(b))' \
  "$WORK/body1.json" >"$WORK/body3.json"
curl -s --max-time 60 -D "$WORK/h3" -o /dev/null -H 'Content-Type: application/json' -d @"$WORK/body3.json" \
  "$ROUTER_URL/v1/chat/completions"
again=$(header_value "$WORK/h3" x-banyan-node)
log "a new session with the same prompt went to $again"
[ "$again" = "$victim" ] || fail "the restarted node was not used again (got $again)"
log "total $(($(date +%s) - T0)) s"
echo "PASS route_tiny_qwen3moe"
