#!/usr/bin/env python3
"""Writes the placement tuning split of issue 10: corpus-train's tail.

For every domain of corpus-train (n documents, file order), the documents after the first max(n // 2, 70) of that
domain, in file order. Calibration (`banyan calibrate`) uses the first 50 documents per domain that have at least
256 tokens; the script checks that each domain's skipped head holds at least 50 documents of >= 2048 characters
(surely >= 256 tokens, no token being longer than 8 characters here), so no calibration document is in the tail.
Evaluate the split with `banyan eval quality ... --heldout train-tail.jsonl --max-per-domain 25`.

Usage: make_train_tail.py CORPUS.jsonl[.xz] OUT.jsonl
"""
import collections
import json
import lzma
import sys


def open_text(path):
    return lzma.open(path, "rt", encoding="utf-8") if path.endswith(".xz") else open(path, encoding="utf-8")


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    corpus, out = argv[1], argv[2]
    with open_text(corpus) as f:
        lines = [line for line in f if line.strip()]
    records = [json.loads(line) for line in lines]
    domains = [r["domain"] for r in records]
    total = collections.Counter(domains)
    skip = {d: max(n // 2, 70) for d, n in total.items()}
    seen = collections.Counter()
    kept = collections.Counter()
    long_head = collections.Counter()
    with open(out, "w", encoding="utf-8") as f:
        for line, r, d in zip(lines, records, domains):
            seen[d] += 1
            if seen[d] <= skip[d]:
                long_head[d] += len(r["text"]) >= 2048
            else:
                f.write(line if line.endswith("\n") else line + "\n")
                kept[d] += 1
    for d in sorted(total):
        print(f"{d}: {total[d]} documents, skipped the first {skip[d]} ({long_head[d]} of >= 2048 chars), kept {kept[d]}")
    short = [d for d in sorted(total) if long_head[d] < 50]
    if short:
        sys.exit(f"calibration documents may reach the tail in: {', '.join(short)}")


if __name__ == "__main__":
    main(sys.argv)
