#!/usr/bin/env python3
"""Offline study of placement rules on `banyan eval quality --prompt-token-nll` reports (issue 10).

Every rule scores each (sequence, node) from what a node can compute on the prompt alone (its per-token prompt
NLLs, its probe mass), lower = better, and places the sequences online in report order (= file order, what the
router sees): the least-loaded node (sequences so far) among those whose score is within `margin` of the best
(ties: better score, then lower index); margin 0 = argmin. A load cap admits a node only while it holds fewer than
max(floor(cap * S), ceil(S / N)) sequences (S = sequences placed in total, known in advance: a batch view of
"max share"; at 2 nodes a 40 % cap is impossible and becomes 50 %).

The continuation NLL of the chosen node gives the ppl; the oracle (argmin continuation NLL) and the capped oracle
(minimum-cost assignment with at most floor(cap * S) sequences per node, an exact min-cost flow) bound what any
rule can reach.

Rules (families x parameters; each also with margins):
  mean        mean prompt NLL (session 3's C++ `auto` metric; margin 0.075 = quality::kAutoNllMargin)
  last N      mean NLL of the last N prompt tokens
  skip k      mean NLL of the prompt tokens after the first k (session 4's `auto`: k = 8, margin 0.075)
  clip c      mean of min(nll_t, c)
  median      median per-token NLL
  trim f      mean after dropping the worst fraction f of the node's tokens
  recency tau exponentially weighted mean, weight exp((t - T) / tau)
  excess c    mean of min(nll_t - best node's nll_t, c)
  vote        minus the fraction of prompt tokens on which the node has the lowest NLL
  mix l       mean NLL - l * log(probe mass)
  clip+mix    clip c, then - l * log(probe mass)

Rule selection is by 2-fold cross-validation: the sequences of each domain are split alternately into folds A
and B; a rule (family, parameter, margin) is chosen on one fold by the mean over the given reports (plans) of
log(ppl / oracle ppl), and scored on the other fold.

Usage: placement_study.py [--cap 0.4] [--skew-share 0.4] [--skip-grid] NAME=report.json ...
"""
import argparse
import json
import math
import random
import statistics
import sys

# ---------------------------------------------------------------------------------------------------------------
# Data


