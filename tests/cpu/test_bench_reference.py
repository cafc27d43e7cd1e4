"""bench/bench_cpu.py's host reference is the register loop's own
arithmetic: written in Python, its lap leaves the registers the VM's
register loop leaves, for any lap count."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_cpu  # noqa: E402

from vm.flat import FlatMachine  # noqa: E402


@pytest.mark.parametrize("laps", [1, 2, 100, 12345])
def test_python_lap_computes_the_register_loop(laps):
    fm = FlatMachine.from_code(bench_cpu.assembled()["register loop"], timing="off")
    eax = fm.call("start", laps, fm.alloc(16))
    assert (eax, fm.cpu.ebx) == bench_cpu.register_lap_in_python(laps)
