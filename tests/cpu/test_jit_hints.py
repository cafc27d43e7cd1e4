"""PyPy's JIT never inlines a guest store's slow path (vm/cpu/jit_hints.py).

Inlined, the slow path made block traces long; the JIT, throwing a too-long
trace away, then stopped inlining the store accessor `wr32` itself, and every
store of every loop became a call (the seed's page scan ran 3-4x slower).
The PyPy test watches what the JIT compiles: no trace or bridge may hold
slow_write below the function it starts in (its own traces are expected)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.cpu.asm import assemble
from vm.cpu import jit_hints

ROOT = Path(__file__).resolve().parents[2]
PYPY = shutil.which("pypy3")
# every store lands on the code's own page beside the executed bytes: the
# slow path (the `tcg` code-page rule) on every lap
STORE_BESIDE_CODE = """
movl 4(%esp), %ecx
movl 8(%esp), %esi
1: movl %ecx, (%esi)
decl %ecx
jnz 1b
ret"""
WATCH_THE_JIT = textwrap.dedent("""
    import json, sys
    import pypyjit
    from vm.flat import FlatMachine
    from vm.cpu.mmu import MMU
    slow = MMU.slow_write.__code__
    inlined = []

    def compiled(info):
        inlined.extend(info.type for op in info.operations
                       if isinstance(op, pypyjit.DebugMergePoint) and op.pycode is slow and op.call_depth > 0)

    pypyjit.set_compile_hook(compiled)
    fm = FlatMachine.from_code(bytes.fromhex(sys.argv[1]), timing="tcg")
    for _ in range(30):
        fm.call("start", 3000, 0x100800)
    print(json.dumps({"inlined": len(inlined), "insns": fm.cpu.insns, "cycles": fm.cpu.cycles}))
""")


def test_marked_functions_go_to_pypyjit(monkeypatch):
    marked = []

    class FakeJit:
        @staticmethod
        def dont_trace_here(next_instr, is_being_profiled, code):
            marked.append((next_instr, is_being_profiled, code))

    def f():
        pass
    monkeypatch.setattr(jit_hints, "pypyjit", FakeJit)
    jit_hints.keep_out_of_traces(f)
    assert marked == [(0, False, f.__code__)]


def test_nothing_to_mark_on_cpython(monkeypatch):
    monkeypatch.setattr(jit_hints, "pypyjit", None)
    jit_hints.keep_out_of_traces(test_nothing_to_mark_on_cpython)     # no error, no effect


@pytest.mark.skipif(PYPY is None, reason="pypy3 is not installed (Debian package pypy3)")
@pytest.mark.xdist_group("pypy")
def test_pypy_never_inlines_the_store_slow_path(tmp_path):
    script = tmp_path / "watch.py"
    script.write_text(WATCH_THE_JIT)
    code = assemble(STORE_BESIDE_CODE, base=0x100000)
    out = subprocess.run([PYPY, str(script), code.hex()], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["insns"] == 30 * (2 + 3 * 3000 + 1)         # the loop did run, whole
    assert seen["inlined"] == 0
