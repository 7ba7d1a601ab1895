#!/usr/bin/env python3
"""Print the import graph of secure-init's top-level modules (from `crate::X` paths) and
fail when it has a cycle. Run from the repository root; CI runs it."""
import os, re, sys

src = "src"
mods = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs"):
            continue
        rel = os.path.relpath(os.path.join(root, f), src)
        top = rel.split(os.sep)[0].removesuffix(".rs")
        if top in ("lib", "main"):
            continue
        text = open(os.path.join(root, f)).read()
        # test-only code may reach anywhere; the architecture is the non-test code
        text = re.split(r"#\[cfg\(test\)\]\s*(pub\s+)?mod \w+ \{", text)[0]
        deps = set(re.findall(r"crate::([a-z_]+)", text))
        deps |= {m for group in re.findall(r"use crate::\{([^}]*)\}", text)
                 for m in re.findall(r"\b([a-z_]+)\b", group)}
        mods.setdefault(top, set()).update(d for d in deps if d != top)
names = set(mods)
for m in mods:
    mods[m] &= names
for m in sorted(mods):
    print(f"{m:12} -> {' '.join(sorted(mods[m]))}")
# cycle detection
state = {}
def visit(m, path):
    if state.get(m) == 1:
        cyc = path[path.index(m):] + [m]
        print("import cycle: " + " -> ".join(cyc))
        sys.exit(1)
    if state.get(m) == 2:
        return
    state[m] = 1
    for d in sorted(mods[m]):
        visit(d, path + [m])
    state[m] = 2
for m in sorted(mods):
    visit(m, [])
print("no import cycle")
