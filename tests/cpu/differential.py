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
from tests.cpu.vm_cases import LAYOUT16, LAYOUT32, Layout, VMSide

UC_REGS = [X.UC_X86_REG_EAX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX, X.UC_X86_REG_EBX,
           X.UC_X86_REG_ESP, X.UC_X86_REG_EBP, X.UC_X86_REG_ESI, X.UC_X86_REG_EDI]
NAMES = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
DF = 0x400


class Mismatch(AssertionError):
    pass


class Unicorn:
    """A Unicorn instance holding a code blob (the oracle)."""

    def __init__(self, layout: Layout, blob: bytes):
        self.layout = layout
        mode = unicorn.UC_MODE_16 if layout.mode16 else unicorn.UC_MODE_32
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, mode)
        self.uc.mem_map(0, 0x200000)
        self.uc.mem_write(layout.code, blob)

    def run(self, start: int, end: int, regs, flags, window: bytes):
        """(registers, EFLAGS, the window's bytes afterwards)."""
        lay, uc = self.layout, self.uc
        uc.mem_write(lay.window, window)
        for r, v in zip(UC_REGS, regs):
            uc.reg_write(r, v)
        uc.reg_write(X.UC_X86_REG_EFLAGS, flags)
        if lay.mode16:
            for seg in (X.UC_X86_REG_DS, X.UC_X86_REG_ES, X.UC_X86_REG_SS):
                uc.reg_write(seg, lay.window >> 4)
            uc.reg_write(X.UC_X86_REG_CS, 0)
        uc.emu_start(lay.code + start, lay.code + end, count=10000)
        return ([uc.reg_read(r) for r in UC_REGS], uc.reg_read(X.UC_X86_REG_EFLAGS),
                bytes(uc.mem_read(lay.window, lay.window_size)))


class Pair:
    """Our CPU and a Unicorn instance holding the same code blob."""

    def __init__(self, layout: Layout, blob: bytes):
        self.layout = layout
        self.oracle = Unicorn(layout, blob)
        self.ours = VMSide(layout, blob)

    def run(self, start: int, end: int, regs, flags, window: bytes):
        theirs = self.oracle.run(start, end, regs, flags, window)
        reason, *ours = self.ours.run(start, end, regs, flags, window)
        return reason, theirs, tuple(ours)


def random_state(rng: random.Random, layout: Layout):
    regs = [rng.choice([0, 1, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, rng.getrandbits(32), rng.getrandbits(8),
                        rng.getrandbits(16)]) for _ in range(8)]
    regs[4], regs[5] = layout.esp, layout.ebp
    flags = 0x2 | (rng.getrandbits(12) & ALL)
    window = rng.randbytes(layout.window_size)
    return regs, flags, window


@dataclass
class Case:
    """One sequence of a batch and the state it starts from."""
    body: str
    undefined: int       # flags the sequence leaves undefined (not compared)
    start: int           # blob offsets of the sequence and of its hlt
    end: int
    regs: list
    flags: int
    window: bytes


def batch_sequences(seed: int, count: int, mode16: bool = False, length=(1, 6)):
    """(sequences, layout, rng) of batch `seed`, as run_batch compares them."""
    rng = random.Random(seed)
    layout = LAYOUT16 if mode16 else LAYOUT32
    gen = Gen(rng, mode16)
    return [gen.sequence(rng.randint(*length)) for _ in range(count)], layout, rng


def run_batch(seed: int, count: int, mode16: bool = False, length=(1, 6)):
    """Generate, assemble and compare `count` sequences; raises Mismatch."""
    return compare_sequences(*batch_sequences(seed, count, mode16, length))


def batch_cases(seqs, layout, rng):
    """(blob, [Case]): the sequences assembled into one blob, each with a random starting state."""
    text = "\n".join(f"seq{k}:\n{body}\nend{k}:\nhlt" for k, (body, _) in enumerate(seqs))
    blob, labels = assemble_with_labels(text, code16=layout.mode16, base=layout.code)
    return blob, [Case(body, undefined, labels[f"seq{k}"], labels[f"end{k}"], *random_state(rng, layout))
                  for k, (body, undefined) in enumerate(seqs)]


def compare_sequences(seqs, layout, rng):
    blob, cases = batch_cases(seqs, layout, rng)
    pair = Pair(layout, blob)
    for c in cases:
        reason, theirs, ours = pair.run(c.start, c.end, c.regs, c.flags, c.window)
        check(c.body, c.undefined, c.regs, c.flags, reason, theirs, ours, layout)
    return len(cases)


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
