#!/usr/bin/env bash
# Router e2e on loopback with real binaries: models/demo packed into 3 nodes by a calibrated budget plan (3 clusters), `banyan route`
# in front. (1) Held-out prompts of domains that clearly belong to one calibration cluster are placed on that
# cluster's node; (2) 64 concurrent streaming sessions complete, and their second turns stay on their nodes.
source "$(dirname "$0")/route/route_lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)

prepare_cluster
for i in 0 1 2; do start_node "$i"; done
start_router --placement auto

python3 "$HERE/route/pick_prompts.py" "$CLUSTER_DIR/plan.json" "$DEMO/heldout.jsonl.xz" --per-domain 3 >"$WORK/prompts.json"
n_prompts=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/prompts.json")
[ "$n_prompts" -ge 3 ] || fail "the plan has too few clearly clustered domains ($n_prompts prompts)"

log "placing $n_prompts held-out prompts"
placed=$(python3 "$HERE/route/drive.py" place "$ROUTER_URL" "$WORK/prompts.json")
echo "$placed"
python3 - "$placed" <<'PY' || fail "placement does not follow the plan's clusters"
import json, sys
d = json.loads(sys.argv[1])
share = d["correct"] / d["total"]
print(f"placement agrees with the plan's clusters on {d['correct']}/{d['total']} prompts ({share:.0%})")
sys.exit(0 if share >= 0.75 else 1)
PY

log "64 concurrent sessions, two turns each"
conc=$(python3 "$HERE/route/drive.py" concurrent "$ROUTER_URL" 64 "$WORK/prompts.json")
echo "$conc"
python3 - "$conc" <<'PY' || fail "concurrent sessions did not all complete on their pinned nodes"
import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if d["completed"] == 64 and d["failed"] == 0 and d["repinned"] == 0 else 1)
PY
[ "$(router_metric banyan_route_sessions)" -ge 64 ] || fail "router lost sessions"
echo "PASS route_cluster"
