"""The cyclic garbage collector, relaxed while the machine runs.

Running a guest makes objects that stay alive (decoded instructions,
translated blocks, their code) or die young without cycles (lazy-flag
tuples, port values): a young collection walks them and frees almost
nothing. At CPython's default threshold (700 allocations) a cold kernel
boot ran ~60 young, ~5 middle and one full collection, ~0.05 s of its
~0.9 s; collecting every 50,000 allocations leaves one. The caller's
thresholds are back afterwards. kpyc's compiles relax it further
(compiler/cache.py). PyPy's collector has no thresholds: there this does
nothing.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

RUN_THRESHOLDS = (50_000, 20, 100)


@contextmanager
def relaxed_collector(thresholds=RUN_THRESHOLDS):
    """Inside, collect no more often than `thresholds` (each generation's
    own, or the caller's where it is more relaxed)."""
    get = getattr(gc, "get_threshold", None)
    if get is None:
        yield
        return
    before = get()
    gc.set_threshold(*(max(mine, theirs) for mine, theirs in zip(thresholds, before)))
    try:
        yield
    finally:
        gc.set_threshold(*before)
