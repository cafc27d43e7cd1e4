"""The seed's own figures (vm/timing/seed_figures.toml, transcribed from
../shared/seed/hmm.md): the calibration targets and the whole outputs the
seed printed. Read by the calibration table and by `kpyc report`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ImportError:          # Python < 3.11 / PyPy 3.9: the same API from the tomli package
    import tomli as tomllib  # type: ignore[no-redef]

SEED_FILE = Path(__file__).with_name("seed_figures.toml")


@dataclass(frozen=True)
class SeedFigure:
    id: str
    profile: str
    label: str
    text: str            # as the seed reported it ("~300-400")
    value: float         # the number compared against (a range's midpoint)
    where: str           # line(s) and section of hmm.md


def _load() -> dict:
    return tomllib.loads(SEED_FILE.read_text())


def seed_rows(profile: str) -> dict[str, SeedFigure]:
    """id -> the seed's figure, for one profile, in the file's order."""
    return {r["id"]: SeedFigure(**r) for r in _load()["row"] if r["profile"] == profile}


def seed_series() -> dict[str, dict]:
    """name -> one whole output of the seed's (addresses, cycles, ...)."""
    return _load()["series"]
