#!/usr/bin/env python3
"""Builds the demo corpus from files owned by Debian packages (python3 stdlib only).

Called by build_corpus.sh, which installs the packages first. Each domain's files are
listed with `dpkg -L <package>` (not by globbing /usr/share/man, which would depend on
every other package installed on the machine), visited in an order fixed by a hash of
their path, and taken until the domain's text cap is reached. A second, independent
hash of the path puts ~5 % of the documents into the held-out set.
"""
import argparse
import concurrent.futures
import gzip
import hashlib
import json
import lzma
import os
import re
import subprocess
import sys

# domain -> (packages, path filter). Man pages of one language come from one package.
MAN_SECTIONS = re.compile(r"/man[1-9][^/]*/[^/]+\.[1-9][^/]*\.gz$")
DOMAINS = {
    "en_man": (["manpages", "manpages-dev"], lambda p: p.startswith("/usr/share/man/man") and MAN_SECTIONS.search(p)),
    "de_man": (["manpages-de"], lambda p: p.startswith("/usr/share/man/de/") and MAN_SECTIONS.search(p)),
    "fr_man": (["manpages-fr"], lambda p: p.startswith("/usr/share/man/fr/") and MAN_SECTIONS.search(p)),
    "es_man": (["manpages-es"], lambda p: p.startswith("/usr/share/man/es/") and MAN_SECTIONS.search(p)),
    "it_man": (["manpages-it"], lambda p: p.startswith("/usr/share/man/it/") and MAN_SECTIONS.search(p)),
    "ja_man": (["manpages-ja"], lambda p: p.startswith("/usr/share/man/ja/") and MAN_SECTIONS.search(p)),
    # The test suite is mostly machine-generated fixtures; site-packages is empty here anyway.
    "python_code": (["libpython3.11-stdlib"],
                    lambda p: p.startswith("/usr/lib/python3.11/") and p.endswith(".py")
                    and "/test/" not in p and "/tests/" not in p and "/idlelib/idle_test/" not in p),
    "c_code": (["linux-libc-dev", "libc6-dev"], lambda p: p.startswith("/usr/include/") and p.endswith(".h")),
}

DOMAIN_CAP_CHARS = 4_000_000   # text per domain (train + held-out), so the corpus is ~25 MB raw
DOC_CAP_CHARS = 60_000         # a few huge pages/headers must not fill a domain on their own
MIN_DOC_CHARS = 200            # stubs and one-line aliases carry no text worth learning
HELDOUT_PERCENT = 5
MAN_WIDTH = "80"


def stable_hash(salt, text):
    return int.from_bytes(hashlib.sha256((salt + "\0" + text).encode()).digest()[:8], "big")


def package_files(packages):
    files = []
    for pkg in packages:
        out = subprocess.run(["dpkg", "-L", pkg], check=True, capture_output=True, text=True).stdout
        files.extend(line for line in out.splitlines() if line)
    return files


def render_man(path):
    """Plain UTF-8 text of a man page (formatting and tabs removed), or None if it cannot be rendered."""
    with gzip.open(path, "rb") as f:
        if f.read(4) == b".so ":
            return None  # an alias page; its target is a document of its own
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", MANWIDTH=MAN_WIDTH, MAN_DISABLE_SECCOMP="1")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    # No hyphenation or justification: words stay whole and spacing stays single.
    man = subprocess.run(["man", "--local-file", "--pager=cat", "--no-hyphenation", "--no-justification", path], env=env,
                         capture_output=True, timeout=60)
    if man.returncode != 0 or not man.stdout:
        return None
    col = subprocess.run(["col", "-b", "-x"], input=man.stdout, env=env, capture_output=True, timeout=60)
    if col.returncode != 0:
        return None
    return col.stdout.decode("utf-8", errors="replace")


def read_source(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # a handful of headers are Latin-1; skipping them is simpler than guessing


def clean(text):
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"
    if len(text) > DOC_CAP_CHARS:
        cut = text.rfind("\n", 0, DOC_CAP_CHARS)
        text = text[: cut + 1 if cut > 0 else DOC_CAP_CHARS]
    return text


def is_real_file(path):
    # Symlinks and `.so` redirections are aliases of pages taken elsewhere.
    return os.path.isfile(path) and not os.path.islink(path)


def collect_domain(domain, packages, keep, pool):
    candidates = sorted({p for p in package_files(packages) if keep(p) and is_real_file(p)},
                        key=lambda p: (stable_hash("order", p), p))
    is_man = domain.endswith("_man")
    docs, total, skipped = [], 0, 0
    batch = 64
    for start in range(0, len(candidates), batch):
        paths = candidates[start:start + batch]
        texts = list(pool.map(render_man if is_man else read_source, paths))
        for path, raw in zip(paths, texts):
            if raw is None:
                skipped += 1
                continue
            text = clean(raw)
            if len(text) < MIN_DOC_CHARS:
                skipped += 1
                continue
            docs.append({"domain": domain, "source": path, "text": text})
            total += len(text)
            if total >= DOMAIN_CAP_CHARS:
                break
        if total >= DOMAIN_CAP_CHARS:
            break
    print(f"{domain}: {len(docs)} docs, {total} chars, {len(candidates)} candidates, {skipped} skipped",
          file=sys.stderr)
    return docs


def write_jsonl_xz(path, docs):
    # Fixed preset and check so identical documents give an identical file.
    with lzma.open(path, "wt", encoding="utf-8", preset=6, check=lzma.CHECK_CRC64) as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--packages", help="package=version list to record in stats.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    train, heldout = [], []
    stats = {"domains": {}}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for domain, (packages, keep) in sorted(DOMAINS.items()):
            docs = collect_domain(domain, packages, keep, pool)
            if not docs:
                raise SystemExit(f"error: domain {domain} has no documents (packages {packages})")
            d_train = [d for d in docs if stable_hash("split", d["source"]) % 100 >= HELDOUT_PERCENT]
            d_held = [d for d in docs if stable_hash("split", d["source"]) % 100 < HELDOUT_PERCENT]
            train.extend(sorted(d_train, key=lambda d: d["source"]))
            heldout.extend(sorted(d_held, key=lambda d: d["source"]))
            stats["domains"][domain] = {
                "packages": packages,
                "train_docs": len(d_train), "train_chars": sum(len(d["text"]) for d in d_train),
                "heldout_docs": len(d_held), "heldout_chars": sum(len(d["text"]) for d in d_held),
            }

    write_jsonl_xz(os.path.join(args.out, "corpus-train.jsonl.xz"), train)
    write_jsonl_xz(os.path.join(args.out, "heldout.jsonl.xz"), heldout)
    stats["train_docs"] = len(train)
    stats["train_chars"] = sum(len(d["text"]) for d in train)
    stats["heldout_docs"] = len(heldout)
    stats["heldout_chars"] = sum(len(d["text"]) for d in heldout)
    stats["caps"] = {"domain_chars": DOMAIN_CAP_CHARS, "doc_chars": DOC_CAP_CHARS,
                     "min_doc_chars": MIN_DOC_CHARS, "heldout_percent": HELDOUT_PERCENT, "man_width": MAN_WIDTH}
    if args.packages:
        with open(args.packages, encoding="utf-8") as f:
            stats["package_versions"] = [line.strip() for line in f if line.strip()]
    with open(os.path.join(args.out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps({k: v for k, v in stats.items() if k != "package_versions"}, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
