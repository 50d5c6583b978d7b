#!/usr/bin/env python3
"""Writes issue 10's interleaved tuning split of corpus-train (session 5).

`banyan calibrate` keeps, per domain, `--per-domain` of the documents that give at least `--tokens` tokens
("qualifying": text[:20000] tokenized without special tokens), either the first ones in file order
(`--select first`) or evenly spaced over the domain (`--select spread`: indices floor((i + 0.5) n / k)).
corpus-train is sorted by source path inside each domain, so session 4's tuning split (each domain's tail,
tools/eval/make_train_tail.py) scored how close the calibration sources were to the tail's.

This split takes, per domain, the qualifying documents that NEITHER selection keeps (so one split compares both;
texts equal to a calibration document's are left out too, and repeated texts once) and keeps up to --count of them, evenly spaced over that remainder by the same rule; they are written in file
order, so `banyan eval quality --heldout OUT --max-per-domain COUNT` evaluates exactly them.

Token counts come from `banyan tokenize` (the project's tokenizer). The script checks its replica of both
selections against the documents that calibration actually used (`--profiles P ...`: each profiles file's
"lines" metadata, written by banyan calibrate since session 5) and that no tuning document's text (SHA-256)
equals the text of any calibration document of those profiles.

--exclude SPLIT.jsonl ... (session 6) also leaves out every text of earlier splits, so a second, disjoint
confirmation split can be drawn from what is left (it_prose / ja_prose then have fewer than 25 documents left).

Usage: make_train_interleaved.py --banyan BIN --model DIR CORPUS.jsonl[.xz] OUT.jsonl
           [--per-domain 50] [--tokens 256] [--count 25] [--profiles first.safetensors spread.safetensors]
           [--exclude split.jsonl ...]
"""
import argparse
import collections
import hashlib
import json
import lzma
import struct
import subprocess
import sys

MAX_CHARS = 20000  # protocol banyan-quality-v1: text[:20000]


def open_text(path):
    return lzma.open(path, "rt", encoding="utf-8") if path.endswith(".xz") else open(path, encoding="utf-8")


def selected(n, k, mode):
    """Indices among n qualifying documents that `mode` keeps (= corpus_walk.cc selected_indices)."""
    k = min(n, k)
    if mode == "first" or k == n:
        return list(range(k))
    return [(2 * i + 1) * n // (2 * k) for i in range(k)]


def token_counts(banyan, model, texts):
    inp = "".join(json.dumps({"text": t[:MAX_CHARS]}) + "\n" for t in texts)
    out = subprocess.run([banyan, "tokenize", "--model", model, "--jsonl", "-"], input=inp, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    if len(out) != len(texts):
        sys.exit(f"banyan tokenize returned {len(out)} lines for {len(texts)} texts")
    return [len(json.loads(line)["ids"]) for line in out]


def profiles_meta(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return json.loads(header["__metadata__"]["banyan-profiles"])


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tune_overlap(chosen, excluded):
    return {sha(t) for _, _, t in chosen} & excluded


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--banyan", required=True, help="banyan binary (for `banyan tokenize`)")
    ap.add_argument("--model", required=True, help="model directory (tokenizer.json)")
    ap.add_argument("--per-domain", type=int, default=50, help="calibrate's --per-domain (default 50)")
    ap.add_argument("--tokens", type=int, default=256, help="calibrate's and the eval's tokens (default 256)")
    ap.add_argument("--count", type=int, default=25, help="tuning documents per domain (default 25)")
    ap.add_argument("--profiles", nargs="*", default=[], help="profiles files to check against (lines metadata)")
    ap.add_argument("--exclude", nargs="*", default=[], help="earlier splits whose texts to leave out")
    a = ap.parse_args()
    excluded = set()
    for path in a.exclude:
        with open_text(path) as f:
            excluded |= {sha(json.loads(line)["text"]) for line in f if line.strip()}

    # Records with their 1-based line numbers (blank lines count, as in banyan's JsonlReader).
    recs = []
    with open_text(a.corpus) as f:
        for no, line in enumerate(f, 1):
            if line.strip():
                recs.append((no, line if line.endswith("\n") else line + "\n", json.loads(line)))
    counts = token_counts(a.banyan, a.model, [r["text"] for _, _, r in recs])
    qualifying = collections.defaultdict(list)  # domain -> [(line, raw, text)] in file order
    total = collections.Counter()
    for (no, raw, r), n in zip(recs, counts):
        total[r["domain"]] += 1
        if n >= a.tokens:
            qualifying[r["domain"]].append((no, raw, r["text"]))

    calib_lines = {"first": set(), "spread": set()}
    chosen = []
    print(f"{'domain':12} {'docs':>5} {'qualifying':>10} {'first∪spread':>12} {'shared':>6} {'rest':>5} {'tuning':>6}")
    for d in sorted(qualifying):
        q = qualifying[d]
        sel = {m: {q[i][0] for i in selected(len(q), a.per_domain, m)} for m in ("first", "spread")}
        for m in sel:
            calib_lines[m] |= sel[m]
        used = sel["first"] | sel["spread"]
        # corpus-train repeats some texts on other lines: leave out every copy of a calibration text, and repeats.
        seen = {sha(x[2]) for x in q if x[0] in used} | excluded
        rest = []
        for x in q:
            h = sha(x[2])
            if h not in seen:
                seen.add(h)
                rest.append(x)
        tune = [rest[i] for i in selected(len(rest), a.count, "spread")]
        chosen += tune
        print(f"{d:12} {total[d]:5} {len(q):10} {len(used):12} {len(sel['first'] & sel['spread']):6} "
              f"{len(rest):5} {len(tune):6}")
    chosen.sort()
    with open(a.out, "w", encoding="utf-8") as f:
        for _, raw, _ in chosen:
            f.write(raw)
    print(f"{a.out}: {len(chosen)} documents")
    if a.exclude and tune_overlap(chosen, excluded):
        sys.exit("check failed: the split shares a text with an excluded split")

    # Checks against what calibration actually used.
    text_at = {no: r["text"] for no, _, r in recs}
    tune_hashes = {sha(t) for _, _, t in chosen}
    bad = False
    for p in a.profiles:
        meta = profiles_meta(p)
        lines = meta.get("lines")
        if not lines:
            sys.exit(f"{p}: no 'lines' metadata (calibrate it with banyan >= session 5)")
        mode = meta.get("selection", "")
        if mode in calib_lines and set(lines) != calib_lines[mode]:
            print(f"{p}: calibration lines differ from this script's '{mode}' selection", file=sys.stderr)
            bad = True
        overlap = tune_hashes & {sha(text_at[no]) for no in lines}
        print(f"{p}: {len(lines)} calibration documents ({mode}), {len(overlap)} share a text hash with the split")
        bad |= bool(overlap)
    if bad:
        sys.exit("check failed")


if __name__ == "__main__":
    main()
