"""Source roots: how module names and .kpy files map onto each other.

`kernel_src/lib/printf.kpy` under the root `kernel_src` is module
`lib.printf`. Kept free of the front end so the compile cache can resolve
modules without loading lark.
"""
from __future__ import annotations

from pathlib import Path


def module_name_for(path: Path, roots) -> str:
    """The dotted module name of `path` under the first root holding it
    (the file's stem when no root does)."""
    path = Path(path).resolve()
    for root in roots:
        try:
            rel = path.relative_to(Path(root).resolve())
        except ValueError:
            continue
        return ".".join(rel.with_suffix("").parts)
    return path.stem


def module_path(name: str, roots) -> Path | None:
    """The file of module `name`: the first root that has it, else None."""
    rel = Path(*name.split(".")).with_suffix(".kpy")
    for root in roots:
        p = Path(root) / rel
        if p.is_file():
            return p
    return None
