"""Hints to PyPy's tracing JIT (nothing happens on CPython).

PyPy inlines every function a hot loop calls into the loop's trace.  When
a trace grows past the JIT's limit it is thrown away, and the JIT stops
inlining the longest function inside it from then on, everywhere.  A
block's trace that went through a guest store's slow path (a few thousand
operations: the page walk, the `tcg` code-page rule, MMIO) made that
function the store accessor `wr32` itself, so every store of every loop
became a real call: `exp=scan stores=10000` ran 3-4x slower (12.8 s against
41-69 s on 128 MiB), depending on which trace happened to grow too long
first (PYPYLOG=jit-abort-longest-function shows it).

Functions marked here are never inlined: a trace calls them, and they get
traces of their own.  Slow paths belong here: a loop does not run them on
every lap, and leaving them out keeps the fast paths that call them short.
"""
from __future__ import annotations

try:
    import pypyjit
except ImportError:          # CPython
    pypyjit = None


def keep_out_of_traces(*functions) -> None:
    if pypyjit is None:
        return
    for fn in functions:
        pypyjit.dont_trace_here(0, False, fn.__code__)
