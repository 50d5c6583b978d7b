#!/usr/bin/env bash
# Nodes never talk to each other, and a pinned turn costs the request and the streamed tokens only.
# Three nodes listen on distinct loopback addresses (127.0.0.2/3/4), the router on 127.0.0.1. While sessions run,
# `ss -tanp` snapshots (every 0.02 s) must show each node process owning only its listener and connections accepted
# from the router/test (peer 127.0.0.1), never a socket of its own or one between two node addresses. The router's
# per-node body counters over one pinned streaming turn must equal that turn's request and response bodies exactly.
source "$(dirname "$0")/route/route_lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
command -v ss >/dev/null || { echo "SKIP: ss (iproute2) not installed"; exit 77; }

prepare_cluster
start_node 0 127.0.0.2
start_node 1 127.0.0.3
start_node 2 127.0.0.4
start_router --placement auto

( while :; do echo "----"; ss -tanpH 2>/dev/null; sleep 0.02; done ) >"$WORK/ss.txt" &
SAMPLER=$!
PIDS+=("$SAMPLER")

python3 "$HERE/route/pick_prompts.py" "$CLUSTER_DIR/plan.json" "$DEMO/heldout.jsonl.xz" --per-domain 1 >"$WORK/prompts.json"
log "24 concurrent two-turn sessions"
conc=$(python3 "$HERE/route/drive.py" concurrent "$ROUTER_URL" 24 "$WORK/prompts.json")
echo "$conc"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["completed"]==24 else 1)' "$conc" \
  || fail "sessions failed"

# One pinned turn, byte for byte. No "model" field, so the router forwards the body unchanged.
turn() {  # turn N: body of turn N of session bytes-1
  python3 -c 'import json,sys
n = int(sys.argv[1])
m = [{"role": "user", "content": "Python: def parse_args(argv):"}]
if n == 2: m += [{"role": "assistant", "content": " return argv"}, {"role": "user", "content": "and then?"}]
print(json.dumps({"messages": m, "stream": True, "max_tokens": 16, "temperature": 0, "user": "bytes-1"}), end="")' "$1"
}
turn 1 >"$WORK/t1.json"
curl -sN --max-time 60 -D "$WORK/th1" -H 'Content-Type: application/json' --data-binary @"$WORK/t1.json" \
  "$ROUTER_URL/v1/chat/completions" >"$WORK/r1"
node=$(header_value "$WORK/th1" x-banyan-node)
sent0=$(router_metric "banyan_route_node_bytes_sent_total{node=\"$node\"}")
recv0=$(router_metric "banyan_route_node_bytes_received_total{node=\"$node\"}")
turn 2 >"$WORK/t2.json"
curl -sN --max-time 60 -D "$WORK/th2" -H 'Content-Type: application/json' --data-binary @"$WORK/t2.json" \
  "$ROUTER_URL/v1/chat/completions" >"$WORK/r2"
[ "$(header_value "$WORK/th2" x-banyan-placement)" = pinned ] \
  || fail "second turn was not pinned"
sent1=$(router_metric "banyan_route_node_bytes_sent_total{node=\"$node\"}")
recv1=$(router_metric "banyan_route_node_bytes_received_total{node=\"$node\"}")
req_bytes=$(stat -c %s "$WORK/t2.json")
resp_bytes=$(stat -c %s "$WORK/r2")
log "pinned turn on $node: router->node $((sent1 - sent0)) B (request body $req_bytes B), node->router $((recv1 - recv0)) B (streamed response $resp_bytes B, $(grep -c '^data: {' "$WORK/r2") chunks)"
[ $((sent1 - sent0)) -eq "$req_bytes" ] || fail "router sent more than the request"
[ $((recv1 - recv0)) -eq "$resp_bytes" ] || fail "node sent more than the streamed response"
grep -q '^data: \[DONE\]' "$WORK/r2" || fail "turn 2 incomplete"

kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
nodes_json=$(python3 -c 'import json,sys; a=sys.argv[1:]; print(json.dumps([{"name":a[i],"pid":int(a[i+1]),"addr":a[i+2]} for i in range(0,len(a),3)]))' \
  node-0 "${NODE_PID[0]}" "127.0.0.2:${NODE_PORT[0]}" node-1 "${NODE_PID[1]}" "127.0.0.3:${NODE_PORT[1]}" \
  node-2 "${NODE_PID[2]}" "127.0.0.4:${NODE_PORT[2]}")
log "$(grep -c -- '^----' "$WORK/ss.txt") ss snapshots"
python3 "$HERE/route/check_sockets.py" "$WORK/ss.txt" "$nodes_json" || fail "socket check failed: a node opened a socket of its own, or the snapshots saw no connection of some node"
echo "PASS route_bytes"
