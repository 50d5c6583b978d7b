#!/usr/bin/env python3
"""Offline study of the `auto` placement's node share cap (`--max-node-share F`, issue 10 target (b)).

The rule (src/eval/placement.cc, src/route/placement.cc): online, in arrival order, the least-loaded node among
those whose score (prompt NLL without the first 8 prompt targets) is within `margin` (0.075) of the best; once
`warmup` sequences have been placed (default 4 x nodes), a node that would then hold more than F of the sequences
placed so far is not eligible: if the usual choice is not, the best-scoring eligible node takes the sequence (none
eligible, e.g. F < 1 / nodes: the least-loaded node, ties by score).

Reports: `banyan eval quality --prompt-token-nll` JSONs (placement_study.py's Report). Cells: ppl (vs the oracle of
the same sequences, busiest node's share). Orders: file order (the protocol's; heldout-dev and the tail split group
domains, the worst case for an online cap) and seeded shuffles (mean over seeds; busiest = worst seed).

Usage: node_share_study.py [--shares 1,0.5,0.4] [--seeds 5] [--skew] [--warmups 0,2,4,8] NAME=report.json ...
"""
import argparse
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from placement_study import (Report, cap_count_of, evaluate, make_skew_sets, min_cost_assignment,  # noqa: E402
                             oracle_choice, s_skip, subset)

MARGIN = 0.075
SKIP = 8


def place_share(scores, margin, share, warmup):
    """Returns the node per sequence (scores: [s][n], lower = better)."""
    N = len(scores[0])
    load = [0] * N
    out = []
    for s, sc in enumerate(scores):
        best = min(sc)
        pick = None
        for n in range(N):
            if sc[n] > best + margin:
                continue
            if pick is None or load[n] < load[pick] or (load[n] == load[pick] and sc[n] < sc[pick]):
                pick = n
        if share < 1 and s >= warmup and load[pick] + 1 > share * (s + 1):
            elig = [n for n in range(N) if load[n] + 1 <= share * (s + 1)]
            if elig:
                pick = min(elig, key=lambda n: (sc[n], n))
            else:
                pick = min(range(N), key=lambda n: (load[n], sc[n], n))
        out.append(pick)
        load[pick] += 1
    return out


def run(rep, idx, share, warmup_per_node, scores):
    r = subset(rep, idx)
    sc = [scores[i] for i in idx]
    ppl, busy = evaluate(r, place_share(sc, MARGIN, share, warmup_per_node * r.N))
    orc = evaluate(r, oracle_choice(r))[0]
    return ppl, orc, busy


def capped_oracle(rep, idx, share):
    r = subset(rep, idx)
    cap = cap_count_of(share, r.S, r.N)
    ppl, busy = evaluate(r, min_cost_assignment(r.cont, cap))
    return ppl, evaluate(r, oracle_choice(r))[0], busy


def cell(rows):
    """rows: [(ppl, oracle, busiest)] over orders/mixes -> 'mean ppl (+x % vs oracle, mean busiest / worst)'."""
    p = statistics.mean(x[0] for x in rows)
    o = statistics.mean(x[1] for x in rows)
    b = [x[2] for x in rows]
    if len(rows) == 1:
        return f"{p:.3f} ({100 * (p / o - 1):+.1f} %, {100 * b[0]:.0f} %)"
    return f"{p:.3f} ({100 * (p / o - 1):+.1f} %, {100 * statistics.mean(b):.0f} % / {100 * max(b):.0f} %)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--shares", default="1,0.5,0.4")
    ap.add_argument("--warmups", default="4", help="warm-up in sequences per node (comma list)")
    ap.add_argument("--seeds", type=int, default=5, help="shuffled arrival orders (seeds 1..K)")
    ap.add_argument("--skew", action="store_true", help="also the skewed mixes (one domain at 40 %% of 200)")
    ap.add_argument("--capped-oracle", action="store_true")
    args = ap.parse_args()
    shares = [float(x) for x in args.shares.split(",")]
    warmups = [int(x) for x in args.warmups.split(",")]
    reps = []
    for spec in args.reports:
        name, _, path = spec.partition("=")
        rep = Report(name, path)
        reps.append((rep, [s_skip(SKIP)(rep.tokens[s], rep.probe[s]) for s in range(rep.S)]))
    names = " | ".join(f"{r.name} ({r.S} seq, {r.N} nodes)" for r, _ in reps)
    print(f"| F | warm-up / node | order | {names} |")
    print("|---|---|---|" + "---|" * len(reps))
    for F in shares:
        for w in warmups:
            if F >= 1 and w != warmups[0]:
                continue
            row_file, row_shuf = [], []
            for rep, sc in reps:
                idx = list(range(rep.S))
                row_file.append(cell([run(rep, idx, F, w, sc)]))
                sh = []
                for seed in range(1, args.seeds + 1):
                    o = list(idx)
                    random.Random(seed).shuffle(o)
                    sh.append(run(rep, o, F, w, sc))
                row_shuf.append(cell(sh))
            print(f"| {F:g} | {w} | file | {' | '.join(row_file)} |")
            if args.seeds:
                print(f"| {F:g} | {w} | shuffled x{args.seeds} | {' | '.join(row_shuf)} |")
            if args.skew:
                rf, rs = [], []
                for rep, sc in reps:
                    domains = sorted(set(rep.domain))
                    sets = make_skew_sets(rep.domain, list(range(rep.S)), domains, 0.4, random.Random(1))
                    rf.append(cell([run(rep, idx, F, w, sc) for idx in sets]))
                    sh = []
                    for k, idx in enumerate(sets):
                        o = list(idx)
                        random.Random(k + 1).shuffle(o)
                        sh.append(run(rep, o, F, w, sc))
                    rs.append(cell(sh))
                print(f"| {F:g} | {w} | skewed mixes, file | {' | '.join(rf)} |")
                print(f"| {F:g} | {w} | skewed mixes, shuffled | {' | '.join(rs)} |")
    if args.capped_oracle:
        for F in shares:
            if F >= 1:
                continue
            row = [cell([capped_oracle(rep, list(range(rep.S)), F)]) for rep, _ in reps]
            print(f"| capped oracle {F:g} | - | any | {' | '.join(row)} |")


if __name__ == "__main__":
    main()
