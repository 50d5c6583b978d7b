#!/usr/bin/env bash
# On a 2-GPU machine (from the repository root, carrying .carry/cuda): models/demo packed into 2 nodes, node i served
# with `banyan serve --device cuda:i`, `banyan route` in front; chats through the router, and the same requests sent
# to CPU nodes serving the same bundles, greedy, for comparison. Prints the node each chat landed on and both answers.
set -euo pipefail
carry=$PWD/.carry/cuda
cublas=$(ls -d /usr/local/cuda/lib64 2>/dev/null; python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
export LD_LIBRARY_PATH=$carry/lib:$(echo "$cublas" | tr '\n' ':')${LD_LIBRARY_PATH:-}
B=$carry/banyan
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
nvidia-smi --query-gpu=index,name,memory.used --format=csv,noheader
"$B" plan --model models/demo --nodes 2 --scheme contiguous --out "$W/plan.json" >/dev/null
"$B" pack --model models/demo --plan "$W/plan.json" --out "$W/b" >/dev/null
for i in 0 1; do
  "$B" serve --model "$W/b/node-$i" --name banyan --port $((18100 + i)) --device cuda:$i > "$W/gpu-$i.log" 2>&1 &
  "$B" serve --model "$W/b/node-$i" --name banyan --port $((18200 + i)) --threads 2 > "$W/cpu-$i.log" 2>&1 &
done
for p in 18100 18101 18200 18201; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.2; done
done
"$B" route --port 18000 --node gpu-0=http://127.0.0.1:18100 --node gpu-1=http://127.0.0.1:18101 --placement likelihood \
  > "$W/route.log" 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:18000/health" >/dev/null && break; sleep 0.2; done
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader
same=0; total=0
for prompt in "Die Stadt liegt am Fluss und" "def parse_args(argv):" "The kernel module is loaded when" "La commande affiche"; do
  body=$(python3 -c 'import json,sys; print(json.dumps({"model":"banyan","messages":[{"role":"user","content":sys.argv[1]}],"max_tokens":24,"temperature":0,"user":sys.argv[1]}))' "$prompt")
  hdr=$(mktemp)
  ans=$(curl -s -D "$hdr" http://127.0.0.1:18000/v1/chat/completions -H 'Content-Type: application/json' -d "$body" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"])')
  node=$(grep -i '^x-banyan-node' "$hdr" | tr -d '\r' | awk '{print $2}')
  cpu_port=$((18200 + ${node#gpu-}))
  cpu=$(curl -s http://127.0.0.1:$cpu_port/v1/chat/completions -H 'Content-Type: application/json' -d "$body" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"])')
  total=$((total + 1)); [[ "$ans" == "$cpu" ]] && same=$((same + 1))
  printf '%s -> %s\n  cuda: %q\n  cpu:  %q\n' "$prompt" "$node" "$ans" "$cpu"
done
echo "greedy answers equal to the CPU node's: $same/$total"
grep -c "device" "$W/gpu-0.log" || true
head -5 "$W/gpu-0.log"
