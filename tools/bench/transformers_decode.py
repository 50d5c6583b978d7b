#!/usr/bin/env python3
"""transformers baseline for issue 11: greedy decode tok/s of a Qwen3-MoE built from a config with random bf16
weights initialised on the GPU (no download). Prints one JSON object.

    python3 tools/bench/transformers_decode.py --config tools/bench/configs/qwen3-30b-a3b.json
"""
import argparse
import json
import time

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM


def decode_tok_s(model, batch, context, steps, vocab):
    gen = torch.Generator(device="cuda").manual_seed(batch)
    ids = torch.randint(3, vocab, (batch, context), device="cuda", generator=gen)
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(3):  # warm-up
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    return batch * steps / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    cfg = AutoConfig.from_pretrained(a.config)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model, experts_impl, errors = None, None, []
    # transformers 5 offers grouped_mm experts; try it first, then the default implementation.
    for kwargs in ({"dtype": torch.bfloat16, "experts_implementation": "grouped_mm"}, {"dtype": torch.bfloat16}):
        try:
            with torch.device("cuda"):
                model = AutoModelForCausalLM.from_config(cfg, **kwargs)
            experts_impl = kwargs.get("experts_implementation", "default")
            break
        except Exception as e:  # noqa: BLE001 - report and fall back
            errors.append(f"{kwargs.get('experts_implementation', 'default')}: {e}")
    if model is None:
        raise SystemExit("could not build the model: " + "; ".join(errors))
    model.eval()
    torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    res = {
        "bench": "transformers_decode",
        "device": torch.cuda.get_device_name(),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model_class": type(model).__name__,
        "attn_implementation": cfg._attn_implementation,
        "experts_implementation": getattr(model.config, "_experts_implementation", None) or experts_impl,
        "fallback_errors": errors,
        "params": sum(p.numel() for p in model.parameters()),
        "load_seconds": load_s,
        "decode_context": a.context,
        "batch1_decode_tok_s": decode_tok_s(model, 1, a.context, a.steps, cfg.vocab_size),
        "concurrent_sequences": a.batch,
        "aggregate_decode_tok_s": decode_tok_s(model, a.batch, a.context, max(4, a.steps // 2), cfg.vocab_size),
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
