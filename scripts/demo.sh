#!/usr/bin/env bash
# banyan's README demo, one command on a fresh Debian 12:
#   installs dependencies, builds `banyan`, calibrates the project's demo MoE (models/demo) on its shipped sample,
#   plans and packs 3 node bundles, starts 3 `banyan serve` nodes and a `banyan route` front door on loopback,
#   sends chats of different kinds (German prose, Python code, English) with curl, prints where each landed and
#   the answer, and shuts everything down.
# Environment: BANYAN_BIN=path (use this binary, skip install and build), DEMO_PORT=8100 (router; nodes +1..+3),
# DEMO_DIR (work directory, default build-demo/demo), SKIP_DEPS=1 (do not run install-deps.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODEL=$ROOT/models/demo
PORT=${DEMO_PORT:-8100}
DIR=${DEMO_DIR:-$ROOT/build-demo/demo}
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
shutdown() {
  local rc=$?
  if ((${#PIDS[@]})); then
    say "shutting down (${#PIDS[@]} processes)"
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
  exit "$rc"
}
trap shutdown EXIT
trap 'exit 130' INT TERM

if [ -n "${BANYAN_BIN:-}" ]; then
  BANYAN=$BANYAN_BIN
else
  if [ -z "${SKIP_DEPS:-}" ]; then
    say "installing dependencies (Debian packages)"
    bash "$ROOT/scripts/install-deps.sh"
  fi
  say "building banyan (Release)"
  cmake -S "$ROOT" -B "$ROOT/build-demo" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBANYAN_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build-demo" --target banyan -j"$(nproc)"
  BANYAN=$ROOT/build-demo/banyan
fi
mkdir -p "$DIR"
LOGS=$DIR/logs
mkdir -p "$LOGS"

say "calibrating models/demo on its calibration sample (router profiles per document)"
"$BANYAN" calibrate --model "$MODEL" --corpus "$MODEL/calib.jsonl.xz" --out "$DIR/profiles.safetensors" \
  2>"$LOGS/calibrate.log" >/dev/null

say "planning 3 nodes (budget scheme: clusters of calibration traffic, 16 of 32 experts per node per layer)"
"$BANYAN" plan --model "$MODEL" --nodes 3 --scheme budget --experts-per-node 16 \
  --profiles "$DIR/profiles.safetensors" --out "$DIR/plan.json" 2>"$LOGS/plan.log" >/dev/null
python3 - "$DIR/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
clusters = {c["index"]: c for c in plan["clusters"]}
for n in plan["nodes"]:
    doms = sorted(clusters[n["cluster"]]["domains"].items(), key=lambda kv: -kv[1])[:3]
    q = n.get("quality", {})
    pred = f', predicted top-k mass {q["on_cluster"]:.2f} on its traffic' if "on_cluster" in q else ""
    print(f'  {n["name"]}: cluster {n["cluster"]} ({", ".join(f"{d} {c}" for d, c in doms)}){pred}')
PY

say "packing the node bundles"
rm -rf "$DIR/bundles"
"$BANYAN" pack --model "$MODEL" --plan "$DIR/plan.json" --out "$DIR/bundles" 2>"$LOGS/pack.log" >/dev/null

wait_healthy() {  # wait_healthy URL PID NAME
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/health")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { tail -n 20 "$LOGS/$3.log" >&2; echo "demo: $3 exited" >&2; return 1; }
    sleep 0.1
  done
  echo "demo: $3 not healthy after 30 s" >&2
  return 1
}

say "starting 3 nodes and the router on loopback"
nodes_json=""
for i in 0 1 2; do
  port=$((PORT + 1 + i))
  "$BANYAN" serve --model "$DIR/bundles/node-$i" --name "node-$i" --host 127.0.0.1 --port "$port" \
    2>"$LOGS/node-$i.log" &
  PIDS+=($!)
  wait_healthy "http://127.0.0.1:$port" "$!" "node-$i"
  echo "  node-$i  http://127.0.0.1:$port  (pid ${PIDS[-1]})"
  nodes_json+="${nodes_json:+,}{\"name\":\"node-$i\",\"url\":\"http://127.0.0.1:$port\"}"
done
echo "{\"nodes\":[$nodes_json],\"plan\":\"$DIR/plan.json\"}" >"$DIR/cluster.json"
"$BANYAN" route --cluster "$DIR/cluster.json" --host 127.0.0.1 --port "$PORT" --placement auto \
  2>"$LOGS/router.log" &
PIDS+=($!)
wait_healthy "http://127.0.0.1:$PORT" "$!" router
echo "  router  http://127.0.0.1:$PORT  (status page: http://127.0.0.1:$PORT/)"

chat() {  # chat LABEL TEXT [PREVIOUS_ANSWER FOLLOW_UP]: one turn; with 4 arguments, the second turn of that chat
  local label=$1 body headers answer node how
  body=$(python3 -c 'import json,sys
a = sys.argv[1:]
m = [{"role": "user", "content": a[0]}]
if len(a) == 3: m += [{"role": "assistant", "content": a[1]}, {"role": "user", "content": a[2]}]
print(json.dumps({"model": "banyan", "messages": m, "max_tokens": 48, "temperature": 0}))' "${@:2}")
  headers=$(mktemp)
  answer=$(curl -s --max-time 120 -D "$headers" -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$PORT/v1/chat/completions")
  node=$(tr -d '\r' <"$headers" | awk 'tolower($1) == "x-banyan-node:" { print $2 }')
  how=$(tr -d '\r' <"$headers" | awk 'tolower($1) == "x-banyan-placement:" { print $2 }')
  rm -f "$headers"
  printf '\n\033[1m[%s]\033[0m landed on \033[1m%s\033[0m (%s)\n  prompt: %s\n' "$label" "${node:-?}" "${how:-?}" \
    "${4:-$2}"
  LAST_ANSWER=$(python3 -c 'import json,sys
d = json.loads(sys.argv[1])
print(d["error"]["message"] if "error" in d else d["choices"][0]["message"]["content"])' "$answer")
  printf '  answer: %s\n' "${LAST_ANSWER//$'\n'/$'\n'          }"
}

say "chatting through the router (each new session is placed by the nodes' scores, then pinned)"
GERMAN="Die Konfigurationsdatei wird beim Start des Dienstes gelesen. Wenn ein Eintrag fehlt, verwendet das Programm den voreingestellten Wert und schreibt eine Warnung in das Systemprotokoll."
chat "German prose" "$GERMAN"
chat "German prose, 2nd turn" "$GERMAN" "$LAST_ANSWER" "Und was passiert, wenn die Datei fehlt?"
chat "Python code" "def read_config(path):
    with open(path, encoding=\"utf-8\") as f:
        for line in f:
            key, _, value = line.partition(\"=\")"
chat "English" "The open() system call opens the file specified by pathname. If the specified file does not exist, it may optionally be created by open()."
chat "French" "La commande affiche le contenu du fichier spécifié sur la sortie standard. Si aucun fichier n'est indiqué, elle lit l'entrée standard."
chat "Japanese" "このコマンドは、指定されたファイルの内容を標準出力に表示します。"

say "router status"
curl -s --max-time 5 "http://127.0.0.1:$PORT/status" >"$DIR/status.json"
python3 - "$DIR/status.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for n in d["nodes"]:
    state = "up" if n["healthy"] else "down"
    print(f'  {n["name"]}: {state}, {n["sessions"]} session(s), {n["requests"]} request(s), '
          f'{n["bytes_sent"]} B sent / {n["bytes_received"]} B received')
print(f'  policy {d["router"]["policy"]}, {d["router"]["sessions"]} live sessions, plan {d["plan"]["id"]}')
PY
echo
echo "demo: done (logs in $LOGS)"
