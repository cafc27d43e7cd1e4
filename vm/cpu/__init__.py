"""The i386 CPU of the reference VM.

Read in data-flow order:

    decoder.py     bytes -> Insn (mnemonic + typed operands)
    semantics.py   what each mnemonic does, written once as a Python-source template
    translate.py   a trace of Insns -> the source of one block function (lazy flags in locals)
    core.py        state, block caches (cold/hot/single-step), the run loop
    flags.py       lazy flags records and their materialisation
    alu.py         shifts, multiply/divide, bit scans: the long flag rules
    mmu.py         paging, the hardware TLB and the fast TLBs, guest memory access
    segments.py    selectors and descriptor loads with their checks
    interrupts.py  IVT/IDT delivery, TSS stack switch, iret, far transfers, #DF/triple fault
    system.py      control registers, MSRs, cpuid, rdtsc, ports, string ops, hlt
    faults.py      guest exceptions as Python exceptions (never escape the CPU)
"""
from .core import CPU
from .faults import Fault, TripleFault

__all__ = ["CPU", "Fault", "TripleFault"]
