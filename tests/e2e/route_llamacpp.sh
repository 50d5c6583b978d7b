#!/usr/bin/env bash
# `banyan route` in front of llama.cpp backends. Two nodes of models/demo's 3-node plan are exported with
# `banyan export gguf` and each is served by route/llama_server.mjs: a small OpenAI-compatible server over llama.cpp's
# library through node-llama-cpp (prebuilt CPU binaries, the install of gguf/; NOT the llama-server binary), which
# has none of banyan's endpoints. llama-0 is declared "kind": "openai" in cluster.json, llama-1 is detected (it
# answers 404 to GET /v1/banyan/node). Checks: both count as plain backends with their reasons; placement falls back
# to least-loaded/hash with a logged reason and spreads sessions; the second turns stay pinned; answers through the
# router equal the backend's own (greedy); a backend killed mid-stream gives an error event within 2 s; the next
# turn fails over with the full history; the backend restarted on its port is used again.
# Skips (77) when node is missing or npm cannot install node-llama-cpp.
source "$(dirname "$0")/route/route_lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
GGUF_JS=$HERE/gguf
command -v node >/dev/null || { echo "SKIP: node not installed"; exit 77; }
if [ ! -d "$GGUF_JS/node_modules/@node-llama-cpp/linux-x64" ]; then
  (cd "$GGUF_JS" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --omit=optional --ignore-scripts \
      >"$WORK/npm.log" 2>&1) || { echo "SKIP: npm cannot install node-llama-cpp (registry unreachable?)"; exit 77; }
fi
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true

prepare_cluster
for i in 0 1; do
  "$BANYAN" export gguf --model "$CLUSTER_DIR/bundles/node-$i" --out "$WORK/node-$i.gguf" --type f16 \
    >"$WORK/export-$i.log" 2>&1 || { cat "$WORK/export-$i.log" >&2; fail "export gguf of node-$i failed"; }
done

# start_llama INDEX [PORT]: llama_server.mjs on node-INDEX.gguf named llama-INDEX; sets LL_PID/LL_PORT/LL_URL[i].
# The 25 ms per token paces streams so one can be killed mid-way.
declare -A LL_PID LL_PORT LL_URL
start_llama() {
  local i=$1 port=${2:-0} logf=$WORK/llama-$1.log pid
  node "$HERE/route/llama_server.mjs" --model "$WORK/node-$i.gguf" --name "llama-$i" --port "$port" --parallel 4 \
    --token-delay-ms 25 >>"$logf" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  LL_PID[$i]=$pid
  LL_PORT[$i]=$(wait_port "$logf" "$pid") || fail "llama-$i did not start: $(tail -5 "$logf")"
  LL_URL[$i]=http://127.0.0.1:${LL_PORT[$i]}
  wait_healthy "${LL_URL[$i]}" "$pid" || fail "llama-$i not healthy"
}
start_llama 0
start_llama 1
cat >"$WORK/cluster.json" <<EOF
{"nodes": [{"name": "llama-0", "url": "${LL_URL[0]}", "kind": "openai"},
           {"name": "llama-1", "url": "${LL_URL[1]}"}],
 "plan": "$CLUSTER_DIR/plan.json"}
EOF
start_router_with "$WORK/cluster.json" --placement auto

# Both are plain OpenAI backends, each with its reason.
curl -s --max-time 5 "$ROUTER_URL/status" >"$WORK/status.json"
python3 - "$WORK/status.json" <<'PY' || fail "the backends are not seen as plain OpenAI backends with their reasons"
import json, sys
nodes = {n["name"]: n for n in json.load(open(sys.argv[1]))["nodes"]}
for name, n in sorted(nodes.items()):
    print(f"{name}: kind {n['kind']} ({n['kind_reason']}), model {n['model']}")
ok = all(n["kind"] == "openai" and n["healthy"] for n in nodes.values())
ok &= nodes["llama-0"]["kind_reason"] == 'declared "kind": "openai"'
ok &= "404" in nodes["llama-1"]["kind_reason"]
sys.exit(0 if ok else 1)
PY

# Sessions: placed by the fallback, second turns pinned, answers equal to the backend's own.
python3 - "$ROUTER_URL" "${LL_URL[0]}" "${LL_URL[1]}" >"$WORK/sessions.json" <<'PY' || fail "sessions through the router"
import json, sys, urllib.request
router, backends = sys.argv[1], {"llama-0": sys.argv[2], "llama-1": sys.argv[3]}

