#!/usr/bin/env python3
"""Summarises an `ncu --csv --metrics gpu__time_duration.sum` log of one decode step (profile_step.sh): total GPU
time per kernel (count, sum, mean, share), then the kernel sequence of the middle layer of the step."""
import csv
import sys


def short(name):
    for anon in ("(anonymous namespace)::", "<unnamed>::", "unnamed>::"):
        name = name.replace(anon, "")
    name = name.split("(")[0]
    if name.startswith("void "):
        name = name[5:]
    depth, out = 0, []
    for ch in name:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out).split("::")[-1].strip() or name


def main(path):
    lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        print("no ncu rows in", path)
        print("\n".join(lines[-20:]))
        return
    rows = []
    for r in csv.DictReader(lines[start:]):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        v = float(r["Metric Value"].replace(",", ""))
        unit = r.get("Metric Unit", "nsecond")
        us = v / 1000.0 if unit.startswith("n") else v if unit.startswith("u") else v * 1000.0 if unit.startswith("m") else v * 1e6
        rows.append((short(r["Kernel Name"]), us, r.get("Grid Size", ""), r.get("Block Size", "")))
    total = sum(u for _, u, _, _ in rows)
    agg = {}
    for n, u, _, _ in rows:
        c = agg.setdefault(n, [0, 0.0])
        c[0] += 1
        c[1] += u
    print(f"kernels: {len(rows)}  sum of kernel times: {total:.1f} us")
    print(f"{'kernel':40s} {'count':>6s} {'total us':>10s} {'mean us':>9s} {'share':>6s}")
    for n, (c, u) in sorted(agg.items(), key=lambda kv: -kv[1][1]):
        print(f"{n:40s} {c:6d} {u:10.1f} {u / c:9.2f} {100 * u / total:5.1f}%")
    # One layer's sequence: between the 24th and 25th occurrence of the first kernel that runs once per layer (48×).
    names = [n for n, _, _, _ in rows]
    once = [n for n in names if agg[n][0] == 48]
    if once:
        idx = [i for i, n in enumerate(names) if n == once[0]]
        if len(idx) > 25:
            a, b = idx[24], idx[25]
            print("\none layer (middle of the step):")
            for n, u, g, bl in rows[a:b]:
                print(f"  {n:40s} {u:8.2f} us  grid {g} block {bl}")
        print("\nlast kernels of the step:")
        for n, u, g, bl in rows[-6:]:
            print(f"  {n:40s} {u:8.2f} us  grid {g} block {bl}")


if __name__ == "__main__":
    main(sys.argv[1])
