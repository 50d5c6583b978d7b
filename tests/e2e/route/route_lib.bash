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

# header_value FILE NAME: the value of response header NAME (lower case) in a `curl -D FILE` dump.
header_value() {
  tr -d '\r' <"$1" | awk -v h="$2:" 'tolower($1) == h { print $2 }'
}

# The failover sequence the route_*.sh tests share: stream a long answer, stop the server under it, check the client
# sees an error event promptly, send the next turn with the whole history, check another backend got all of it.

# start_stream BODY NAME [EVENTS]: streams BODY (a JSON file) through the router in the background (headers in
# $WORK/NAME.h, events in $WORK/NAME.sse, curl's pid in CURL_PID); returns once EVENTS (default 5) data events came.
start_stream() {
  local body=$1 name=$2 events=${3:-5}
  curl -sN --max-time 120 -D "$WORK/$name.h" -H 'Content-Type: application/json' -d @"$body" \
    "$ROUTER_URL/v1/chat/completions" >"$WORK/$name.sse" &
  CURL_PID=$!
  for _ in $(seq 1 300); do
    [ "$(grep -c '^data: {' "$WORK/$name.sse" 2>/dev/null || true)" -ge "$events" ] && return 0
    kill -0 "$CURL_PID" 2>/dev/null || fail "stream $name ended early: $(head -c 300 "$WORK/$name.sse")"
    sleep 0.1
  done
}

# interrupt_stream NAME SIGNAL PID WHAT: sends SIGNAL to the server PID under stream NAME; the client's stream must
# end by itself with an SSE error event within 2 s. A stopped (SIGSTOP) server is continued once the stream ended.
interrupt_stream() {
  local name=$1 sig=$2 pid=$3 what=$4 t_sig t_end elapsed
  t_sig=$(date +%s.%N)
  kill -"$sig" "$pid"
  for _ in $(seq 1 100); do kill -0 "$CURL_PID" 2>/dev/null || break; sleep 0.05; done
  t_end=$(date +%s.%N)
  if [ "$sig" = STOP ]; then kill -CONT "$pid"; fi
  if kill -0 "$CURL_PID" 2>/dev/null; then kill "$CURL_PID"; fail "the client's stream hung after $what"; fi
  wait "$CURL_PID" || true
  elapsed=$(python3 -c "print(round($t_end - $t_sig, 3))")
  log "stream closed ${elapsed} s after $what: $(grep '^data: {"error"' "$WORK/$name.sse" | head -c 200)"
  grep -q '^data: {"error"' "$WORK/$name.sse" || fail "no SSE error event after $what"
  python3 -c "import sys; sys.exit(0 if $elapsed < 2.0 else 1)" || fail "the error event took ${elapsed} s (> 2 s)"
}

# expect_done_after_error NAME: stream NAME ended with "data: [DONE]" right after its error event.
expect_done_after_error() {
  [ "$(tail -n 2 "$WORK/$1.sse" | head -n 1)" = "data: [DONE]" ] || fail "stream not closed with [DONE] after the error"
}

# next_turn_body BODY NAME QUESTION MAX_TOKENS: prints BODY's request (not streamed) extended by the partial answer of
# stream NAME and a new user QUESTION: the history a client sends after its stream broke.
next_turn_body() {
  python3 - "$1" "$WORK/$2.sse" "$3" "$4" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
text = ""
for line in open(sys.argv[2]):
    if line.startswith("data: {"):
        for c in json.loads(line[6:]).get("choices", []):
            text += c.get("delta", {}).get("content") or ""
body["messages"] += [{"role": "assistant", "content": text}, {"role": "user", "content": sys.argv[3]}]
body.update(stream=False, max_tokens=int(sys.argv[4]))
print(json.dumps(body))
PY
}

# failover_turn BODY VICTIM: sends BODY through the router; it must be placed by failover on a backend other than
# VICTIM. Sets FAILOVER_NODE and FAILOVER_RESP.
failover_turn() {
  local how
  FAILOVER_RESP=$(curl -s --max-time 60 -D "$WORK/failover.h" -H 'Content-Type: application/json' -d @"$1" \
    "$ROUTER_URL/v1/chat/completions")
  FAILOVER_NODE=$(header_value "$WORK/failover.h" x-banyan-node)
  how=$(header_value "$WORK/failover.h" x-banyan-placement)
  log "next turn served by $FAILOVER_NODE ($how)"
  [ -n "$FAILOVER_NODE" ] && [ "$FAILOVER_NODE" != "$2" ] ||
    fail "the next turn was not served elsewhere: $FAILOVER_RESP"
  [ "$how" = failover ] || fail "next turn placement is '$how', expected failover"
}

# expect_full_history BODY URL MIN_TOKENS [MODEL]: the failed-over turn counted as many prompt tokens as BODY (without
# "user", with "model": MODEL when given) sent directly to the backend at URL, and more than MIN_TOKENS: the backend
# got the whole history. Sets HISTORY_TOKENS.
expect_full_history() {
  local direct
  HISTORY_TOKENS=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["usage"]["prompt_tokens"])' \
    "$FAILOVER_RESP")
  direct=$(python3 -c 'import json,sys
b = json.load(open(sys.argv[1])); b.pop("user", None)
if len(sys.argv) > 2: b["model"] = sys.argv[2]
print(json.dumps(b))' "$1" ${4:+"$4"} |
    curl -s --max-time 60 -H 'Content-Type: application/json' -d @- "$2/v1/chat/completions" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens"])')
  log "prompt tokens of the failed-over turn: via the router $HISTORY_TOKENS, the same body sent directly $direct"
  [ "$HISTORY_TOKENS" = "$direct" ] && [ "$HISTORY_TOKENS" -gt "$3" ] ||
    fail "the new backend did not get the full history"
}

# wait_rejoined NAME: the router sees backend NAME healthy again within 10 s.
wait_rejoined() {
  for _ in $(seq 1 100); do router_node_healthy "$1" && return 0; sleep 0.1; done
  fail "$1 did not rejoin"
}

# kill_serving_node BODY NAME: streams BODY as stream NAME, kill -9s the banyan node serving it (start_node's) and
# expects the error event and [DONE] within 2 s. Sets VICTIM (its name) and VICTIM_INDEX.
kill_serving_node() {
  start_stream "$1" "$2"
  VICTIM=$(header_value "$WORK/$2.h" x-banyan-node)
  [ -n "$VICTIM" ] || fail "no X-Banyan-Node header"
  VICTIM_INDEX=${VICTIM#node-}
  log "killing $VICTIM (pid ${NODE_PID[$VICTIM_INDEX]}) mid-stream"
  interrupt_stream "$2" 9 "${NODE_PID[$VICTIM_INDEX]}" "its node died"
  expect_done_after_error "$2"
}