def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return dict(r.headers), r.read().decode()

topics = ["the harbour", "a dragon", "Python lists", "der Wald", "la cuisine", "the moon", "trains", "el mar"]
where, out = {}, []
for i, t in enumerate(topics):
    msgs = [{"role": "user", "content": f"Tell me about {t}."}]
    h1, b1 = post(router + "/v1/chat/completions", {"messages": msgs, "max_tokens": 6, "temperature": 0, "user": f"ll-{i}"})
    node, text = h1["X-Banyan-Node"], json.loads(b1)["choices"][0]["message"]["content"]
    assert h1["X-Banyan-Placement"] == "placed", h1
    _, direct = post(backends[node] + "/v1/chat/completions", {"messages": msgs, "max_tokens": 6, "temperature": 0})
    assert json.loads(direct)["choices"][0]["message"]["content"] == text, (text, direct)
    msgs += [{"role": "assistant", "content": text}, {"role": "user", "content": "More."}]
    h2, b2 = post(router + "/v1/chat/completions",
                  {"messages": msgs, "max_tokens": 4, "temperature": 0, "user": f"ll-{i}", "stream": True})
    assert h2["X-Banyan-Node"] == node and h2["X-Banyan-Placement"] == "pinned", h2
    assert b2.rstrip().endswith("data: [DONE]") and '"error"' not in b2, b2
    where[node] = where.get(node, 0) + 1
    out.append({"user": f"ll-{i}", "node": node, "text": text})
print(json.dumps({"where": where, "sessions": out}))
assert len(where) == 2, where
PY
log "sessions: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["where"])' "$WORK/sessions.json")"
grep -q 'auto fell back to least-loaded by load: llama-0 is an OpenAI backend without /v1/banyan/score' "$WORK/router.log" ||
  fail "the router did not log why placement fell back"
grep -m1 'fell back' "$WORK/router.log"
[ "$(router_metric 'banyan_route_placements_total{policy="auto",metric="load"}')" = 8 ] || fail "placements not counted as load-based"

# Kill the backend serving a stream.
python3 -c 'import json; print(json.dumps({"messages": [{"role": "user", "content": "Write a long story."}], "user": "ll-kill",
  "stream": True, "max_tokens": 1000, "ignore_eos": True, "temperature": 0}))' >"$WORK/body1.json"
start_stream "$WORK/body1.json" s1 6
victim=$(header_value "$WORK/s1.h" x-banyan-node)
vi=${victim#llama-}
log "killing $victim (pid ${LL_PID[$vi]}) mid-stream"
interrupt_stream s1 9 "${LL_PID[$vi]}" "its backend died"
expect_done_after_error s1

# The next turn fails over to the other backend with the whole history.
next_turn_body "$WORK/body1.json" s1 "And then?" 3 >"$WORK/body2.json"
failover_turn "$WORK/body2.json" "$victim"
expect_full_history "$WORK/body2.json" "${LL_URL[${FAILOVER_NODE#llama-}]}" 20
grep -q "chat .*: 3 messages, $HISTORY_TOKENS prompt tokens" "$WORK/llama-${FAILOVER_NODE#llama-}.log" ||
  fail "the backend's log does not show the 3-message history"

# Restart the killed backend on its port: healthy again and given new sessions.
log "restarting $victim on port ${LL_PORT[$vi]}"
start_llama "$vi" "${LL_PORT[$vi]}"
wait_rejoined "$victim"
used=0
for i in $(seq 0 7); do
  n=$(curl -s --max-time 60 -D - -o /dev/null -H 'Content-Type: application/json' \
        -d "{\"messages\":[{\"role\":\"user\",\"content\":\"hi $i\"}],\"max_tokens\":1,\"user\":\"ll-new-$i\"}" \
        "$ROUTER_URL/v1/chat/completions" | header_value /dev/stdin x-banyan-node)
  [ "$n" = "$victim" ] && used=$((used + 1))
done
log "$used of 8 new sessions went to the restarted $victim"
[ "$used" -ge 1 ] || fail "the restarted backend was not used again"
echo "PASS route_llamacpp"
