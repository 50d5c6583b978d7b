#!/usr/bin/env bash
# Bad input never yields a 5xx nor kills the server: the malformed-request corpus, unknown routes and models,
# context overflow, a full queue, and --api-key enforcement.
source "$(dirname "$0")/serve_lib.bash"
start_server errors --api-key sekret --max-context 64 --queue 0 --parallel 1
AUTH=(-H 'Authorization: Bearer sekret')

# --- auth
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/v1/models")" = 401 ] || fail "no key accepted"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Authorization: Bearer wrong' "$URL/v1/models")" = 401 ] || fail "wrong key accepted"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${AUTH[@]}" "$URL/v1/models")" = 200 ] || fail "right key refused"
r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}]}')
check "${r%$'\n'*}" 'd["error"]["code"] == "invalid_api_key" and "message" in d["error"] and "type" in d["error"] and "param" in d["error"]' "401 body"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/health")" = 200 ] || fail "/health needs no key"

# --- the malformed corpus: every file is a 400 with an OpenAI error object
n=0
for f in "$ROOT"/tests/fixtures/requests/*.json; do
  name=$(basename "$f")
  case $name in chat_*) path=/v1/chat/completions ;; *) path=/v1/completions ;; esac
  r=$(curl -s --max-time 30 -w '\n%{http_code}' "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary "@$f" "$URL$path")
  code=${r##*$'\n'}
  [ "$code" = 400 ] || fail "$name: HTTP $code: ${r%$'\n'*}"
  check "${r%$'\n'*}" 'isinstance(d["error"]["message"], str) and d["error"]["type"] == "invalid_request_error"' "$name: error body"
  n=$((n + 1))
done
echo "malformed corpus: $n requests answered 400"

# --- random garbage bodies (seeded), all 4xx
for i in $(seq 1 40); do
  head -c $((i * 7)) /dev/urandom > "$WORK/garbage"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "${AUTH[@]}" --data-binary "@$WORK/garbage" "$URL/v1/chat/completions")
  case $code in 4??) ;; *) fail "garbage body $i: HTTP $code" ;; esac
done

# --- unknown route, unknown model, context too long, n > 1
r=$(curl -s --max-time 10 -w '\n%{http_code}' "${AUTH[@]}" "$URL/v1/nothing")
[ "${r##*$'\n'}" = 404 ] || fail "unknown route: $r"
check "${r%$'\n'*}" '"unknown route" in d["error"]["message"]' "404 body"
r=$(post /v1/chat/completions '{"model":"gpt-nope","messages":[{"role":"user","content":"hi"}]}' "${AUTH[@]}")
[ "${r##*$'\n'}" = 404 ] || fail "unknown model: $r"
long=$(python3 -c 'print("word " * 200)')
r=$(post /v1/completions "{\"prompt\":\"$long\"}" "${AUTH[@]}")
[ "${r##*$'\n'}" = 400 ] || fail "context overflow: $r"
check "${r%$'\n'*}" 'd["error"]["code"] == "context_length_exceeded" and "64" in d["error"]["message"]' "context error names the limit"
r=$(post /v1/completions '{"prompt":"hi","max_tokens":100}' "${AUTH[@]}")
[ "${r##*$'\n'}" = 400 ] || fail "prompt + max_tokens over the context: $r"
r=$(post /v1/completions '{"prompt":"hi","n":2}' "${AUTH[@]}")
[ "${r##*$'\n'}" = 400 ] || fail "n=2: $r"

burst=()
# --- queue full: one slot and no queue, 16 requests at once: the overflow is 429, the rest complete
for i in $(seq 1 16); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 60 "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d '{"prompt":"hi","max_tokens":40,"ignore_eos":true}' "$URL/v1/completions" >"$WORK/code.$i" &
  burst+=($!)
done
for pid in "${burst[@]}"; do wait "$pid" || true; done
codes=$(cat "$WORK"/code.* | sort | uniq -c | tr '\n' ' ')
echo "16 concurrent requests with --parallel 1 --queue 0: $codes"
grep -qx 429 "$WORK"/code.* || fail "no 429 with a full queue ($codes)"
grep -qx 200 "$WORK"/code.* || fail "nothing completed ($codes)"
if grep -vqx -e 200 -e 429 "$WORK"/code.*; then fail "unexpected status ($codes)"; fi
r=$(post /v1/completions '{"prompt":"hi","max_tokens":1}' "${AUTH[@]}")
[ "${r##*$'\n'}" = 200 ] || fail "after the burst: $r"

# --- still alive and answering
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/health")" = 200 ] || fail "server unhealthy after the bad input"
r=$(post /v1/completions '{"prompt":"hi","max_tokens":2}' "${AUTH[@]}")
[ "${r##*$'\n'}" = 200 ] || fail "valid request after the bad input: $r"
m=$(curl -s --max-time 10 "$URL/metrics")
if grep -E 'banyan_requests_total\{[^}]*status="5[0-9][0-9]"' <<<"$m"; then fail "a 5xx was served"; fi
echo "serve_errors: OK"