class Report:
    def __init__(self, name, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        self.name = name
        self.full_ppl = j["full_ppl"]
        seqs = j["sequences"]
        if not seqs or "prompt_token_nll" not in seqs[0]:
            sys.exit(f"{path}: no per-token prompt NLLs (run eval quality with --prompt-token-nll)")
        self.domain = [s["domain"] for s in seqs]
        self.cont = [s["continuation_nll"] for s in seqs]
        self.prompt = [s["prompt_nll"] for s in seqs]
        self.probe = [s["probe_mass"] for s in seqs]
        self.tokens = [s["prompt_token_nll"] for s in seqs]  # [s][n][t]
        # [s][n][t] continuation tokens, in reports from after that was added (else None)
        self.cont_tokens = [s["continuation_token_nll"] for s in seqs] if "continuation_token_nll" in seqs[0] else None
        self.S = len(seqs)
        self.N = len(self.cont[0])


def subset(rep, idx):
    """A shallow view of the report restricted to sequence indices idx (order kept)."""
    r = Report.__new__(Report)
    r.name, r.full_ppl, r.N = rep.name, rep.full_ppl, rep.N
    for k in ("domain", "cont", "prompt", "probe", "tokens"):
        setattr(r, k, [getattr(rep, k)[i] for i in idx])
    r.cont_tokens = None if rep.cont_tokens is None else [rep.cont_tokens[i] for i in idx]
    r.S = len(idx)
    return r


# ---------------------------------------------------------------------------------------------------------------
# Scores: f(tokens[n] lists, probe[n], ctx) -> list of N scores, lower = better


def s_mean(tok, probe):
    return [sum(t) / len(t) for t in tok]


def s_last(n):
    return lambda tok, probe: [sum(t[-n:]) / len(t[-n:]) for t in tok]


def s_skip(k):
    """Mean NLL of the prompt tokens after the first k (all of them when the prompt has no more than k)."""
    return lambda tok, probe: [sum(t[k:]) / len(t[k:]) if len(t) > k else sum(t) / len(t) for t in tok]


def s_clip(c):
    return lambda tok, probe: [sum(min(x, c) for x in t) / len(t) for t in tok]


def s_median(tok, probe):
    return [statistics.median(t) for t in tok]


def s_trim(f):
    def g(tok, probe):
        out = []
        for t in tok:
            k = len(t) - int(round(f * len(t)))
            u = sorted(t)[: max(k, 1)]
            out.append(sum(u) / len(u))
        return out
    return g


def s_recency(tau):
    def g(tok, probe):
        out = []
        for t in tok:
            T = len(t) - 1
            w = [math.exp((i - T) / tau) for i in range(len(t))]
            out.append(sum(a * b for a, b in zip(w, t)) / sum(w))
        return out
    return g


def s_vote(tok, probe):
    T = len(tok[0])
    wins = [0.0] * len(tok)
    for i in range(T):
        col = [t[i] for t in tok]
        b = min(col)
        best = [n for n, v in enumerate(col) if v == b]
        for n in best:
            wins[n] += 1.0 / len(best)
    return [-w / T for w in wins]


def s_excess(c):
    """Mean over tokens of min(nll_t(n) - min_m nll_t(m), c): the node's per-token excess over the best node,
    clipped, so one token a node gets badly wrong costs it at most c."""
    def g(tok, probe):
        T = len(tok[0])
        best = [min(t[i] for t in tok) for i in range(T)]
        return [sum(min(t[i] - best[i], c) for i in range(T)) / T for t in tok]
    return g


def s_mix(base, lam):
    def g(tok, probe):
        return [v - lam * math.log(max(p, 1e-6)) for v, p in zip(base(tok, probe), probe)]
    return g


def families():
    """name -> list of (parameter label, score function, margins)"""
    nll_margins = [0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15]
    fam = {
        "mean": [("", s_mean, nll_margins)],
        "last": [(f"N={n}", s_last(n), nll_margins) for n in (8, 16, 24, 32, 48)],
        "skip": [(f"k={k}", s_skip(k), nll_margins) for k in (2, 4, 8, 12, 16, 24)],
        "clip": [(f"c={c}", s_clip(c), nll_margins) for c in (1, 2, 3, 4, 6, 8)],
        "median": [("", s_median, nll_margins)],
        "trim": [(f"f={f}", s_trim(f), nll_margins) for f in (0.05, 0.1, 0.2, 0.3)],
        "recency": [(f"tau={t}", s_recency(t), nll_margins) for t in (8, 16, 32, 64)],
        "vote": [("", s_vote, [0.0, 0.02, 0.05, 0.1, 0.15])],
        "excess": [(f"c={c}", s_excess(c), nll_margins) for c in (0.25, 0.5, 1, 2, 4)],
        "mix": [(f"l={l}", s_mix(s_mean, l), nll_margins) for l in (0.02, 0.05, 0.1, 0.2, 0.5)],
        "clip+mix": [(f"c={c},l={l}", s_mix(s_clip(c), l), nll_margins) for c in (2, 4) for l in (0.05, 0.1, 0.2)],
    }
    return fam


# ---------------------------------------------------------------------------------------------------------------
# Placement


def cap_count_of(cap, S, N):
    return max(int(math.floor(cap * S)), -(-S // N))


def place(scores, margin, cap_count=None, penalty=None, running_cap=None):
    """Online, in order: least loaded among the eligible nodes within margin of the best eligible score.

    penalty = (share, beta): a node that holds more than `share` of the sequences so far has beta * (its share -
    share) added to its score. running_cap = (cap, warmup): after `warmup` sequences, a node whose share so far
    would exceed cap with this sequence is not eligible (a router does not know the total)."""
    N = len(scores[0])
    load = [0] * N
    out = []
    for s, sc in enumerate(scores):
        if penalty is not None and s > 0:
            share, beta = penalty
            sc = [v + beta * max(0.0, load[n] / s - share) for n, v in enumerate(sc)]
        elig = [n for n in range(N) if (cap_count is None or load[n] < cap_count) and
                (running_cap is None or s < running_cap[1] or load[n] + 1 <= running_cap[0] * (s + 1))]
        if not elig:
            elig = list(range(N))
        best = min(sc[n] for n in elig)
        pick = None
        for n in elig:
            if sc[n] > best + margin:
                continue
            if pick is None or load[n] < load[pick] or (load[n] == load[pick] and sc[n] < sc[pick]):
                pick = n
        out.append(pick)
        load[pick] += 1
    return out


def evaluate(rep, choice):
    nll = [rep.cont[s][n] for s, n in enumerate(choice)]
    load = [0] * rep.N
    for n in choice:
        load[n] += 1
    return math.exp(sum(nll) / len(nll)), max(load) / len(choice)


def oracle_choice(rep):
    return [min(range(rep.N), key=lambda n: c[n]) for c in rep.cont]


def min_cost_assignment(cost, cap_count):
    """Assign each row to a column, at most cap_count rows per column, minimising the summed cost.

    Successive shortest paths on the bipartite flow network (source -> rows -> columns -> sink), Bellman-Ford on
    the residual graph (small: S rows, N columns)."""
    S, N = len(cost), len(cost[0])
    assert cap_count * N >= S, "cap too small for the sequences"
    assign = [-1] * S
    used = [0] * N
    for r in range(S):
        # Shortest path from row r to a column with spare capacity, through reassignments of other rows:
        # dist over columns; moving row q from column a to column b costs cost[q][b] - cost[q][a].
        dist = [cost[r][n] for n in range(N)]
        prev = [None] * N  # (row moved into this column, column it came from) or None = row r placed here
        for _ in range(N):
            changed = False
            for q in range(r):
                a = assign[q]
                for b in range(N):
                    if b != a and dist[a] + cost[q][b] - cost[q][a] < dist[b] - 1e-12:
                        dist[b] = dist[a] + cost[q][b] - cost[q][a]
                        prev[b] = (q, a)
                        changed = True
            if not changed:
                break
        free = [n for n in range(N) if used[n] < cap_count]
        end = min(free, key=lambda n: dist[n])
        used[end] += 1
        n = end
        seen = set()
        while prev[n] is not None:
            q, a = prev[n]
            assert (q, n) not in seen
            seen.add((q, n))
            assign[q] = n
            n = a
        assign[r] = n
    return assign


# ---------------------------------------------------------------------------------------------------------------
# Study


def folds(rep):
    count = {}
    a, b = [], []
    for i, d in enumerate(rep.domain):
        k = count.get(d, 0)
        count[d] = k + 1
        (a if k % 2 == 0 else b).append(i)
    return a, b


def all_rules():
    for fam, params in families().items():
        for label, fn, margins in params:
            for m in margins:
                yield fam, label, fn, m


def score_table(reports, fn_cache):
    """{(fam, label, margin): [(ppl, oracle, busiest) per report]}"""
    res = {}
    oracles = []
    for rep in reports:
        o = oracle_choice(rep)
        oracles.append(evaluate(rep, o)[0])
    for fam, label, fn, m in all_rules():
        row = []
        for rep, orc in zip(reports, oracles):
            key = (rep.name, id(rep), fam, label)
            if key not in fn_cache:
                fn_cache[key] = [fn(rep.tokens[s], rep.probe[s]) for s in range(rep.S)]
            ppl, busy = evaluate(rep, place(fn_cache[key], m))
            row.append((ppl, orc, busy))
        res[(fam, label, m)] = row
    return res


PENALTY_SHARES = (1.2, 1.4, 1.6)
PENALTY_BETAS = (0.25, 0.5, 1, 2)


def make_skew_sets(domain, pool, domains, share, rng, total=200):
    """For each domain d: `total` sequences drawn with replacement from `pool`, d at `share`, the rest uniform,
    in report order."""
    by_dom = {x: [i for i in pool if domain[i] == x] for x in domains}
    sets = []
    for d in domains:
        n_d = int(round(share * total))
        rest = (total - n_d) // (len(domains) - 1)
        idx = []
        for x in domains:
            idx += sorted(rng.choice(by_dom[x]) for _ in range(n_d if x == d else rest))
        sets.append(sorted(idx))
    return sets


def skew_eval(rep, skew_sets, margin, mode, args, cache):
    """(mean ppl, mean oracle ppl, mean busiest share) over the skewed resamples."""
    ps, os_, bs = [], [], []
    sc_all = cache[(rep.name, id(rep), "mean", "")]
    for idx in skew_sets:
        if isinstance(mode, tuple) and mode[-1] == "shuffle":
            idx = list(idx)
            random.Random(args.seed).shuffle(idx)
        r = subset(rep, idx)
        cap_count = cap_count_of(args.cap, r.S, r.N)
        orc = evaluate(r, oracle_choice(r))[0]
        sc = [sc_all[i] for i in idx]
        if margin is None and mode is None:
            ch = oracle_choice(r)
        elif mode == "oracle":
            ch = min_cost_assignment(r.cont, cap_count)
        elif mode == "regret":
            ch = min_cost_assignment(r.prompt, cap_count)
        elif isinstance(mode, tuple) and mode[0] == "run":
            ch = place(sc, margin, running_cap=(max(args.cap, 1.0 / r.N), mode[1]))
        elif isinstance(mode, tuple) and mode[0] == "pen":
            ch = place(sc, margin, penalty=(min(1.0, mode[1] / r.N), mode[2]))
        else:
            ch = place(sc, margin, cap_count if mode == "cap" else None)
        p, b = evaluate(r, ch)
        ps.append(p)
        os_.append(orc)
        bs.append(b)
    skew_eval.worst_busiest = max(bs)
    return statistics.mean(ps), statistics.mean(os_), statistics.mean(bs)


def objective(row):
    return sum(math.log(p / o) for p, o, _ in row) / len(row)


def fmt_row(row):
    return " | ".join(f"{p:.3f} ({100 * (p / o - 1):+.1f} %, {100 * b:.0f} %)" for p, o, b in row)


def noise_floor(reports):
    """How well does even the known start of the continuation pick the node for the rest of it?"""
    print("## Noise floor: the continuation split in halves (tokens 64-159 | 160-255)\n")
    print("Scored on the second half only: its own argmin (the oracle's analogue), the argmin of the first half "
          "(96 known continuation tokens, more than any prompt rule sees), the prompt rules.\n")
    print(f"| choice | {' | '.join(r.name for r in reports)} |")
    print("|---|" + "---|" * len(reports))
    rows = {"second-half oracle": [], "first-half oracle (96 known tokens)": [], "likelihood (prompt)": [],
            "session-3 auto (prompt)": [], "session-4 auto (prompt)": [], "whole-continuation oracle": []}
    for rep in reports:
        half = len(rep.cont_tokens[0][0]) // 2
        first = [[sum(t[:half]) / half for t in c] for c in rep.cont_tokens]
        second = [[sum(t[half:]) / len(t[half:]) for t in c] for c in rep.cont_tokens]

        def score(choice):
            nll = [second[s][n] for s, n in enumerate(choice)]
            load = [choice.count(n) for n in range(rep.N)]
            return math.exp(sum(nll) / len(nll)), max(load) / len(choice)

        argmin = lambda m: [min(range(rep.N), key=lambda n: row[n]) for row in m]
        o2, b2 = score(argmin(second))
        for label, ch in (("second-half oracle", argmin(second)), ("first-half oracle (96 known tokens)", argmin(first)),
                          ("likelihood (prompt)", argmin(rep.prompt)),
                          ("session-3 auto (prompt)", place([s_mean(rep.tokens[s], rep.probe[s]) for s in range(rep.S)],
                                                          0.075)),
                          ("session-4 auto (prompt)", place([s_skip(8)(rep.tokens[s], rep.probe[s])
                                                             for s in range(rep.S)], 0.075)),
                          ("whole-continuation oracle", oracle_choice(rep))):
            p, b = score(ch)
            rows[label].append((p, o2, b))
    for k, row in rows.items():
        print(f"| {k} | {fmt_row(row)} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", help="NAME=report.json")
    ap.add_argument("--cap", type=float, default=0.4, help="max share of sequences per node for the capped rows")
    ap.add_argument("--skew-share", type=float, default=0.4,
                    help="share of the over-represented domain in the skewed resamples")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--select-per-domain", type=int, default=0,
                    help="study and select on the first K sequences of each domain only; the rest of each "
                         "report is a confirmation set for the rules chosen (0: no confirmation set)")
    ap.add_argument("--skip-grid", action="store_true",
                    help="only the auto constants: grid of skip k (0 = whole prompt) x margin, mean vs oracle, and its 2-fold CV")
    args = ap.parse_args()
    reports, confirm = [], []
    for spec in args.reports:
        name, _, path = spec.partition("=")
        rep = Report(name, path)
        if args.select_per_domain > 0:
            count, sel, rest = {}, [], []
            for i, d in enumerate(rep.domain):
                count[d] = count.get(d, 0) + 1
                (sel if count[d] <= args.select_per_domain else rest).append(i)
            if not rest:
                sys.exit(f"{path}: no sequences beyond the first {args.select_per_domain} per domain")
            confirm.append(subset(rep, rest))
            rep = subset(rep, sel)
        reports.append(rep)
    names = " | ".join(r.name for r in reports)
    print(f"# Placement study: {', '.join(f'{r.name} ({r.S} sequences, {r.N} nodes)' for r in reports)}\n")
    print("Cells: ppl (vs oracle, busiest node share).\n")

    # Whole set, every rule.
    cache = {}
    full = score_table(reports, cache)
    if args.skip_grid:
        margins = sorted({k[2] for k in full if k[0] == "skip"})
        print("## auto's constants: skip k x margin (mean over the reports of ppl / oracle - 1)\n")
        print("| skip k | " + " | ".join(f"{m}" for m in margins) + " |")
        print("|---|" + "---|" * len(margins))
        ks = [("mean", "")] + sorted({("skip", k[1]) for k in full if k[0] == "skip"}, key=lambda x: int(x[1][2:]))
        for fam, label in ks:
            cells = [f"{100 * (math.exp(objective(full[(fam, label, m)])) - 1):+.2f} %" for m in margins]
            print(f"| {label[2:] if label else 0} | " + " | ".join(cells) + " |")
        print()
        print(f"skip 8, margin 0.075 per report: {fmt_row(full[('skip', 'k=8', 0.075)])}")
        best = min((k for k in full if k[0] in ("mean", "skip")), key=lambda k: objective(full[k]))
        print(f"best in-sample: {best[0]} {best[1]} margin {best[2]}: {fmt_row(full[best])}\n")
        fold_reps = [[subset(rep, folds(rep)[k]) for rep in reports] for k in (0, 1)]
        tables = [score_table(fold_reps[k], {}) for k in (0, 1)]
        fixed = ("skip", "k=8", 0.075)
        print("2-fold CV over skip k (0 = mean) x margin: chosen on one fold, scored on the other (vs oracle); "
              "the fixed skip 8 / 0.075 on the same test fold:\n")
        for train, test in ((0, 1), (1, 0)):
            pick = min((k for k in tables[train] if k[0] in ("mean", "skip")),
                       key=lambda k: objective(tables[train][k]))
            print(f"- {'AB'[train]} -> {'AB'[test]}: chose {pick[0]} {pick[1]} margin {pick[2]}: "
                  f"{100 * (math.exp(objective(tables[test][pick])) - 1):+.2f} %; fixed: "
                  f"{100 * (math.exp(objective(tables[test][fixed])) - 1):+.2f} %")
        print()
        return
    print("## Whole set: bounds and the auto rules\n")
    print(f"| rule | {names} |")
    print("|---|" + "---|" * len(reports))
    orow = []
    for rep in reports:
        p, b = evaluate(rep, oracle_choice(rep))
        orow.append((p, p, b))
    print(f"| oracle | {fmt_row(orow)} |")
    print(f"| likelihood (mean, margin 0) | {fmt_row(full[('mean', '', 0.0)])} |")
    print(f"| session-3 auto (mean, margin 0.075) | {fmt_row(full[('mean', '', 0.075)])} |")
    print(f"| session-4 auto (skip k=8, margin 0.075) | {fmt_row(full[('skip', 'k=8', 0.075)])} |")
    best_per_family = {}
    for (fam, label, m), row in full.items():
        if fam not in best_per_family or objective(row) < objective(full[best_per_family[fam]]):
            best_per_family[fam] = (fam, label, m)
    for fam, key in best_per_family.items():
        print(f"| best {fam} in-sample ({key[1] or '-'}, margin {key[2]}) | {fmt_row(full[key])} |")
    print()

    # 2-fold cross-validation.
    fold_sets = [folds(rep) for rep in reports]
    fold_reps = [[subset(rep, fs[k]) for rep, fs in zip(reports, fold_sets)] for k in (0, 1)]
    tables = [score_table(fold_reps[k], {}) for k in (0, 1)]
    print("## 2-fold cross-validation (folds: alternate sequences of each domain)\n")
    print("Chosen on one fold by mean log(ppl / oracle) over the reports, scored on the other; "
          "test cells per report, then the mean ratio to the oracle over both test folds.\n")
    print(f"| family | chosen on A -> test B | chosen on B -> test A | mean test vs oracle | session-3 auto on the same folds |")
    print("|---|---|---|---|---|")
    cur = ("mean", "", 0.075)
    cur_obj = (objective(tables[1][cur]) + objective(tables[0][cur])) / 2
    cv_summary = []
    for fam in list(families()) + ["(any)"]:
        cells, objs = [], []
        for train, test in ((0, 1), (1, 0)):
            keys = [k for k in tables[train] if fam == "(any)" or k[0] == fam]
            best = min(keys, key=lambda k: objective(tables[train][k]))
            row = tables[test][best]
            objs.append(objective(row))
            cells.append(f"{best[0]} {best[1]} m={best[2]}: " + ", ".join(f"{p:.3f}" for p, _, _ in row))
        mean_obj = sum(objs) / 2
        cv_summary.append((mean_obj, fam))
        print(f"| {fam} | {cells[0]} | {cells[1]} | {100 * (math.exp(mean_obj) - 1):+.2f} % | "
              f"{100 * (math.exp(cur_obj) - 1):+.2f} % |")
    print()

    # Load cap.
    print(f"## Load cap {args.cap:.0%} (online, report order) and the capped oracle\n")
    print(f"| rule | {names} |")
    print("|---|" + "---|" * len(reports))
    rows = {"capped oracle (min-cost assignment)": [], "capped likelihood regret (batch min-cost on prompt NLL)": [],
            "session-3 auto + cap": [], "session-3 auto + cap, shuffled order": []}
    for rep in reports:
        cap_count = cap_count_of(args.cap, rep.S, rep.N)
        o = oracle_choice(rep)
        orc = evaluate(rep, o)[0]
        a = min_cost_assignment(rep.cont, cap_count)
        p, b = evaluate(rep, a)
        rows["capped oracle (min-cost assignment)"].append((p, orc, b))
        a = min_cost_assignment([[x for x in r] for r in rep.prompt], cap_count)
        p, b = evaluate(rep, a)
        rows["capped likelihood regret (batch min-cost on prompt NLL)"].append((p, orc, b))
        sc = cache[(rep.name, id(rep), "mean", "")]
        p, b = evaluate(rep, place(sc, 0.075, cap_count))
        rows["session-3 auto + cap"].append((p, orc, b))
        order = list(range(rep.S))
        random.Random(args.seed).shuffle(order)
        sh = subset(rep, order)
        p, b = evaluate(sh, place([sc[i] for i in order], 0.075, cap_count))
        rows["session-3 auto + cap, shuffled order"].append((p, orc, b))
    for k, row in rows.items():
        print(f"| {k} | {fmt_row(row)} |")
    print()

    # Skewed domain mixes: one domain over-represented at skew-share (resampled with replacement), the rest uniform.
    domains = sorted(set(reports[0].domain))
    print(f"## Skewed mixes: one domain at {args.skew_share:.0%} of 200 resampled sequences (report order kept), "
          f"mean over the {len(domains)} choices of that domain\n")
    print("Cells: ppl (vs oracle, busiest node share: mean / worst over the 8 mixes).\n")
    print("Load penalty (s, beta): a node holding more than s / nodes of the sequences so far gets "
          "beta * (its share - s / nodes) added to its prompt NLL before the 0.075 near-tie rule.\n")
    print("| rule | " + names + " |")
    print("|---|" + "---|" * len(reports))
    all_idx = list(range(reports[0].S))
    skew_sets = make_skew_sets(reports[0].domain, all_idx, domains, args.skew_share, random.Random(args.seed))
    variants = [("oracle (uncapped)", None, None), ("capped oracle", None, "oracle"),
                ("capped likelihood regret (batch)", None, "regret"),
                ("likelihood", 0.0, None), ("session-3 auto", 0.075, None),
                ("session-3 auto + cap (total known)", 0.075, "cap"),
                (f"session-3 auto + running cap {args.cap:.0%} after 20", 0.075, ("run", 20)),
                (f"session-3 auto + running cap {args.cap:.0%} after 20, shuffled", 0.075, ("run", 20, "shuffle"))]
    for rel in PENALTY_SHARES:
        for beta in PENALTY_BETAS:
            variants.append((f"session-3 auto + penalty s={rel} beta={beta}", 0.075, ("pen", rel, beta)))
    variants.append((f"session-3 auto + penalty s=1.4 beta=1, shuffled", 0.075, ("pen", 1.4, 1, "shuffle")))
    for label, margin, mode in variants:
        row, worst = [], []
        for rep in reports:
            row.append(skew_eval(rep, skew_sets, margin, mode, args, cache))
            worst.append(skew_eval.worst_busiest)
        cells = [f"{p:.3f} ({100 * (p / o - 1):+.1f} %, {100 * b:.0f} % / {100 * w:.0f} %)"
                 for (p, o, b), w in zip(row, worst)]
        print(f"| {label} | {' | '.join(cells)} |")
    print()

    # Penalty chosen by 2-fold CV on skewed mixes: the lowest mean log(ppl / oracle) over the reports among the
    # (s, beta) whose mean busiest share on the reports of >= 1 / cap nodes stays <= cap on the selection fold.
    print(f"## Load penalty chosen by 2-fold CV on skewed mixes (busiest <= {args.cap:.0%} on the selection fold)\n")
    print(f"| fold | chosen | {names} (chosen penalty, test fold) | {names} (session-3 auto, test fold) |")
    print("|---|---|" + "---|" * (2 * len(reports)))
    for train, test in ((0, 1), (1, 0)):
        fs = folds(reports[0])
        tr_sets = make_skew_sets(reports[0].domain, fs[train], domains, args.skew_share, random.Random(args.seed))
        te_sets = make_skew_sets(reports[0].domain, fs[test], domains, args.skew_share, random.Random(args.seed))
        best = None
        for rel in PENALTY_SHARES:
            for beta in PENALTY_BETAS:
                rows = [skew_eval(rep, tr_sets, 0.075, ("pen", rel, beta), args, cache) for rep in reports]
                busy = [b for rep, (_, _, b) in zip(reports, rows) if rep.N * args.cap >= 1]
                if busy and max(busy) > args.cap:
                    continue
                obj = objective(rows)
                if best is None or obj < best[0]:
                    best = (obj, rel, beta)
        if best is None:
            print(f"| {'AB'[train]} -> {'AB'[test]} | none meets the cap |" + " |" * (2 * len(reports)))
            continue
        _, rel, beta = best
        row = [skew_eval(rep, te_sets, 0.075, ("pen", rel, beta), args, cache) for rep in reports]
        cur_row = [skew_eval(rep, te_sets, 0.075, None, args, cache) for rep in reports]
        print(f"| {'AB'[train]} -> {'AB'[test]} | s={rel} beta={beta} | {fmt_row(row)} | {fmt_row(cur_row)} |")
    print()

    print("CV summary (mean test ppl vs oracle): " +
          ", ".join(f"{fam} {100 * (math.exp(o) - 1):+.2f} %" for o, fam in sorted(cv_summary)))

    if all(r.cont_tokens is not None for r in reports):
        noise_floor(reports)

    if confirm:
        print(f"\n## Confirmation set: the sequences after the first {args.select_per_domain} of each domain "
              f"({', '.join(f'{r.name} {r.S}' for r in confirm)}), each family's rule chosen on the whole "
              "selection set\n")
        ctab = score_table(confirm, {})
        print(f"| rule | {' | '.join(r.name for r in confirm)} | mean vs oracle |")
        print("|---|" + "---|" * (len(confirm) + 1))
        orow = []
        for rep in confirm:
            p, b = evaluate(rep, oracle_choice(rep))
            orow.append((p, p, b))
        print(f"| oracle | {fmt_row(orow)} | |")
        shown = [("likelihood", ("mean", "", 0.0)), ("session-3 auto (mean m=0.075)", cur),
                 ("session-4 auto (skip k=8 m=0.075)", ("skip", "k=8", 0.075))]
        shown += [(f"{k[0]} {k[1]} m={k[2]}", k) for k in best_per_family.values()]
        for label, k in shown:
            row = ctab[k]
            print(f"| {label} | {fmt_row(row)} | {100 * (math.exp(objective(row)) - 1):+.2f} % |")


if __name__ == "__main__":
    main()
