#!/usr/bin/env bash
# banyan's CPU engine against llama.cpp (node-llama-cpp's prebuilt CPU binaries) on the same models, weights and
# thread counts: prefill tok/s (512-token prompt) and decode tok/s at batch 1 and 8, same workload on both sides
# (src/runtime/engine_bench.cc and tools/bench/llamacpp/bench.mjs). Models: models/demo and, when present,
# ../shared/models/tiny-qwen3moe; weights f32 (banyan: the checkpoint widened by tools/bench/llamacpp/f32_checkpoint.py;
# llama.cpp: `banyan export gguf --type f32`) and 16-bit (banyan: the bf16 checkpoint; llama.cpp: bf16 and f16 GGUFs).
# Each measurement runs RUNS times (engines interleaved) and the median is reported, with the load average.
# Prints ONE JSON object on stdout (progress on stderr).
#
# usage: scripts/bench-vs-llamacpp.sh [BANYAN_BINARY]   env: RUNS=3 THREADS="1 2" MODELS="demo tiny" F16=1 RESULTS_JSONL=
# (F16=0 skips llama.cpp's f16 GGUF; each measurement takes ~5 s on an idle core, far more on a loaded machine)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BANYAN=$(realpath "${1:-$ROOT/build/banyan}")
RUNS=${RUNS:-3}
THREADS=${THREADS:-"1 2"}
MODELS=${MODELS:-"demo tiny"}
F16=${F16:-1}
NODE_DIR="$ROOT/tests/e2e/gguf"
[ -x "$BANYAN" ] || { echo "no banyan binary at $BANYAN (pass it as the first argument)" >&2; exit 2; }
command -v node >/dev/null || { echo "node is not installed" >&2; exit 2; }
if [ ! -d "$NODE_DIR/node_modules/@node-llama-cpp/linux-x64" ]; then
  (cd "$NODE_DIR" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --omit=optional \
      --ignore-scripts >/dev/null 2>&1) || { echo "npm cannot install node-llama-cpp" >&2; exit 2; }
fi
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true NODE_LLAMA_CPP_DIR="$NODE_DIR/node_modules/node-llama-cpp"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
# RESULTS_JSONL=FILE keeps the raw measurements and appends to them across invocations (the JSON then summarises
# all of them): runs can be split, and an interrupted run loses nothing. MODELS="" only summarises FILE.
if [ -n "${RESULTS_JSONL:-}" ]; then RESULTS=$RESULTS_JSONL; touch "$RESULTS"; else RESULTS="$TMP/results.jsonl"; : > "$RESULTS"; fi

model_dir() {
  case $1 in
    demo) echo "$ROOT/models/demo" ;;
    tiny) echo "$ROOT/../shared/models/tiny-qwen3moe" ;;
  esac
}

# label engine weights threads model_path -> appends {"label",...,"json": <bench output>} to $RESULTS
measure() {
  local label=$1 engine=$2 weights=$3 threads=$4 path=$5 load out
  load=$(cut -d' ' -f1 /proc/loadavg)
  if [ "$engine" = banyan ]; then
    out=$("$BANYAN" bench --model "$path" --threads "$threads")
  else
    out=$(node "$ROOT/tools/bench/llamacpp/bench.mjs" "$path" --threads "$threads")
  fi
  printf '{"model":"%s","engine":"%s","weights":"%s","threads":%s,"load1":%s,"run":%s}\n' \
    "$label" "$engine" "$weights" "$threads" "$load" "$out" >> "$RESULTS"
  echo "  $label $engine $weights threads=$threads load=$load" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for m in $MODELS; do
  dir=$(model_dir "$m")
  [ -d "$dir" ] || { echo "model $m absent ($dir): skipped" >&2; continue; }
  echo "preparing $m" >&2
  python3 "$ROOT/tools/bench/llamacpp/f32_checkpoint.py" "$dir" "$TMP/$m-f32"
  for t in f32 bf16 f16; do "$BANYAN" export gguf --model "$dir" --out "$TMP/$m-$t.gguf" --type "$t" >/dev/null; done
  for run in $(seq "$RUNS"); do
    echo "run $run/$RUNS of $m" >&2
    for th in $THREADS; do
      measure "$m" banyan f32 "$th" "$TMP/$m-f32"
      measure "$m" llama.cpp f32 "$th" "$TMP/$m-f32.gguf"
      measure "$m" banyan bf16 "$th" "$dir"
      measure "$m" llama.cpp bf16 "$th" "$TMP/$m-bf16.gguf"
      [ "$F16" = 0 ] || measure "$m" llama.cpp f16 "$th" "$TMP/$m-f16.gguf"
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$LOAD_BEFORE" "$LOAD_AFTER" "$RUNS" <<'PY'
import json, os, platform, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
metrics = ["prefill_tok_s", "decode_tok_s_batch1", "decode_tok_s_batch8"]
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["weights"], r["threads"], r["engine"]), []).append(r)
def median(key, rs):
    return round(statistics.median(r["run"][key] for r in rs), 1)
table = []
for (model, weights, threads, engine), rs in sorted(groups.items()):
    table.append({"model": model, "weights": weights, "threads": threads, "engine": engine, "runs": len(rs),
                  **{k: median(k, rs) for k in metrics},
                  "load1_during": [r["load1"] for r in rs]})
# Ratios banyan / llama.cpp on the same weights (banyan's bf16 is compared with llama.cpp's bf16 and f16).
ratios = []
for b in (t for t in table if t["engine"] == "banyan"):
    for l in (t for t in table if t["engine"] == "llama.cpp" and t["model"] == b["model"] and t["threads"] == b["threads"]):
        if b["weights"] == l["weights"] or (b["weights"] == "bf16" and l["weights"] == "f16"):
            ratios.append({"model": b["model"], "threads": b["threads"], "banyan_weights": b["weights"],
                           "llamacpp_weights": l["weights"],
                           **{k: round(b[k] / l[k], 2) if l[k] else None for k in metrics}})
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(json.dumps({
    "bench": "banyan-vs-llamacpp",
    "machine": {"cpu": cpu, "cores": os.cpu_count(), "loadavg_before": sys.argv[2], "loadavg_after": sys.argv[3]},
    "runs_per_invocation": int(sys.argv[4]), "statistic": "median over runs (each run: best of 3 inside the engine's bench)",
    "workload": {"prefill_tokens": 512, "decode_context": 64, "decode_steps": 64,
                 "banyan_kv": "f32", "llamacpp_kv": "f16 (its default)", "tokens": "random ids, fixed seed"},
    "results": table, "ratios_banyan_over_llamacpp": ratios}, indent=1))
PY
