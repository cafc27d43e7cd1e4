"""The longest functions of vm/ and compiler/ (issue 12's before/after figure).

    python bench/longest_functions.py [--top N] [DIR ...]

Prints file:function:lines, longest first; a method is Class.method, a
nested function outer.inner. Lines are the span of the def (decorators
excluded, docstring included).
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def functions(path: Path):
    tree = ast.parse(path.read_text(), str(path))

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                yield name, child.end_lineno - child.lineno + 1
                yield from walk(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, prefix + child.name + ".")
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("dirs", nargs="*", default=["vm", "compiler"])
    args = ap.parse_args()
    rows = []
    for d in args.dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            rel = path.relative_to(ROOT)
            rows += [(n, f"{rel}:{name}:{n}") for name, n in functions(path)]
    for _, text in sorted(rows, key=lambda r: -r[0])[:args.top]:
        print(text)


if __name__ == "__main__":
    main()
