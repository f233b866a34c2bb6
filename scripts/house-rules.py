#!/usr/bin/env python3
"""House rules the compiler and clippy do not hold.

1. No two modules of one crate import each other in a circle.
2. No non-test source file over 1,000 lines (a test file is one under
   `tests/`, or a `tests.rs` / `tests/` module beside the code it tests).

On 1: 
Reads every crate's `src/` as text: each file is a module, and a path that
names another module of the same crate (`crate::a::b`, `super::x`, `self::y`)
is an edge to the deepest module file it names. A parent declaring or
re-exporting its children (`mod x;`, `pub use x::…` in `mod.rs`/`lib.rs`) is
its job, not an import; everything else counts, including a child reaching
back into its parent. Prints every strongly connected set of more than one
module and exits 1 when there is any.

Usage: scripts/house-rules.py [CRATES_DIR]   (default: crates)
"""

import re
import sys
from pathlib import Path

MAX_LINES = 1000

PATH_RE = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP_RE = re.compile(r"\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}", re.S)
DECL_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:mod\s+\w+\s*;|use\s+self::)", re.M)


def module_of(src: Path, file: Path) -> tuple:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_tests(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    # Inline test modules may use anything; they are not part of the graph.
    idx = text.find("#[cfg(test)]\nmod tests {")
    return text[:idx] if idx >= 0 else text


def resolve(path: list, here: tuple, modules: set) -> tuple | None:
    if path[0] == "crate":
        base, rest = (), path[1:]
    else:
        base = list(here)
        rest = path
        while rest and rest[0] in ("self", "super"):
            if rest[0] == "super":
                if not base:
                    return None
                base = base[:-1]
            rest = rest[1:]
        base = tuple(base)
    best = base if base in modules else None
    cur = base
    for part in rest:
        cur = cur + (part,)
        if cur in modules:
            best = cur
        else:
            break
    return best


def crate_graph(src: Path):
    files = {module_of(src, f): f for f in src.rglob("*.rs")}
    modules = set(files)
    edges = {m: set() for m in modules}
    for here, file in files.items():
        text = strip_comments_and_tests(file.read_text())
        is_parent = file.name in ("mod.rs", "lib.rs", "main.rs")
        paths = []
        for prefix, inner in GROUP_RE.findall(text):
            for item in re.split(r",", inner):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self" and not item.startswith("{"):
                    paths.append(prefix + "::" + item.split("::{")[0])
        paths += PATH_RE.findall(text)
        for p in paths:
            target = resolve(p.split("::"), here, modules)
            if target is None or target == here:
                continue
            # A parent's declarations and re-exports of its own children.
            if is_parent and target[: len(here)] == here:
                continue
            edges[here].add(target)
    return edges


def cycles(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates")
    found = 0
    for src in sorted(root.glob("*/src")):
        for comp in cycles(crate_graph(src)):
            found += 1
            names = sorted("::".join(m) or "<root>" for m in comp)
            print(f"{src.parent.name}: modules in a circle: {', '.join(names)}")
            for m in sorted(comp):
                print(f"  {'::'.join(m) or '<root>'} -> "
                      + ", ".join(sorted("::".join(t) or "<root>" for t in crate_graph(src)[m] if t in comp)))
    for file in sorted(root.glob("*/src/**/*.rs")):
        if file.name == "tests.rs" or "tests" in file.relative_to(root).parts[2:-1]:
            continue
        lines = len(file.read_text().splitlines())
        if lines > MAX_LINES:
            found += 1
            print(f"{file}: {lines} lines, over {MAX_LINES}: split it by job")
    if found:
        return 1
    print(f"no module circles and no source file over {MAX_LINES} lines "
          f"in {len(list(root.glob('*/src')))} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
