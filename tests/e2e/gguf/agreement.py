"""How long llama.cpp's greedy continuation agrees with banyan's on the same checkpoint, allowing near-ties.

usage: agreement.py BANYAN MODEL_DIR PROMPT_IDS LLAMA_IDS N NEED LABEL   (ids comma-separated)

Walks llama.cpp's tokens; from each point banyan continues greedily from the same prefix (`banyan generate
--prompt-ids`). Where the two pick different tokens, banyan's next-token logits on that prefix (`banyan eval nll`)
decide: a gap below TIE_LOGITS between banyan's pick and llama.cpp's is a near-tie (bf16/f16 rounding of
activations flips it), llama.cpp's token is taken and the walk goes on; a larger gap ends it. Prints the strict
agreement (first difference), the agreement through near-ties and their count; exits 1 when the latter < NEED.
"""
import json
import subprocess
import sys

TIE_LOGITS = 0.05


def ids(text):
    return [int(x) for x in text.split(",") if x]


def generate(banyan, model, ctx, n):
    out = subprocess.run([banyan, "generate", "--model", model, "--prompt-ids", ",".join(map(str, ctx)),
                          "--max-tokens", str(n), "--temperature", "0", "--threads", "1"],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()
    return ids(out[-1]) if out else []


def top_logits(banyan, model, ctx):
    out = subprocess.run([banyan, "eval", "nll", "--model", model, "--jsonl", "-", "--threads", "1"],
                         input=json.dumps({"ids": ctx}) + "\n", check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return dict(zip(r["top_ids"], r["top_logits"]))


def main():
    banyan, model, prompt, llama, n, need, label = sys.argv[1:8]
    prompt, llama, n, need = ids(prompt), ids(llama), int(n), int(need)
    m = min(len(llama), n)
    ctx, agreed, ties, strict, gaps = list(prompt), 0, 0, None, []
    while agreed < m:
        b = generate(banyan, model, ctx, m - agreed)
        same = next((i for i in range(min(len(b), m - agreed)) if b[i] != llama[agreed + i]), min(len(b), m - agreed))
        ctx += llama[agreed:agreed + same]
        agreed += same
        if agreed >= m or same >= len(b):  # done, or banyan stopped (EOS) where llama.cpp went on
            break
        if strict is None:
            strict = agreed
        top = top_logits(banyan, model, ctx)
        gap = top[b[same]] - top[llama[agreed]] if llama[agreed] in top and b[same] in top else float("inf")
        if gap > TIE_LOGITS:
            break
        gaps.append(round(gap, 4))
        ties += 1
        ctx.append(llama[agreed])
        agreed += 1
    strict = agreed if strict is None else strict
    print(f"{label}: {strict}/{m} greedy tokens equal, {agreed}/{m} through {ties} near-tie(s) {gaps} (need {need})")
    if agreed < min(need, m):
        print(f"FAIL llama.cpp {llama[:m]} banyan {generate(banyan, model, list(prompt), m)}")
        sys.exit(1)


main()
