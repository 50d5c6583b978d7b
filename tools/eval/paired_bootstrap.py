#!/usr/bin/env python3
"""Paired bootstrap of two `eval quality --prompt-token-nll` runs on the same sequences (issue 10).

For each run, every sequence's `auto` choice is replayed with placement_study's rule (prompt NLL without the first
8 tokens, margin 0.075, least loaded among the near-best nodes, file order, no node share cap: session 5's
placement, not eval quality's defaults since session 6 round 2) and held fixed; the oracle is each
sequence's best node. Prints B vs A: the change of exp(mean NLL) in percent and a 95 % interval from 2000
resamples of sequences within domains (seed 1). Session 5 and 6 numbers in src/plan/QUALITY_EXPERIMENTS.md.

Usage: paired_bootstrap.py A.json B.json
"""
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import placement_study as ps  # noqa: E402


def per_seq(path):
    rep = ps.Report("x", path)
    scores = [ps.s_skip(8)(rep.tokens[s], rep.probe[s]) for s in range(rep.S)]
    ch = ps.place(scores, 0.075)
    return rep.domain, [rep.cont[s][ch[s]] for s in range(rep.S)], [min(rep.cont[s]) for s in range(rep.S)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = sys.argv[1], sys.argv[2]
    dom, a1, o1 = per_seq(a)
    dom2, a2, o2 = per_seq(b)
    if dom != dom2:
        sys.exit("the two runs did not score the same sequences")
    by = {}
    for i, d in enumerate(dom):
        by.setdefault(d, []).append(i)
    rng = random.Random(1)
    S = len(dom)
    for name, x, y in (("auto", a1, a2), ("oracle", o1, o2)):
        point = math.exp(sum(y) / S - sum(x) / S)
        bs = []
        for _ in range(2000):
            idx = [rng.choice(v) for v in by.values() for _ in v]
            bs.append(math.exp(sum(y[i] - x[i] for i in idx) / len(idx)))
        bs.sort()
        print(f"{b} vs {a}: {name} {100 * (point - 1):+.1f} % [{100 * (bs[50] - 1):+.1f}, {100 * (bs[1949] - 1):+.1f}]")


if __name__ == "__main__":
    main()
