"""A sample of the Unicorn differential run (test_differential.py) with the
VM under PyPy: Unicorn, the oracle, does not run on PyPy, so it runs here
(CPython) while pypy3 runs the VM on the same cases in one subprocess
(tests/cpu/vm_cases.py).  Every case must end as Unicorn's does (registers,
defined flags, the data window, no exception: differential.check) and as
the same cases on CPython do, to the last flag, cycle and instruction.
Skipped where pypy3 is not installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cpu.differential import Unicorn, batch_cases, batch_sequences, check
from tests.cpu.vm_cases import run_batches

ROOT = Path(__file__).resolve().parents[2]
PYPY = shutil.which("pypy3")
BATCH = 100
SAMPLE = [(1401, False), (1402, False), (1403, True)]     # (seed, 16-bit real mode): 300 sequences
pytestmark = [pytest.mark.skipif(PYPY is None, reason="pypy3 is not installed (Debian package pypy3)"),
              pytest.mark.xdist_group("pypy")]


def sample():
    """(request for vm_cases, [(layout, Case, Unicorn's end state)])."""
    batches, expected = [], []
    for seed, mode16 in SAMPLE:
        seqs, layout, rng = batch_sequences(seed, BATCH, mode16)
        blob, cases = batch_cases(seqs, layout, rng)
        oracle = Unicorn(layout, blob)
        batches.append({"mode16": mode16, "blob": blob.hex(),
                        "cases": [{"start": c.start, "end": c.end, "regs": c.regs, "flags": c.flags,
                                   "window": c.window.hex()} for c in cases]})
        expected.extend((layout, c, oracle.run(c.start, c.end, c.regs, c.flags, c.window)) for c in cases)
    return {"batches": batches}, expected


def on_pypy(request: dict, tmp_path: Path) -> list:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(request))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([PYPY, "-m", "tests.cpu.vm_cases", str(path)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def window_after(window: bytes, written: list) -> bytes:
    after = bytearray(window)
    for offset, value in written:
        after[offset] = value
    return bytes(after)


def test_a_sample_of_the_differential_run_matches_unicorn_on_pypy(tmp_path):
    request, expected = sample()
    pypy = on_pypy(request, tmp_path)
    cpython = run_batches(request["batches"])
    assert len(pypy) == len(cpython) == len(expected) == BATCH * len(SAMPLE)
    for (layout, case, theirs), ours, here in zip(expected, pypy, cpython):
        assert ours == here, case.body
        assert ours["exceptions"] == [], case.body       # Unicorn ran to the hlt without one
        check(case.body, case.undefined, case.regs, case.flags, ours["reason"], theirs,
              (ours["regs"], ours["flags"], window_after(case.window, ours["written"])), layout)
