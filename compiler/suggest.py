"""'did you mean ...?': the nearest known name by edit distance."""
from __future__ import annotations

from collections.abc import Iterable


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def nearest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate within a distance that still looks like a typo."""
    best, best_d = None, None
    # A typo or two, not a different word; a name of one or two letters
    # is only matched up to case ('y' is not a typo of 'f').
    limit = 0 if len(name) <= 2 else len(name) // 4 + 1
    for c in candidates:
        if c == name or abs(len(c) - len(name)) > limit:
            continue
        d = _distance(name.lower(), c.lower())
        if d <= limit and (best_d is None or d < best_d or (d == best_d and c < best)):
            best, best_d = c, d
    return best
