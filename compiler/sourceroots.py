"""Source roots: how module names and .kpy files map onto each other.

`kernel_src/lib/printf.kpy` under the root `kernel_src` is module
`lib.printf`. Kept free of the front end so the compile cache can resolve
modules without loading lark.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

_looked_up: dict | None = None      # (question, str(path)) -> answer, while one_build() is on


def _once(question: str, path, answer):
    if _looked_up is None:
        return answer(Path(path))
    key = (question, str(path))
    if key not in _looked_up:
        _looked_up[key] = answer(Path(path))
    return _looked_up[key]


def resolved(path) -> Path:
    """`Path(path).resolve()`, looked up once per build inside `one_build()`."""
    return _once("resolve", path, Path.resolve)


def is_file(path) -> bool:
    """`Path(path).is_file()`, looked up once per build inside `one_build()`."""
    return _once("is_file", path, Path.is_file)


@contextmanager
def one_build():
    """While a build runs, the files and links under its roots are taken as
    fixed (a build reads each source once, too): each path is resolved and
    looked for once. A no-change build resolved the same few dozen paths
    ~900 times and looked for module files ~1,000 times, most of its time."""
    global _looked_up
    outer = _looked_up
    if outer is None:
        _looked_up = {}
    try:
        yield
    finally:
        _looked_up = outer


def module_name_for(path: Path, roots) -> str:
    """The dotted module name of `path` under the first root holding it
    (the file's stem when no root does)."""
    path = resolved(path)
    for root in roots:
        try:
            rel = path.relative_to(resolved(root))
        except ValueError:
            continue
        return ".".join(rel.with_suffix("").parts)
    return path.stem


def module_path(name: str, roots) -> Path | None:
    """The file of module `name`: the first root that has it, else None."""
    rel = Path(*name.split(".")).with_suffix(".kpy")
    for root in roots:
        p = Path(root) / rel
        if is_file(p):
            return p
    return None
