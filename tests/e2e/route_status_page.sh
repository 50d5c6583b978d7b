#!/usr/bin/env bash
# The router's HTML status page in headless Chromium: the DOM lists every node and draws the plan's heat-map
# (one cell per node, MoE layer and expert; held cells match the plan); a screenshot is kept in the test output.
source "$(dirname "$0")/route/route_lib.bash"
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "SKIP: chromium not installed (scripts/install-deps.sh installs it)"; exit 77; }

prepare_cluster
for i in 0 1 2; do start_node "$i"; done
start_router --placement auto
python3 "$HERE/route/pick_prompts.py" "$CLUSTER_DIR/plan.json" "$DEMO/heldout.jsonl.xz" --per-domain 1 >"$WORK/prompts.json"
python3 "$HERE/route/drive.py" concurrent "$ROUTER_URL" 6 "$WORK/prompts.json" >/dev/null

OUT_DIR=$TEST_OUT/route_status_page
mkdir -p "$OUT_DIR"
chrome() {
  timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage --window-size=1200,900 \
    --user-data-dir="$(mktemp -d "$WORK/chrome.XXXXXX")" "$@" 2>>"$WORK/chromium.log"
}
chrome --dump-dom "$ROUTER_URL/" >"$OUT_DIR/status.dom.html" || fail "chromium --dump-dom failed"
chrome --screenshot="$OUT_DIR/status.png" "$ROUTER_URL/" >/dev/null || fail "chromium --screenshot failed"
[ -s "$OUT_DIR/status.png" ] || fail "no screenshot written"
log "screenshot: $OUT_DIR/status.png ($(stat -c %s "$OUT_DIR/status.png") bytes)"

python3 - "$OUT_DIR/status.dom.html" "$CLUSTER_DIR/plan.json" <<'PY' || fail "the status page DOM is missing nodes or heat-map cells"
import json, re, sys
dom, plan = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
layers, experts = len(plan["moe_layers"]), plan["num_experts"]
ok = True
for n in plan["nodes"]:
    row = re.search(r'<tr class="node" data-node="%s">(.*?)</tr>' % re.escape(n["name"]), dom, re.S)
    if not row:
        print("node row missing:", n["name"]); ok = False; continue
    if 'class="up"' not in row.group(1):
        print("node not shown healthy:", n["name"]); ok = False
    held = sum(len(l) for l in n["experts"])
    cells = re.findall(r'<td class="hm-cell (hm-\w+)" title="%s layer' % re.escape(n["name"]), dom)
    on = sum(c != "hm-off" for c in cells)
    print(f'{n["name"]}: {len(cells)} heat-map cells, {on} held (plan: {layers}x{experts}, {held} held)')
    ok &= len(cells) == layers * experts and on == held
total = dom.count('class="hm-cell ')
print("heat-map cells:", total)
ok &= total == len(plan["nodes"]) * layers * experts
sys.exit(0 if ok else 1)
PY
status=$(curl -s --max-time 5 "$ROUTER_URL/status")
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["plan"]["id"] and len(d["nodes"])==3 and d["router"]["sessions"]>=6 else 1)' "$status" \
  || fail "/status lacks the plan, nodes or sessions: $status"
echo "PASS route_status_page"
