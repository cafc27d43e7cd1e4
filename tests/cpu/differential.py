"""Run instruction sequences on our CPU and on Unicorn from the same state; compare.

A batch of sequences is assembled into one blob (each sequence ends in
`hlt` and starts at a label), loaded once into both emulators; each
sequence then runs from a fresh random register/flag/memory state.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import unicorn
from unicorn import x86_const as X

from tests.cpu.asm import assemble_with_labels
from tests.cpu.insngen import ALL, Gen
from vm.cpu import CPU
from vm.flat import FlatMachine
from vm.memory import PhysicalMemory
from vm.ports import PortBus

UC_REGS = [X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
           X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI]
NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
DF = 0x400


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


class Mismatch(AssertionError):
    pass


class Pair:
    """Our CPU and a Unicorn instance holding the same code blob."""

    def __init__(self, layout: Layout, blob: bytes):
        self.layout = layout
        self.blob = blob
        mode = unicorn.UC_MODE_16 if layout.mode16 else unicorn.UC_MODE_32
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, mode)
        self.uc.mem_map(0, 0x200000)
        self.uc.mem_write(layout.code, blob)
        if layout.mode16:
            mem = PhysicalMemory(2 << 20)
            self.cpu = CPU(mem, PortBus())
            self.mem = mem
            mem.write(layout.code, blob)
        else:
            fm = FlatMachine(None, ram_size=4 << 20)
            fm.write(layout.code, blob)
            self.cpu, self.mem = fm.cpu, fm.mem

    def run(self, start: int, end: int, regs, flags, window: bytes):
        lay, uc, cpu = self.layout, self.uc, self.cpu
        # Unicorn
        uc.mem_write(lay.window, window)
        for r, v in zip(UC_REGS, regs):
            uc.reg_write(r, v)
        uc.reg_write(X.UC_X86_REG_EFLAGS, flags)
        if lay.mode16:
            for seg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_SS):
                uc.reg_write(seg, lay.window >> 4)
            uc.reg_write(X.UC_X86_REG_CS, 0)
        uc.emu_start(lay.code + start, lay.code + end, count=10000)
        theirs_regs = [uc.reg_read(r) for r in UC_REGS]
        theirs_flags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        theirs_mem = bytes(uc.mem_read(lay.window, lay.window_size))
        # ours
        self.mem.write(lay.window, window)
        cpu.regs[:] = list(regs)
        cpu.set_eflags(flags)
        if lay.mode16:
            cpu.load_seg(1, 0)
            for seg in (0, 2, 3):
                cpu.load_seg(seg, lay.window >> 4)
        cpu.eip = lay.code + start if not lay.mode16 else lay.code + start
        cpu.halted = False
        reason = cpu.run(max_insns=10000)
        ours_regs = list(cpu.regs)
        ours_flags = cpu.get_eflags()
        ours_mem = self.mem.read(lay.window, lay.window_size)
        return reason, (theirs_regs, theirs_flags, theirs_mem), (ours_regs, ours_flags, ours_mem)


def random_state(rng: random.Random, layout: Layout):
    regs = [rng.choice([0, 1, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, rng.getrandbits(32), rng.getrandbits(8),
                        rng.getrandbits(16)]) for _ in range(8)]
    regs[4], regs[5] = layout.esp, layout.ebp
    flags = 0x2 | (rng.getrandbits(12) & ALL)
    window = rng.randbytes(layout.window_size)
    return regs, flags, window


def run_batch(seed: int, count: int, mode16: bool = False, length=(1, 6)):
    """Generate, assemble and compare `count` sequences; raises Mismatch."""
    rng = random.Random(seed)
    layout = LAYOUT16 if mode16 else LAYOUT32
    gen = Gen(rng, mode16)
    seqs = [gen.sequence(rng.randint(*length)) for _ in range(count)]
    return compare_sequences(seqs, layout, rng)


def compare_sequences(seqs, layout, rng):
    text = "\n".join(f"seq{k}:\n{body}\nend{k}:\nhlt" for k, (body, _) in enumerate(seqs))
    blob, labels = assemble_with_labels(text, code16=layout.mode16, base=layout.code)
    pair = Pair(layout, blob)
    for k, (body, undefined) in enumerate(seqs):
        regs, flags, window = random_state(rng, layout)
        start, end = labels[f"seq{k}"], labels[f"end{k}"]
        reason, theirs, ours = pair.run(start, end, regs, flags, window)
        check(body, undefined, regs, flags, reason, theirs, ours, layout)
    return len(seqs)


def check(body, undefined, regs, flags, reason, theirs, ours, layout):
    problems = []
    if reason != "hlt":
        problems.append(f"our CPU stopped with {reason!r}: {ours_fault_hint(reason)}")
    for i in range(8):
        if theirs[0][i] != ours[0][i]:
            problems.append(f"{NAMES[i]}: unicorn {theirs[0][i]:#010x} ours {ours[0][i]:#010x}")
    mask = (ALL & ~undefined) | DF
    if theirs[1] & mask != ours[1] & mask:
        problems.append(f"eflags & {mask:#x}: unicorn {theirs[1] & mask:#06x} ours {ours[1] & mask:#06x}")
    if theirs[2] != ours[2]:
        diffs = [i for i in range(len(theirs[2])) if theirs[2][i] != ours[2][i]]
        i = diffs[0]
        problems.append(f"memory differs at {len(diffs)} bytes, first at window+{i:#x}: "
                        f"unicorn {theirs[2][i:i + 8].hex()} ours {ours[2][i:i + 8].hex()}")
    if problems:
        state = " ".join(f"{n}={v:#x}" for n, v in zip(NAMES, regs))
        raise Mismatch(f"{'16' if layout.mode16 else '32'}-bit sequence:\n{body}\n"
                       f"from {state} eflags={flags:#x}\n" + "\n".join(problems))


def ours_fault_hint(reason):
    return "see recent_exceptions"
