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
curl -sN --max-time 120 -D "$WORK/h1" -H 'Content-Type: application/json' -d @"$WORK/body1.json" \
  "$ROUTER_URL/v1/chat/completions" >"$WORK/s1" &
CURL_PID=$!
for _ in $(seq 1 300); do
  [ "$(grep -c '^data: {' "$WORK/s1" 2>/dev/null || true)" -ge 5 ] && break
  kill -0 "$CURL_PID" 2>/dev/null || fail "the stream ended before the node was killed: $(head -c 500 "$WORK/s1")"
  sleep 0.1
done
victim=$(tr -d '\r' <"$WORK/h1" | awk 'tolower($1) == "x-banyan-node:" { print $2 }')
[ -n "$victim" ] || fail "no X-Banyan-Node header"
idx=${victim#node-}
log "killing $victim (pid ${NODE_PID[$idx]}) mid-stream"
t_kill=$(date +%s.%N)
kill -9 "${NODE_PID[$idx]}"
# The client's stream must end by itself, promptly.
for _ in $(seq 1 100); do kill -0 "$CURL_PID" 2>/dev/null || break; sleep 0.05; done
t_end=$(date +%s.%N)
if kill -0 "$CURL_PID" 2>/dev/null; then kill "$CURL_PID"; fail "the client's stream hung after its node died"; fi
wait "$CURL_PID" || true
elapsed=$(python3 -c "print(round($t_end - $t_kill, 3))")
log "stream closed ${elapsed} s after the kill; last events:"
tail -n 4 "$WORK/s1"
python3 -c "import sys; sys.exit(0 if $elapsed < 2.0 else 1)" || fail "error event took ${elapsed} s (> 2 s)"
grep -q '^data: {"error"' "$WORK/s1" || fail "no SSE error event after the node died"
[ "$(tail -n 2 "$WORK/s1" | head -n 1)" = "data: [DONE]" ] || fail "stream not closed with [DONE] after the error"

# Next turn: the full history (including the partial answer) goes to a surviving node.
python3 - "$WORK/body1.json" "$WORK/s1" >"$WORK/body2.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
text = ""
for line in open(sys.argv[2]):
    if line.startswith("data: {"):
        j = json.loads(line[6:])
        for c in j.get("choices", []):
            text += c.get("delta", {}).get("content") or ""
body["messages"] += [{"role": "assistant", "content": text}, {"role": "user", "content": "Weiter, bitte."}]
body.update(stream=False, max_tokens=4)
print(json.dumps(body))
PY
resp=$(curl -s --max-time 60 -D "$WORK/h2" -H 'Content-Type: application/json' -d @"$WORK/body2.json" \
  "$ROUTER_URL/v1/chat/completions")
new_node=$(tr -d '\r' <"$WORK/h2" | awk 'tolower($1) == "x-banyan-node:" { print $2 }')
how=$(tr -d '\r' <"$WORK/h2" | awk 'tolower($1) == "x-banyan-placement:" { print $2 }')
log "next turn served by $new_node ($how)"
[ -n "$new_node" ] && [ "$new_node" != "$victim" ] || fail "next turn not served elsewhere: $resp"
[ "$how" = failover ] || fail "next turn placement is '$how', expected failover"
# The new node saw the whole history: the same body sent to it directly counts the same prompt tokens.
via_router=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["usage"]["prompt_tokens"])' "$resp")
direct=$(python3 - "$WORK/body2.json" "$new_node" <<'PY' | curl -s --max-time 60 -H 'Content-Type: application/json' -d @- "${NODE_URL[${new_node#node-}]}/v1/chat/completions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens"])'
import json, sys
b = json.load(open(sys.argv[1])); b["model"] = sys.argv[2]; b.pop("user", None); print(json.dumps(b))
PY
)
log "prompt tokens of the failed-over turn: via router $via_router, sent directly $direct"
[ "$via_router" = "$direct" ] && [ "$via_router" -gt 30 ] || fail "the new node did not get the full history"
[ "$(router_metric banyan_route_failovers)" -ge 1 ] || fail "failover not counted"

# Restart the killed node on its port: it rejoins and wins the same kind of session again.
log "restarting $victim on port ${NODE_PORT[$idx]}"
start_node "$idx" 127.0.0.1 "${NODE_PORT[$idx]}"
for _ in $(seq 1 100); do router_node_healthy "$victim" && break; sleep 0.1; done
router_node_healthy "$victim" || fail "$victim did not rejoin"
first_turn fo-2 0 4 >"$WORK/body3.json"
curl -s --max-time 60 -D "$WORK/h3" -o /dev/null -H 'Content-Type: application/json' -d @"$WORK/body3.json" \
  "$ROUTER_URL/v1/chat/completions"
again=$(tr -d '\r' <"$WORK/h3" | awk 'tolower($1) == "x-banyan-node:" { print $2 }')
log "a new session with the first prompt went to $again"
[ "$again" = "$victim" ] || fail "the restarted node was not used again (got $again)"

# A node that hangs (SIGSTOP: socket open, no bytes) is caught by the health checks: error event within 2 s.
log "streaming again, then freezing the node with SIGSTOP"
first_turn fo-3 1 1500 >"$WORK/body4.json"
curl -sN --max-time 120 -D "$WORK/h4" -H 'Content-Type: application/json' -d @"$WORK/body4.json" \
  "$ROUTER_URL/v1/chat/completions" >"$WORK/s4" &
CURL_PID=$!
for _ in $(seq 1 300); do
  [ "$(grep -c '^data: {' "$WORK/s4" 2>/dev/null || true)" -ge 5 ] && break
  sleep 0.1
done
frozen=$(tr -d '\r' <"$WORK/h4" | awk 'tolower($1) == "x-banyan-node:" { print $2 }')
fidx=${frozen#node-}
t_stop=$(date +%s.%N)
kill -STOP "${NODE_PID[$fidx]}"
for _ in $(seq 1 100); do kill -0 "$CURL_PID" 2>/dev/null || break; sleep 0.05; done
t_end=$(date +%s.%N)
kill -CONT "${NODE_PID[$fidx]}"
if kill -0 "$CURL_PID" 2>/dev/null; then kill "$CURL_PID"; fail "the client's stream hung on a frozen node"; fi
wait "$CURL_PID" || true
elapsed=$(python3 -c "print(round($t_end - $t_stop, 3))")
log "frozen $frozen: stream closed after ${elapsed} s: $(grep '^data: {"error"' "$WORK/s4" | head -c 200)"
grep -q '^data: {"error"' "$WORK/s4" || fail "no error event for the frozen node"
python3 -c "import sys; sys.exit(0 if $elapsed < 2.0 else 1)" || fail "frozen node's stream took ${elapsed} s (> 2 s)"
echo "PASS route_failover"
