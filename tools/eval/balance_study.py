#!/usr/bin/env python3
"""Issue 10 session 6: can an online rule meet <= 40 % per node at 4 nodes for less than the hard share cap costs?

Replays `auto` (least-loaded among the nodes within 0.075 of the best skip-8 prompt NLL, node_share_study.py's
place_share) with share-cap variants on `banyan eval quality --prompt-token-nll` JSONs:

  F=1              no cap (eval quality's default until session 6 round 2)
  hard F           the committed `--max-node-share F` rule: after 4 x nodes arrivals, a node that would hold more
                   than F of the arrivals so far is not eligible (best-scoring eligible node instead)
  quantile q       regret-aware: node b's demand p = share of the arrivals so far whose best score is b; while p > F
                   an arrival preferring b stays on b only if its prompt-NLL gap to its second node is among the
                   top q * F / p of the gaps b's preferrers have shown so far, else it goes to its second node;
                   the hard cap stays as the backstop
  dual T eta       online price per node (stochastic dual ascent): the score is prompt NLL + lambda_n, and after
                   each arrival lambda_n <- max(0, lambda_n + eta * ([placed on n] - T)); hard cap as backstop
  total-known F    a node closes at floor(F * S) sequences, S known in advance (a batch view: eval can, a router
                   cannot)
  capped oracle    minimum-cost assignment on the continuation NLL, at most floor(F * S) per node (batch bound)

"perfect-info" rows run the same online rule on the continuation NLL instead of the prompt score: what the rule
could reach if the score ranked the cost of moving a sequence exactly.

Orders: file (the protocol's: domains grouped), shuffled (seeds 1..5), skewed mixes (one domain at 40 % of 200
resampled, each domain in turn; file order or shuffled with seed k+1 for the k-th mix). Cells: ppl (vs F=1 in the
same orders, busiest node: mean / worst). --cv: 2-fold cross-validation of the quantile q on skewed shuffled mixes
(folds = alternate sequences of each domain).

Usage: balance_study.py --self-test
       balance_study.py [--share 0.4] [--kinds file,shuf,skewfile,skewshuf] [--cv] NAME=report.json ...
"""
import argparse
import math
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from placement_study import (Report, cap_count_of, evaluate, folds, make_skew_sets,  # noqa: E402
                             min_cost_assignment, oracle_choice, s_skip, subset)

MARGIN = 0.075
SKIP = 8
WARMUP_PER_NODE = 4


def load_reports(specs):
    """NAME=PATH report specs -> [(Report, per-sequence prompt scores with the first SKIP tokens skipped)]."""
    reps = []
    for spec in specs:
        name, _, path = spec.partition("=")
        rep = Report(name, path)
        reps.append((rep, [s_skip(SKIP)(rep.tokens[s], rep.probe[s]) for s in range(rep.S)]))
    return reps


def place(scores, share=1.0, quantile=None, dual=None, total_cap=None):
    """Online in order; scores [s][n], lower = better. Returns the node per sequence."""
    N = len(scores[0])
    warm = WARMUP_PER_NODE * N
    load, lam, demand = [0] * N, [0.0] * N, [0] * N
    gaps = [[] for _ in range(N)]
    out = []
    for s, raw in enumerate(scores):
        sc = [raw[n] + lam[n] for n in range(N)]
        elig = [n for n in range(N) if total_cap is None or load[n] < total_cap] or list(range(N))
        best = min(sc[n] for n in elig)
        pick = None
        for n in elig:
            if sc[n] > best + MARGIN:
                continue
            if pick is None or load[n] < load[pick] or (load[n] == load[pick] and sc[n] < sc[pick]):
                pick = n
        if quantile is not None and share < 1:
            order = sorted(range(N), key=lambda n: (raw[n], n))
            b, gap = order[0], raw[order[1]] - raw[order[0]]
            demand[b] += 1
            gaps[b].append(gap)
            p = demand[b] / (s + 1)
            if s >= warm and p > share and pick == b:
                keep = quantile * share / p
                ranked = sorted(gaps[b], reverse=True)
                threshold = ranked[min(len(ranked) - 1, max(0, int(keep * len(ranked)) - 1))]
                if gap < threshold:
                    pick = order[1]
        if share < 1 and s >= warm and load[pick] + 1 > share * (s + 1):
            ok = [n for n in range(N) if load[n] + 1 <= share * (s + 1)]
            pick = min(ok, key=lambda n: (sc[n], n)) if ok else min(range(N), key=lambda n: (load[n], sc[n], n))
        out.append(pick)
        load[pick] += 1
        if dual is not None:
            T, eta = dual
            for n in range(N):
                lam[n] = max(0.0, lam[n] + eta * ((n == pick) - T))
    return out


def orders(rep, kind, idx=None, seeds=5):
    idx = list(range(rep.S)) if idx is None else idx
    if kind == "file":
        return [idx]
    if kind == "shuf":
        out = []
        for k in range(1, seeds + 1):
            o = list(idx)
            random.Random(k).shuffle(o)
            out.append(o)
        return out
    sets = make_skew_sets(rep.domain, idx, sorted(set(rep.domain)), 0.4, random.Random(1))
    if kind == "skewfile":
        return sets
    out = []
    for k, st in enumerate(sets):
        o = list(st)
        random.Random(k + 1).shuffle(o)
        out.append(o)
    return out


