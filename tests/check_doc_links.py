#!/usr/bin/env python3
"""check_doc_links.py [ROOT] - the documentation's links, checked by `make test`:

  - every relative Markdown link in README.md, BENCHMARKS.md, docs/*.md,
    sql/README.md and the READMEs under src/ and tests/ names a file that
    exists, and its #anchor (same page or another page) is one of that
    page's headings (GitHub's slugs: lower case, punctuation dropped, spaces
    to hyphens);
  - links in docs/ stay inside docs/ (the server serves that folder alone);
  - docs/index.md (the home page at GET /) links every page of docs/ and
    names every other file there.

Prints every problem and exits 1 when there is one.
"""
import os
import re
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def lines_outside_code(path):
    inside = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                yield n, line


def anchors(path):
    seen = {}
    out = set()
    for _, line in lines_outside_code(path):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            k = seen.get(s, 0)
            out.add(s if k == 0 else "%s-%d" % (s, k))
            seen[s] = k + 1
    return out


def pages():
    names = ["README.md", "BENCHMARKS.md", "sql/README.md"]
    names += ["docs/" + n for n in sorted(os.listdir(os.path.join(root, "docs"))) if n.endswith(".md")]
    for top in ("src", "tests"):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [x for x in dirs if x not in ("node_modules", "fixtures")]
            names += [os.path.relpath(os.path.join(d, n), root) for n in sorted(files) if n.endswith(".md")]
    return [n for n in names if os.path.isfile(os.path.join(root, n))]


problems = []
for page in pages():
    path = os.path.join(root, page)
    for n, line in lines_outside_code(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = "%s:%d: %s" % (page, n, target)
            if not os.path.exists(dest):
                problems.append(where + ": no such file")
                continue
            if page.startswith("docs/") and not dest.startswith(os.path.join(root, "docs") + os.sep):
                problems.append(where + ": leaves docs/ (the server serves only docs/)")
            if anchor and dest.endswith(".md") and anchor not in anchors(dest):
                problems.append(where + ": no heading with that anchor")

index = os.path.join(root, "docs", "index.md")
text = open(index, encoding="utf-8").read()
linked = {os.path.normpath(t.partition("#")[0]) for t in LINK.findall(text) if t.partition("#")[0]}
for name in sorted(os.listdir(os.path.join(root, "docs"))):
    if name == "index.md" or not os.path.isfile(os.path.join(root, "docs", name)):
        continue
    if name.endswith(".md"):
        if name not in linked:
            problems.append("docs/index.md: does not link docs/%s" % name)
    elif name not in text:
        problems.append("docs/index.md: does not name docs/%s" % name)

for p in problems:
    print("check-doc-links: " + p)
if not problems:
    print("check-doc-links: ok")
sys.exit(1 if problems else 0)
