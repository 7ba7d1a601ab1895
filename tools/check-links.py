#!/usr/bin/env python3
"""Check the relative links of the project's Markdown: README.md, HACKING.md,
BENCHMARKS.md and the reference book (docs/src). A link to a file must name one that
exists; a link with #anchor must name a heading of its target (GitHub's and mdBook's
slugs: lower case, spaces to '-', punctuation dropped). External links are not fetched
(CI has no network). Exit 1 with one line per broken link."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def files():
    for f in ("README.md", "HACKING.md", "BENCHMARKS.md"):
        yield os.path.join(ROOT, f)
    for d, _, names in os.walk(os.path.join(ROOT, "docs", "src")):
        for n in sorted(names):
            if n.endswith(".md"):
                yield os.path.join(d, n)


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[`*_]", "", s)
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    out, fence = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            out.add(slug(line.lstrip("#")))
    return out


def strip_code(text):
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def main():
    bad = []
    for f in files():
        if not os.path.exists(f):
            bad.append(f"{os.path.relpath(f, ROOT)}: missing")
            continue
        text = strip_code(open(f, encoding="utf-8").read())
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            where = os.path.relpath(f, ROOT)
            if not os.path.exists(dest):
                bad.append(f"{where}: {target}: no such file")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                bad.append(f"{where}: {target}: no heading #{anchor}")
    for b in bad:
        print(b)
    if bad:
        return 1
    print(f"links: all relative links resolve ({sum(1 for _ in files())} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
