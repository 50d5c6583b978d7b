#!/usr/bin/env bash
# banyan serve driven by curl: health/models, chat and completions (streaming and not, usage, logprobs, echo,
# stop), the prefix cache on a second turn (metrics), score/node/release.
source "$(dirname "$0")/serve_lib.bash"
start_server main --parallel 4 --name tiny

# --- models, health
out=$(curl -s --max-time 10 "$URL/v1/models")
check "$out" 'd["data"][0]["id"] == "tiny" and d["object"] == "list"' "/v1/models"

# --- connection bursts: the listen backlog is the build's (1024, capped by net.core.somaxconn), not cpp-httplib's
# default of 5, which overflowed under 64 clients opening at once; then 128 clients at once all get answers.
backlog=$(ss -ltnH "sport = :$PORT" | awk '{print $3}' | head -1)
[ -n "$backlog" ] || fail "ss shows no listening socket on port $PORT"
want=$(( $(cat /proc/sys/net/core/somaxconn) < 1024 ? $(cat /proc/sys/net/core/somaxconn) : 1024 ))
[ "$backlog" -ge "$want" ] || fail "listen backlog is $backlog, expected $want"
burst=$WORK/burst; mkdir -p "$burst"
burst_pids=()
for i in $(seq 1 128); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 "$URL/v1/models" >"$burst/$i" 2>&1 &
  burst_pids+=($!)
