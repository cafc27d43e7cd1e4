"""PyPy's JIT calls the slow paths vm/jit_hints.py marks, never inlines them.

Inlined, a store's slow path made block traces long; the JIT, throwing a
too-long trace away, then stopped inlining the store accessor `wr32` itself,
and every store of every loop became a call (the seed's page scan ran 3-4x
slower). The same happened to the port accessors through the devices that
read the clock. The PyPy tests watch what the JIT compiles: no trace or
bridge may hold a marked function below the function it starts in (its own
traces are expected)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.cpu.asm import assemble
from vm import jit_hints

ROOT = Path(__file__).resolve().parents[2]
PYPY = shutil.which("pypy3")
LAPS, CALLS = 3000, 30
# (loop, instructions a call, the function its traces must not inline)
LOOPS = {
    # every store lands on the code's own page beside the executed bytes:
    # the slow path (the `tcg` code-page rule) on every lap
    "store slow path": ("""
movl 4(%esp), %ecx
movl 8(%esp), %esi
1: movl %ecx, (%esi)
decl %ecx
jnz 1b
ret""", 2 + 3 * LAPS + 1, "slow_write"),
    # a port whose device reads the clock (timed): portio's timed_read
    "timed port": ("""
movl 4(%esp), %ecx
1: inb $0x70, %al
decl %ecx
jnz 1b
ret""", 1 + 3 * LAPS + 1, "timed_read"),
}
WATCH_THE_JIT = textwrap.dedent("""
    import json, sys
    import pypyjit
    from vm.cpu import portio
    from vm.cpu.mmu import MMU
    from vm.flat import FlatMachine

    class Clocked:                    # `timed` unset: a device that reads the clock
        def port_read(self, port, size):
            return 0x5A

        def port_write(self, port, size, value):
            pass

    watched = {"slow_write": MMU.slow_write, "timed_read": portio.timed_read}[sys.argv[2]].__code__
    inlined = []

    def compiled(info):
        inlined.extend(info.type for op in info.operations
                       if isinstance(op, pypyjit.DebugMergePoint) and op.pycode is watched and op.call_depth > 0)

    pypyjit.set_compile_hook(compiled)
    fm = FlatMachine.from_code(bytes.fromhex(sys.argv[1]), timing="tcg")
    fm.cpu.ports.register(0x70, 1, Clocked())
    for _ in range(int(sys.argv[3])):
        fm.call("start", int(sys.argv[4]), 0x100800)
    print(json.dumps({"inlined": len(inlined), "insns": fm.cpu.insns}))
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
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_pypy_calls_what_is_kept_out_of_traces(tmp_path, loop):
    text, insns_a_call, function = LOOPS[loop]
    script = tmp_path / "watch.py"
    script.write_text(WATCH_THE_JIT)
    code = assemble(text, base=0x100000)
    out = subprocess.run([PYPY, str(script), code.hex(), function, str(CALLS), str(LAPS)], cwd=ROOT,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["insns"] == CALLS * insns_a_call         # the loop did run, whole
    assert seen["inlined"] == 0
