"""Source locations, diagnostics and the CompileError that carries them.

Every user-facing error of the compiler is a Diagnostic: a file, a 1-based
line and column, and a message. CompileError formats them the way
docs/language.md promises: `file:line:col: error: msg`, the line, a caret.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Loc:
    """A position in a source file (1-based line and column)."""
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Diagnostic:
    loc: Loc
    message: str
    severity: str = "error"
    source_line: str | None = None

    def format(self) -> str:
        head = f"{self.loc}: {self.severity}: {self.message}"
        if self.source_line is None:
            return head
        line = self.source_line.rstrip("\n").expandtabs(1)
        caret = " " * max(self.loc.col - 1, 0) + "^"
        return f"{head}\n{line}\n{caret}"


@dataclass
class CompileError(Exception):
    """One or more diagnostics; str() is the full formatted report."""
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


class DiagnosticSink:
    """Collects diagnostics so one run can report several errors."""

    def __init__(self, sources: dict[str, str] | None = None):
        self.diagnostics: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []     # reported, but do not fail the build
        self.sources = sources if sources is not None else {}

    def add_source(self, filename: str, text: str) -> None:
        self.sources[filename] = text

    def error(self, loc: Loc, message: str) -> None:
        self.diagnostics.append(Diagnostic(loc, message, "error", self._line(loc)))

    def warning(self, loc: Loc, message: str) -> None:
        d = Diagnostic(loc, message, "warning", self._line(loc))
        if all((w.loc, w.message) != (loc, message) for w in self.warnings):
            self.warnings.append(d)

    def _line(self, loc: Loc) -> str | None:
        text = self.sources.get(loc.file)
        if text is None:
            return None
        lines = text.splitlines()
        if 1 <= loc.line <= len(lines):
            return lines[loc.line - 1]
        return None

    @property
    def has_errors(self) -> bool:
        return bool(self.diagnostics)

    def raise_if_errors(self) -> None:
        if self.diagnostics:
            raise CompileError(self.in_source_order())

    def in_source_order(self) -> list[Diagnostic]:
        """Passes find errors in their own order; a reader wants them by
        file (in the order first reported), then line and column."""
        files: dict[str, int] = {}
        for d in self.diagnostics:
            files.setdefault(d.loc.file, len(files))
        return sorted(self.diagnostics, key=lambda d: (files[d.loc.file], d.loc.line, d.loc.col))


class Abort(Exception):
    """Raised inside a pass to stop at an error already recorded in a sink."""


def once_per_build(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Each diagnostic once, however many compiles met it: a module's errors come
    up again when its importers load it, and a missing module is named once
    (at its first import), not at every module that imports it."""
    seen: set = set()
    kept = []
    for d in diagnostics:
        key = (d.loc.file, d.loc.line, d.loc.col, d.message)
        if d.message.startswith("cannot find module "):
            key = d.message.split(" (searched", 1)[0]
        if key not in seen:
            seen.add(key)
            kept.append(d)
    return kept