done
wait "${burst_pids[@]}" || true
ok=$(cat "$burst"/* | grep -c '^200$' || true)
[ "$ok" = 128 ] || fail "connection burst: $ok of 128 clients got HTTP 200"

# --- chat, non-streaming
resp=$(post /v1/chat/completions '{"model":"tiny","messages":[{"role":"user","content":"hello there"}],"max_tokens":8,"temperature":0}')
code=${resp##*$'\n'}; body=${resp%$'\n'*}
[ "$code" = 200 ] || fail "chat: HTTP $code: $body"
check "$body" 'd["id"].startswith("chatcmpl-") and d["object"] == "chat.completion" and d["model"] == "tiny"' "chat envelope"
check "$body" 'd["choices"][0]["message"]["role"] == "assistant" and d["choices"][0]["finish_reason"] in ("stop", "length")' "chat choice"
check "$body" 'd["usage"]["total_tokens"] == d["usage"]["prompt_tokens"] + d["usage"]["completion_tokens"] and 0 < d["usage"]["completion_tokens"] <= 8' "chat usage"
check "$body" 'd["choices"][0]["finish_reason"] == "stop" or d["usage"]["completion_tokens"] == 8' "length finish means max_tokens reached"
greedy_text=$(field "$body" 'd["choices"][0]["message"]["content"]')

# --- chat, streaming: same greedy text, usage chunk, [DONE]
stream=$(curl -sN --max-time 60 -H 'Content-Type: application/json' "$URL/v1/chat/completions" \
  -d '{"model":"tiny","messages":[{"role":"user","content":"hello there"}],"max_tokens":8,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}')
python3 - "$stream" "$greedy_text" <<'PY' || fail "streaming chat"
import json, sys
events = [e[len("data: "):] for e in sys.argv[1].split("\n\n") if e.startswith("data: ")]
assert events[-1] == "[DONE]"
chunks = [json.loads(e) for e in events[:-1]]
assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
assert text == sys.argv[2], (text, sys.argv[2])
finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
assert len(finals) == 1
usage = chunks[-1]
assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0, usage
PY

# --- completions: echo + logprobs, token prompt, stop string
resp=$(post /v1/completions '{"prompt":"the cat","max_tokens":5,"temperature":0,"echo":true,"logprobs":2}')
code=${resp##*$'\n'}; body=${resp%$'\n'*}
[ "$code" = 200 ] || fail "completions: HTTP $code: $body"
check "$body" 'd["id"].startswith("cmpl-") and d["object"] == "text_completion" and d["choices"][0]["text"].startswith("the cat")' "completions echo"
check "$body" 'd["choices"][0]["logprobs"] is not None' "completions logprobs present"
check "$body" 'd["choices"][0]["logprobs"]["token_logprobs"][0] is None and len(d["choices"][0]["logprobs"]["tokens"]) == d["usage"]["prompt_tokens"] + d["usage"]["completion_tokens"]' "echo logprobs cover prompt + completion"
check "$body" 'all(v <= 0 for v in d["choices"][0]["logprobs"]["token_logprobs"][1:]) and all(len(t) <= 2 for t in d["choices"][0]["logprobs"]["top_logprobs"][1:])' "logprob values"
resp=$(post /v1/completions '{"prompt":[5,6,7],"max_tokens":3,"temperature":0}')
[ "${resp##*$'\n'}" = 200 ] || fail "token-id prompt: $resp"
check "${resp%$'\n'*}" 'd["usage"]["prompt_tokens"] == 3' "token prompt usage"
# A stop string taken from the greedy output itself must cut the text right before it.
full=$(post /v1/completions '{"prompt":"a b c","max_tokens":12,"temperature":0}')
full_text=$(field "${full%$'\n'*}" 'd["choices"][0]["text"]')
if [ ${#full_text} -ge 4 ]; then
  stop=${full_text:2:2}
  cut=$(post /v1/completions "$(python3 -c 'import json,sys; print(json.dumps({"prompt":"a b c","max_tokens":12,"temperature":0,"stop":[sys.argv[1]]}))' "$stop")")
  cut_body=${cut%$'\n'*}
  python3 - "$cut_body" "$full_text" "$stop" <<'PY' || fail "stop string"
import json, sys
d = json.loads(sys.argv[1]); full, stop = sys.argv[2], sys.argv[3]
text = d["choices"][0]["text"]
assert text == full[:full.index(stop)], (text, full, stop)
assert d["choices"][0]["finish_reason"] == "stop"
PY
fi

# --- prefix cache: a second turn reuses the first turn's KV
hits0=$(metric banyan_prefix_cache_hits_total)
msgs1='[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Tell me about banyan trees and their many trunks."}]'
t1=$(post /v1/chat/completions "{\"messages\":$msgs1,\"max_tokens\":6,\"temperature\":0}")
a1=$(field "${t1%$'\n'*}" 'json.dumps(d["choices"][0]["message"]["content"])')
p1=$(field "${t1%$'\n'*}" 'd["usage"]["prompt_tokens"]')
pre0=$(metric banyan_prefill_tokens_total)
msgs2=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); m += [{"role":"assistant","content":json.loads(sys.argv[2])},{"role":"user","content":"And their roots?"}]; print(json.dumps(m))' "$msgs1" "$a1")
t2=$(post /v1/chat/completions "{\"messages\":$msgs2,\"max_tokens\":6,\"temperature\":0}")
[ "${t2##*$'\n'}" = 200 ] || fail "second turn: $t2"
p2=$(field "${t2%$'\n'*}" 'd["usage"]["prompt_tokens"]')
cached=$(field "${t2%$'\n'*}" 'd["usage"]["prompt_tokens_details"]["cached_tokens"]')
pre1=$(metric banyan_prefill_tokens_total)
hits1=$(metric banyan_prefix_cache_hits_total)
echo "turn 1: $p1 prompt tokens; turn 2: $p2 prompt tokens, $cached cached, $((pre1 - pre0)) prefilled; cache hits $hits0 -> $hits1"
[ "$hits1" -gt "$hits0" ] || fail "no prefix-cache hit on the second turn"
[ "$cached" -ge "$p1" ] || fail "second turn reused only $cached tokens (first turn's prompt: $p1)"
[ $((pre1 - pre0)) -lt $((p2 - p1 + 1)) ] || fail "second turn prefilled $((pre1 - pre0)) tokens"

# --- score: prompt_logprob = mean of the prompt's echoed log-probs (targets 1..n-1); prompt_logprob_tail = the same
# without the first prompt_tail_skip targets (the router's `auto` metric, as eval quality's)
txt='The banyan is a fig that begins its life as an epiphyte on another tree, until its roots reach the ground.'
st=$(post /v1/banyan/score "{\"prompt\":\"$txt\"}")
ec=$(post /v1/completions "{\"prompt\":\"$txt\",\"max_tokens\":1,\"temperature\":0,\"echo\":true,\"logprobs\":0}")
[ "${st##*$'\n'}" = 200 ] && [ "${ec##*$'\n'}" = 200 ] || fail "score / echo of the tail prompt: $st $ec"
check "{\"s\": ${st%$'\n'*}, \"e\": ${ec%$'\n'*}}" '(lambda s, lp: s["prompt_tail_skip"] == 8 and len(lp) == s["prompt_tokens"] - 1 > 8 and abs(s["prompt_logprob"] - sum(lp) / len(lp)) < 1e-3 and abs(s["prompt_logprob_tail"] - sum(lp[8:]) / len(lp[8:])) < 1e-3 and s["prompt_logprob_tail"] != s["prompt_logprob"])(d["s"], d["e"]["choices"][0]["logprobs"]["token_logprobs"][1:d["s"]["prompt_tokens"]])' "score prompt_logprob_tail"

# --- score, keep, node, release
sc=$(post /v1/banyan/score '{"messages":[{"role":"user","content":"What is a banyan?"}],"session":"s-1","keep":true}')
[ "${sc##*$'\n'}" = 200 ] || fail "score: $sc"
check "${sc%$'\n'*}" '0 < d["probe_mass"] <= 1 and d["prompt_logprob"] < 0 and d["node"] == "tiny" and d["load"]["active"] >= 0 and d["prompt_tokens"] > 1 and d["kept"]' "score body"
pre0=$(metric banyan_prefill_tokens_total)
g=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"What is a banyan?"}],"max_tokens":3,"temperature":0}')
pre1=$(metric banyan_prefill_tokens_total)
[ $((pre1 - pre0)) -eq 1 ] || fail "after keep=true the generation prefilled $((pre1 - pre0)) tokens (want 1)"
node=$(curl -s --max-time 10 "$URL/v1/banyan/node")
check "$node" 'd["name"] == "tiny" and d["bundle"]["is_bundle"] == False and d["cache"]["entries"] >= 1' "node info"
rel=$(post /v1/banyan/release '{"session":"s-1"}')
check "${rel%$'\n'*}" 'd["released"] == 1' "release"

# --- metrics exposition
m=$(curl -s --max-time 10 "$URL/metrics")
for name in banyan_requests_total banyan_time_to_first_token_seconds_bucket banyan_inter_token_latency_seconds_count \
            banyan_active_requests banyan_queued_requests banyan_kv_bytes_in_use banyan_prefix_cache_lookups_total; do
  grep -q "^$name" <<<"$m" || fail "metric $name missing"
done
grep -q 'banyan_requests_total{endpoint="chat_completions",status="200"}' <<<"$m" || fail "request counter"
echo "serve_curl: OK"
