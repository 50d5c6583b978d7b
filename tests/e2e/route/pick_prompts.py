"""Held-out prompts that clearly belong to one calibration cluster of a plan, with the node that serves it.

A domain "clearly belongs" to a cluster when at least --share of its calibration documents fell in that cluster.
Prompts are windows from the middle of held-out documents (the starts of C headers are licence boilerplate shared
by every file). Prints a JSON list of {"domain", "node", "cluster", "prompt"}.
usage: pick_prompts.py PLAN.json HELDOUT.jsonl.xz [--per-domain N] [--chars C] [--share S]
"""
import argparse
import json
import lzma

ap = argparse.ArgumentParser()
ap.add_argument("plan")
ap.add_argument("heldout")
ap.add_argument("--per-domain", type=int, default=3)
ap.add_argument("--chars", type=int, default=600)
ap.add_argument("--share", type=float, default=0.75)
a = ap.parse_args()

plan = json.load(open(a.plan))
node_of_cluster = {n["cluster"]: n["name"] for n in plan["nodes"] if n.get("cluster", -1) >= 0}
totals, best = {}, {}
for c in plan.get("clusters", []):
    for dom, docs in c.get("domains", {}).items():
        totals[dom] = totals.get(dom, 0) + docs
        if docs > best.get(dom, (-1, 0))[1]:
            best[dom] = (c["index"], docs)
clear = {d: best[d][0] for d in totals if totals[d] > 0 and best[d][1] / totals[d] >= a.share
         and best[d][0] in node_of_cluster}

out, taken = [], {}
with lzma.open(a.heldout, "rt", encoding="utf-8") as f:
    for line in f:
        doc = json.loads(line)
        dom, text = doc["domain"], doc["text"]
        if dom not in clear or taken.get(dom, 0) >= a.per_domain or len(text) < 2 * a.chars:
            continue
        start = text.find("\n", len(text) // 3) + 1
        prompt = text[start:start + a.chars]
        taken[dom] = taken.get(dom, 0) + 1
        out.append({"domain": dom, "cluster": clear[dom], "node": node_of_cluster[clear[dom]], "prompt": prompt})
print(json.dumps(out))
