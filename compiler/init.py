"""`kpyc init DIR`: a new kernel project from a template shipped with kpyc."""
from __future__ import annotations

from pathlib import Path

from .resources import templates_dir

# Files stored under another name in the package (a file named .gitignore
# would be taken for the package's own ignore rules).
RENAMED = {"gitignore": ".gitignore"}


class InitError(Exception):
    """The project cannot be written (a message for the user)."""


def templates() -> list[str]:
    return sorted(d.name for d in templates_dir().iterdir() if d.is_dir())


def init_project(directory: Path, template: str = "hello") -> list[Path]:
    """Copy the template into `directory` (new or empty); the files written."""
    source = templates_dir() / template
    if template not in templates():
        raise InitError(f"--template {template!r}: no such template; known: {', '.join(templates())}")
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InitError(f"{directory}: exists and is not an empty directory; kpyc init writes a new project")
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for src in sorted(source.iterdir()):
            if src.is_file():
                dest = directory / RENAMED.get(src.name, src.name)
                dest.write_bytes(src.read_bytes())
                written.append(dest)
    except OSError as exc:
        raise InitError(f"{directory}: cannot write the project: {exc.strerror or exc}") from None
    return written
