"""What kpyc ships besides its code: the runtime (mem*, the 64-bit division
helpers, the crt), the kernel library (modules kpy.*) and the `kpyc init`
templates. They live inside the package, so an installed wheel has them;
in a checkout compiler/runtime is a link to the top-level runtime/."""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def runtime_dir() -> Path:
    return (PACKAGE_DIR / "runtime").resolve()


def library_dir() -> Path:
    return (PACKAGE_DIR / "kpylib").resolve()


def templates_dir() -> Path:
    return PACKAGE_DIR / "templates"


def runtime_sources() -> list[Path]:
    """Every runtime module, in a fixed order."""
    return sorted(p.resolve() for p in runtime_dir().rglob("*.kpy"))


def standard_roots() -> list[Path]:
    """The roots every project gets after its own: the runtime, then the library."""
    return [runtime_dir(), library_dir()]