def run(rep, scores, order_sets, rule):
    """rule(sub_report, sub_scores) -> choices. Returns (geometric-mean ppl, mean busiest, worst busiest)."""
    lp, busy = [], []
    for idx in order_sets:
        r = subset(rep, idx)
        p, b = evaluate(r, rule(r, [scores[i] for i in idx]))
        lp.append(math.log(p))
        busy.append(b)
    return math.exp(statistics.mean(lp)), statistics.mean(busy), max(busy)


def rules(F):
    prompt = lambda kw: (lambda r, sc: place(sc, **kw))  # noqa: E731
    perfect = lambda kw: (lambda r, sc: place([list(c) for c in r.cont], **kw))  # noqa: E731
    out = [("F=1 (default)", prompt({})), (f"hard {F:g} (--max-node-share)", prompt(dict(share=F)))]
    for q in (1.0, 1.1, 1.2):
        out.append((f"quantile q={q:g}", prompt(dict(share=F, quantile=q))))
    out.append(("dual T=0.38 eta=0.1", prompt(dict(share=F, dual=(0.38, 0.1)))))
    out.append((f"total-known {F:g} (batch view)", lambda r, sc: place(sc, total_cap=cap_count_of(F, r.S, r.N))))
    out.append(("perfect-info F=1", perfect({})))
    out.append((f"perfect-info hard {F:g}", perfect(dict(share=F))))
    out.append(("perfect-info quantile q=1.1", perfect(dict(share=F, quantile=1.1))))
    out.append((f"capped oracle {F:g} (batch)", lambda r, sc: min_cost_assignment(r.cont, cap_count_of(F, r.S, r.N))))
    return out


def self_test():
    """The replay equals node_share_study.py's (the C++ rule's) for F = 1 and the hard cap; every capped variant
    keeps each node at <= max(F * S, the warm-up, ceil(S / N)) sequences; the total-known cap never exceeds
    floor(F * S). Exits non-zero on failure."""
    from node_share_study import place_share
    rng = random.Random(7)
    for trial in range(300):
        N = rng.choice((2, 3, 4, 8))
        S = rng.randint(1, 120)
        hot = rng.randrange(N)
        sc = [[rng.gauss(0, 0.3) - (0.4 if n == hot and rng.random() < 0.6 else 0) for n in range(N)] for _ in range(S)]
        F = rng.choice((1.0, 0.5, 0.4, 0.3))
        warm = WARMUP_PER_NODE * N
        assert place(sc) == place_share(sc, MARGIN, 1.0, warm), trial
        assert place(sc, share=F) == place_share(sc, MARGIN, F, warm), trial
        if F * N < 1 or S <= warm:
            continue
        for kw in (dict(share=F), dict(share=F, quantile=1.1), dict(share=F, dual=(0.38, 0.1))):
            ch = place(sc, **kw)
            worst = max(ch.count(n) for n in range(N))
            assert worst <= max(F * S, warm, -(-S // N)), (trial, kw, worst, S)
        cap = cap_count_of(F, S, N)
        ch = place(sc, total_cap=cap)
        assert max(ch.count(n) for n in range(N)) <= cap, trial
    print("self-test: ok (300 random cases)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-test", action="store_true", help="check the replay against node_share_study.py and exit")
    ap.add_argument("reports", nargs="*")
    ap.add_argument("--share", type=float, default=0.4)
    ap.add_argument("--kinds", default="file,shuf,skewfile,skewshuf")
    ap.add_argument("--cv", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return
    if not args.reports:
        ap.error("no reports")
    reps = load_reports(args.reports)
    F = args.share
    label = {"file": "file order", "shuf": "shuffled x5", "skewfile": "skewed mixes, file order",
             "skewshuf": "skewed mixes, shuffled"}
    for kind in args.kinds.split(","):
        print(f"\n### {label[kind]}\n")
        print("| rule | " + " | ".join(f"{r.name} ({r.S} seq, {r.N} nodes)" for r, _ in reps) + " |")
        print("|---|" + "---|" * len(reps))
        base = {}
        for name, rule in rules(F):
            cells = []
            for rep, sc in reps:
                p, b, w = run(rep, sc, orders(rep, kind), rule)
                base.setdefault(rep.name, p)
                cells.append(f"{p:.3f} ({100 * (p / base[rep.name] - 1):+.1f} %, {100 * b:.0f} / {100 * w:.0f} %)")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.cv:
        qs = (0.9, 1.0, 1.1, 1.2, 1.3)
        print("\n### 2-fold CV of the quantile q (skewed shuffled mixes; objective: mean over the reports of log ppl)\n")
        for train, test in ((0, 1), (1, 0)):
            def obj(q, fold):
                v = []
                for rep, sc in reps:
                    sets = orders(rep, "skewshuf", folds(rep)[fold])
                    rule = (lambda r, s_: place(s_, share=F)) if q is None else \
                        (lambda r, s_, q=q: place(s_, share=F, quantile=q))
                    v.append(math.log(run(rep, sc, sets, rule)[0]))
                return statistics.mean(v)
            pick = min(qs, key=lambda q: obj(q, train))
            print(f"- {'AB'[train]} -> {'AB'[test]}: chose q={pick:g}: test {math.exp(obj(pick, test)):.4f} vs hard cap "
                  f"{math.exp(obj(None, test)):.4f} ({100 * (math.exp(obj(pick, test) - obj(None, test)) - 1):+.2f} %)")


if __name__ == "__main__":
    main()
