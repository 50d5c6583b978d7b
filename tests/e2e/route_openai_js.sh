#!/usr/bin/env bash
# The official `openai` npm client through `banyan route` (js/router_client.mjs) in front of models/demo packed into
# 3 banyan nodes, the router requiring an API key. Skips (77) when node/npm are missing or the npm registry cannot be
# reached to install the client.
source "$(dirname "$0")/route/route_lib.bash"
JS=$ROOT/tests/e2e/js
command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node/npm not installed"; exit 77; }
if [ ! -d "$JS/node_modules/openai" ]; then
  (cd "$JS" && timeout 300 npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1) || {
    cat "$WORK/npm.log" >&2
    echo "SKIP: npm could not install the openai client (registry unreachable?)"
    exit 77
  }
fi
prepare_cluster
for i in 0 1 2; do start_node "$i"; done
start_router --placement auto --api-key sekrit
timeout 300 node "$JS/router_client.mjs" "$ROUTER_URL" sekrit node-0,node-1,node-2 || fail "router_client.mjs failed"
echo "PASS route_openai_js"
