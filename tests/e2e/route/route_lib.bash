# Shared helpers for tests/e2e/route_*.sh (sourced; not a test itself): packs models/demo into a 3-node cluster
# (calibrate → budget plan: 3 clusters, 16 of 32 experts per node per layer, overlapping → pack, cached per banyan binary), starts nodes and the router on loopback, and kills
# everything it started on exit. Every network call has a timeout.
set -euo pipefail

BANYAN=${1:?usage: $0 /path/to/banyan}
BANYAN=$(cd "$(dirname "$BANYAN")" && pwd)/$(basename "$BANYAN")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DEMO=$ROOT/models/demo
WORK=$(mktemp -d /tmp/banyan-route-e2e.XXXXXX)
# Kept after the run (screenshots, logs worth reading): beside the binary, in its build directory.
TEST_OUT=${BANYAN_TEST_OUTPUT:-$(dirname "$BANYAN")/test-output}
PIDS=()

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "---- $f (tail)" >&2; tail -n 25 "$f" >&2; }; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "[$(date +%T)] $*"; }

[ -f "$DEMO/model.safetensors" ] || { echo "SKIP: models/demo is absent"; exit 77; }

# prepare_model_cluster NAME MODEL_DIR CORPUS "CALIBRATE ARGS" "PLAN ARGS": sets CLUSTER_DIR with profiles, plan.json
# and bundles/node-*, calibrated on CORPUS and planned with PLAN ARGS; reused while the binary and model are unchanged.
prepare_model_cluster() {
  local name=$1 model=$2 corpus=$3 cal_args=$4 plan_args=$5 stamp
  stamp=$name-$(stat -c '%Y-%s' "$BANYAN")-$(stat -c '%Y' "$model/model.safetensors")
  CLUSTER_DIR=${BANYAN_ROUTE_E2E_CACHE:-$(dirname "$BANYAN")/route-e2e-cache}/$stamp
  if [ -f "$CLUSTER_DIR/ready" ]; then return 0; fi
  mkdir -p "$CLUSTER_DIR"
  log "calibrating $name ($cal_args), planning ($plan_args), packing into $CLUSTER_DIR"
  # shellcheck disable=SC2086 # the argument strings are word lists
  [ -f "$CLUSTER_DIR/profiles.safetensors" ] || "$BANYAN" calibrate --model "$model" --corpus "$corpus" $cal_args \
    --out "$CLUSTER_DIR/profiles.safetensors" >"$WORK/calibrate.log" 2>&1 || { cat "$WORK/calibrate.log" >&2; fail "calibrate failed"; }
  # shellcheck disable=SC2086
  "$BANYAN" plan --model "$model" $plan_args --profiles "$CLUSTER_DIR/profiles.safetensors" \
    --out "$CLUSTER_DIR/plan.json" >"$WORK/plan.log" 2>&1 || { cat "$WORK/plan.log" >&2; fail "plan failed"; }
  rm -rf "$CLUSTER_DIR/bundles"
  "$BANYAN" pack --model "$model" --plan "$CLUSTER_DIR/plan.json" --out "$CLUSTER_DIR/bundles" \
    >"$WORK/pack.log" 2>&1 || { cat "$WORK/pack.log" >&2; fail "pack failed"; }
  touch "$CLUSTER_DIR/ready"
}

# prepare_cluster: models/demo in 3 nodes (budget plan: 3 clusters, 16 of 32 experts per node per layer).
prepare_cluster() {
  prepare_model_cluster demo "$DEMO" "$DEMO/calib.jsonl.xz" "" "--nodes 3 --scheme budget --experts-per-node 16"
}

# wait_port LOG PATTERN: prints the port from the first "listening on http://HOST:PORT" line of LOG.
wait_port() {
  local logf=$1 pid=$2 port=""
  for _ in $(seq 1 300); do
    port=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$logf" 2>/dev/null | head -1 | sed 's/.*://') || true
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

wait_healthy() {
  local url=$1 pid=$2
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/health")" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_node INDEX [HOST] [PORT]: `banyan serve` of bundle node-INDEX named node-INDEX; sets NODE_PID[i], NODE_URL[i].
# NODE_PARALLEL (default 16): sequences a node decodes together.
declare -A NODE_PID NODE_URL NODE_PORT NODE_HOST
start_node() {
  local i=$1 host=${2:-127.0.0.1} port=${3:-0}
  local logf=$WORK/node-$i.log
  "$BANYAN" serve --model "$CLUSTER_DIR/bundles/node-$i" --name "node-$i" --host "$host" --port "$port" \
    --threads 1 --parallel "${NODE_PARALLEL:-16}" >>"$logf" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  NODE_PID[$i]=$pid
  port=$(wait_port "$logf" "$pid") || fail "node-$i did not start"
  NODE_PORT[$i]=$port
  NODE_HOST[$i]=$host
  NODE_URL[$i]=http://$host:$port
  wait_healthy "${NODE_URL[$i]}" "$pid" || fail "node-$i not healthy"
}

# start_router [route args...]: `banyan route` on 127.0.0.1 over the started nodes; sets ROUTER_URL, ROUTER_PID.
start_router() {
  python3 - "$CLUSTER_DIR/plan.json" "$WORK/cluster.json" "${!NODE_URL[@]}" <<PY
import json, sys
plan, out, idx = sys.argv[1], sys.argv[2], sorted(sys.argv[3:], key=int)
urls = {$(for i in "${!NODE_URL[@]}"; do printf '"%s": "%s", ' "$i" "${NODE_URL[$i]}"; done)}
json.dump({"nodes": [{"name": "node-" + i, "url": urls[i]} for i in idx], "plan": plan}, open(out, "w"), indent=1)
PY
  start_router_with "$WORK/cluster.json" "$@"
}

# start_router_with CLUSTER_JSON [route args...]: `banyan route --cluster CLUSTER_JSON` on 127.0.0.1; sets ROUTER_URL,
# ROUTER_PID.
start_router_with() {
  local logf=$WORK/router.log cluster=$1
  shift
  "$BANYAN" route --cluster "$cluster" --port 0 "$@" >"$logf" 2>&1 &
  ROUTER_PID=$!
  PIDS+=("$ROUTER_PID")
  local port
  port=$(wait_port "$logf" "$ROUTER_PID") || fail "router did not start"
  ROUTER_URL=http://127.0.0.1:$port
  wait_healthy "$ROUTER_URL" "$ROUTER_PID" || fail "router not healthy"
}

# router_node_healthy NAME: 0 when /status says the node is healthy.
router_node_healthy() {
  curl -s --max-time 5 "$ROUTER_URL/status" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(n["name"]==sys.argv[1] and n["healthy"] for n in d["nodes"]) else 1)' "$1"
}

# metric NAME_WITH_LABELS: value from the router's /metrics (0 when absent).
router_metric() {
  curl -s --max-time 5 "$ROUTER_URL/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print (v == "" ? 0 : v) }'
}
