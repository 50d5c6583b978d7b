#!/usr/bin/env bash
# The official `openai` npm client against banyan serve (see js/client_test.mjs). Skips (77) when node/npm are
# missing or the npm registry cannot be reached to install the client.
source "$(dirname "$0")/serve_lib.bash"
JS=$ROOT/tests/e2e/js
command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node/npm not installed"; exit 77; }
if [ ! -d "$JS/node_modules/openai" ]; then
  (cd "$JS" && timeout 300 npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1) || {
    cat "$WORK/npm.log" >&2
    echo "SKIP: npm could not install the openai client (registry unreachable?)"
    exit 77
  }
fi
start_server js --parallel 8 --name tiny
timeout 600 node "$JS/client_test.mjs" "$URL" tiny
echo "serve_openai_js: OK"
