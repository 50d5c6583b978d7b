#!/usr/bin/env python3
"""One line per `banyan bench --device cuda` result on stdin (JSON lines {"label": ..., "result": {...}} as
scripts/cuda/ab_bench.sh writes them, or bare bench JSON): the figures compared across builds and dtypes."""
import json
import sys

FIELDS = [("b1", "batch1_decode_tok_s"), ("frac", "batch1_fraction_of_roofline"), ("roof", "roofline_tok_s"),
          ("b32", "aggregate_decode_tok_s"), ("b32_sampled", "aggregate_decode_sampled_tok_s"),
          ("b32_host_sampled", "aggregate_decode_sampled_on_host_tok_s"), ("prefill", "prefill_tok_s"),
          ("ttft", "ttft_seconds"), ("held", "weight_bytes_held")]

for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        print(line.rstrip()[:300])
        continue
    r = d.get("result", d) if isinstance(d, dict) else None
    if not isinstance(r, dict):
        print(d.get("label", "?"), "no result")
        continue
    parts = [str(d.get("label", "")), str(r.get("device")), str(r.get("expert_dtype", ""))]
    for name, key in FIELDS:
        v = r.get(key)
        parts.append(f"{name}={round(v, 4) if isinstance(v, float) else v}")
    print(" ".join(parts))
