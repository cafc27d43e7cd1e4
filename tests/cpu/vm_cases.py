"""The VM's side of the Unicorn differential run (differential.py): a code
blob of instruction sequences loaded once, each sequence run from a given
register, flag and data-window state to its `hlt`.

Stdlib and vm/ only, Python 3.9, so that pypy3 runs it too:

    pypy3 -m tests.cpu.vm_cases CASES.json

reads {"batches": [{"mode16", "blob" (hex), "cases": [{"start", "end",
"regs", "flags", "window" (hex)}]}]} and prints one JSON line per case
(`outcome`), which test_pypy_differential.py compares with Unicorn's and
with the same cases run on CPython.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass

from vm.cpu import CPU
from vm.flat import FlatMachine
from vm.memory import PhysicalMemory
from vm.ports import PortBus


@dataclass
class Layout:
    mode16: bool
    code: int          # linear address of the blob
    window: int        # linear base of the compared data window
    window_size: int
    ebp: int
    esp: int


LAYOUT32 = Layout(False, 0x100000, 0x10000, 0x20000, 0x10000, 0x20800 + 0x10000 - 0x10000 + 0x8000)
LAYOUT16 = Layout(True, 0x8000, 0x10000, 0x10000, 0x100, 0xF000)
MAX_INSNS = 10000


class VMSide:
    """Our CPU holding a code blob, in 32-bit flat protected mode or 16-bit real mode."""

    def __init__(self, layout: Layout, blob: bytes):
        self.layout = layout
        if layout.mode16:
            self.mem = PhysicalMemory(2 << 20)
            self.cpu = CPU(self.mem, PortBus())
        else:
            fm = FlatMachine(None, ram_size=4 << 20)
            self.cpu, self.mem = fm.cpu, fm.mem
        self.mem.write(layout.code, blob)

    def run(self, start: int, end: int, regs, flags, window: bytes):
        """(stop reason, registers, EFLAGS, the window's bytes afterwards)
        of the sequence at blob offset `start` (`end`: its `hlt`)."""
        lay, cpu = self.layout, self.cpu
        self.mem.write(lay.window, window)
        cpu.regs[:] = list(regs)
        cpu.set_eflags(flags)
        if lay.mode16:
            cpu.load_seg(1, 0)
            for seg in (0, 2, 3):
                cpu.load_seg(seg, lay.window >> 4)
        cpu.eip = lay.code + start
        cpu.halted = False
        reason = cpu.run(max_insns=MAX_INSNS)
        return reason, list(cpu.regs), cpu.get_eflags(), self.mem.read(lay.window, lay.window_size)


def outcome(side: VMSide, case: dict) -> dict:
    """Everything a case ends with: stop reason, registers, all of EFLAGS,
    the window bytes it changed, the exceptions taken, instructions and cycles."""
    cpu = side.cpu
    window = bytes.fromhex(case["window"])
    insns, cycles = cpu.insns, cpu.cycles
    del cpu.recent_exceptions[:]           # it keeps the last few: this case's
    reason, regs, flags, after = side.run(case["start"], case["end"], case["regs"], case["flags"], window)
    return {"reason": reason, "regs": regs, "flags": flags, "written": changes(window, after),
            "exceptions": [list(e[:3]) for e in cpu.recent_exceptions],
            "insns": cpu.insns - insns, "cycles": cpu.cycles - cycles}


def changes(before: bytes, after: bytes) -> list:
    """[[offset, new byte], ...] where `after` differs from `before`."""
    return [[i, b] for i, (a, b) in enumerate(zip(before, after)) if a != b]


def run_batches(batches: list) -> list:
    out = []
    for batch in batches:
        side = VMSide(LAYOUT16 if batch["mode16"] else LAYOUT32, bytes.fromhex(batch["blob"]))
        out.extend(outcome(side, case) for case in batch["cases"])
    return out


def main(path: str) -> int:
    with open(path) as fh:
        request = json.load(fh)
    for result in run_batches(request["batches"]):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
