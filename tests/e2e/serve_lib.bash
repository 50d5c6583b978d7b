# Shared helpers for tests/e2e/serve_*.sh (sourced; not a test itself). Loopback only, bounded timeouts, and the
# server is always killed on exit.
set -euo pipefail

BANYAN=${1:?usage: $0 /path/to/banyan}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MODEL=${BANYAN_E2E_MODEL:-$ROOT/tests/fixtures/models/qwen3_moe}
WORK=$(mktemp -d /tmp/banyan-e2e.XXXXXX)
SERVER_PIDS=()

cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server NAME [extra serve args...]: starts `banyan serve` on a free port; sets PORT and URL.
start_server() {
  local name=$1; shift
  local log=$WORK/$name.log
  # BANYAN_E2E_SERVE_ARGS: extra serve arguments for every server (e.g. "--device cuda" on a GPU machine).
  # shellcheck disable=SC2086
  "$BANYAN" serve --model "$MODEL" --port 0 --host 127.0.0.1 --threads 2 ${BANYAN_E2E_SERVE_ARGS:-} "$@" 2>"$log" &
  SERVER_PIDS+=($!)
  local pid=$!
  PORT=""
  for _ in $(seq 1 200); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://') || true
    [ -n "$PORT" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "server $name exited at start"; }
    sleep 0.1
  done
  [ -n "$PORT" ] || fail "server $name did not report its port"
  URL=http://127.0.0.1:$PORT
  for _ in $(seq 1 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL/health")" = 200 ]; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "server $name died while loading"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "server $name not healthy after 30 s"
}

# post PATH JSON [curl args...]: prints the body, then the status on the last line.
post() {
  local path=$1 body=$2; shift 2
  curl -s --max-time 60 -w '\n%{http_code}' -H 'Content-Type: application/json' -d "$body" "$@" "$URL$path"
}

# metric NAME: the value of an unlabelled metric.
metric() { curl -s --max-time 10 "$URL/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

# check JSON EXPR MESSAGE: fails unless the Python expression over `d` (the parsed JSON) is true.
check() {
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" \
    || { echo "$1" >&2; fail "$3"; }
}
# field JSON EXPR: prints the Python expression's value.
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
