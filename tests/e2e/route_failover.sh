#!/usr/bin/env bash
# Router failover e2e with real binaries (models/demo packed into 3 nodes): kill -9 the node serving a stream →
# the client gets an SSE error event and a closed stream within 2 s; the session's next turn (full history) is
# served by another node, which gets the whole history; the killed node restarted on its port rejoins and gets
# new sessions again.
source "$(dirname "$0")/route/route_lib.bash"

prepare_cluster
for i in 0 1 2; do start_node "$i"; done
start_router --placement auto

PROMPT="Die Funktion liest die Konfigurationsdatei und gibt bei einem Fehler einen Wert ungleich null zurück."
first_turn() {  # first_turn USER STREAM MAX_TOKENS
  python3 -c 'import json,sys; print(json.dumps({"messages":[{"role":"user","content":sys.argv[1]}],"user":sys.argv[2],
    "stream":sys.argv[3]=="1","max_tokens":int(sys.argv[4]),"ignore_eos":True,"temperature":0}))' "$PROMPT" "$@"
}

log "streaming a long answer for session fo-1"
first_turn fo-1 1 1500 >"$WORK/body1.json"
kill_serving_node "$WORK/body1.json" s1
victim=$VICTIM idx=$VICTIM_INDEX

# Next turn: the full history (including the partial answer) goes to a surviving node.
next_turn_body "$WORK/body1.json" s1 "Weiter, bitte." 4 >"$WORK/body2.json"
failover_turn "$WORK/body2.json" "$victim"
# The new node saw the whole history: the same body sent to it directly counts the same prompt tokens.
expect_full_history "$WORK/body2.json" "${NODE_URL[${FAILOVER_NODE#node-}]}" 30 "$FAILOVER_NODE"
[ "$(router_metric banyan_route_failovers)" -ge 1 ] || fail "failover not counted"

# Restart the killed node on its port: it rejoins and wins the same kind of session again.
log "restarting $victim on port ${NODE_PORT[$idx]}"
start_node "$idx" 127.0.0.1 "${NODE_PORT[$idx]}"
wait_rejoined "$victim"
first_turn fo-2 0 4 >"$WORK/body3.json"
curl -s --max-time 60 -D "$WORK/h3" -o /dev/null -H 'Content-Type: application/json' -d @"$WORK/body3.json" \
  "$ROUTER_URL/v1/chat/completions"
again=$(header_value "$WORK/h3" x-banyan-node)
log "a new session with the first prompt went to $again"
[ "$again" = "$victim" ] || fail "the restarted node was not used again (got $again)"

# A node that hangs (SIGSTOP: socket open, no bytes) is caught by the health checks: error event within 2 s.
log "streaming again, then freezing the node with SIGSTOP"
first_turn fo-3 1 1500 >"$WORK/body4.json"
start_stream "$WORK/body4.json" s4
frozen=$(header_value "$WORK/s4.h" x-banyan-node)
log "freezing $frozen"
interrupt_stream s4 STOP "${NODE_PID[${frozen#node-}]}" "its node froze"
echo "PASS route_failover"
