#!/usr/bin/env python3
"""Issue 10 session 6 round 2: the default node share cap F = min(1, L / nodes), L chosen on corpus-train.

Replays `auto` (balance_study.place: least loaded among the nodes within 0.075 of the best skip-8 prompt NLL, the
hard running cap after 4 x nodes arrivals; the C++ rule) on `banyan eval quality --prompt-token-nll` JSONs, with
the arrivals in `eval quality`'s seeded shuffled order (arrival_permutation in src/eval/placement.cc, replicated
here bit for bit: splitmix64 + Fisher-Yates), for a grid of load factors L:

  uniform   the report's sequences, shuffled with seeds 1..5 (seed 1 = eval quality's default)
  skewed    one domain at 40 % of 200 sequences resampled (placement_study.make_skew_sets, each domain in turn),
            the k-th mix shuffled with seed k + 1
  file      the report's sequences in file order (the protocol's; domains grouped)

Cells: ppl (vs L = inf, i.e. no cap, in the same orders; busiest node mean / worst over the orders).

Usage: load_factor_study.py --self-test
       load_factor_study.py [--factors 1.2,1.4,1.6,2,inf] [--kinds shuf,skewshuf] NAME=report.json ...
"""
import argparse
import math
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from balance_study import load_reports, place  # noqa: E402
from placement_study import evaluate, make_skew_sets, subset  # noqa: E402

MASK = (1 << 64) - 1


def arrival_permutation(S, seed):
    """The C++ arrival_permutation(S, Shuffled, seed)."""
    p = list(range(S))
    state = seed & MASK

    def nxt():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    for i in range(S - 1, 0, -1):
        j = nxt() % (i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def share_of(L, N):
    return 1.0 if L == math.inf else min(1.0, L / N)


def order_sets(rep, kind, seeds=5):
    idx = list(range(rep.S))
    if kind == "file":
        return [idx]
    if kind == "shuf":
        return [[idx[i] for i in arrival_permutation(len(idx), k)] for k in range(1, seeds + 1)]
    sets = make_skew_sets(rep.domain, idx, sorted(set(rep.domain)), 0.4, random.Random(1))
    if kind == "skewfile":
        return sets
    return [[st[i] for i in arrival_permutation(len(st), k + 1)] for k, st in enumerate(sets)]


def run(rep, scores, sets, F):
    lp, busy = [], []
    for idx in sets:
        r = subset(rep, idx)
        p, b = evaluate(r, place([scores[i] for i in idx], share=F))
        lp.append(math.log(p))
        busy.append(b)
    return math.exp(statistics.mean(lp)), statistics.mean(busy), max(busy)


def self_test():
    # The permutation the C++ unit test pins (tests/unit/eval/placement_test.cc ArrivalOrder.SeededShuffle).
    assert arrival_permutation(10, 1) == EXPECTED_SEED1_10, arrival_permutation(10, 1)
    for S in (0, 1, 2, 7, 143, 200):
        for seed in (0, 1, 2, 99):
            assert sorted(arrival_permutation(S, seed)) == list(range(S))
    rng = random.Random(3)
    for trial in range(200):
        N = rng.choice((2, 4, 8))
        S = rng.randint(N * 5, 150)
        sc = [[rng.gauss(0, 0.3) - (0.5 if n == 0 and rng.random() < 0.7 else 0) for n in range(N)] for _ in range(S)]
        F = share_of(1.6, N)
        ch = place(sc, share=F)
        assert max(ch.count(n) for n in range(N)) <= max(F * S, 4 * N), (trial, N, S)
    print("self-test: ok")


EXPECTED_SEED1_10 = [4, 2, 8, 1, 9, 3, 0, 6, 7, 5]  # the same constant as the C++ test's


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("reports", nargs="*")
    ap.add_argument("--factors", default="1.2,1.4,1.5,1.6,1.8,2,inf")
    ap.add_argument("--kinds", default="shuf,skewshuf")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return
    if not args.reports:
        ap.error("no reports")
    reps = load_reports(args.reports)
    factors = [math.inf if f == "inf" else float(f) for f in args.factors.split(",")]
    label = {"file": "file order", "shuf": "uniform, shuffled seeds 1-5", "skewfile": "skewed mixes, file order",
             "skewshuf": "skewed mixes (one domain at 40 %), shuffled"}
    for kind in args.kinds.split(","):
        print(f"\n### {label[kind]}\n")
        print("| L | " + " | ".join(f"{r.name} ({r.N} nodes)" for r, _ in reps) + " |")
        print("|---|" + "---|" * len(reps))
        rows = {}
        for rep, sc in reps:
            sets = order_sets(rep, kind)
            base = run(rep, sc, sets, 1.0)
            for L in factors:
                F = share_of(L, rep.N)
                p, b, w = base if F >= 1 else run(rep, sc, sets, F)
                rows.setdefault(L, []).append(
                    f"{p:.3f} ({100 * (p / base[0] - 1):+.1f} %, F {F:.2f}, {100 * b:.0f} / {100 * w:.0f} %)")
        for L in factors:
            print(f"| {L:g} | " + " | ".join(rows[L]) + " |", flush=True)


if __name__ == "__main__":
    main()
