"""Hardware task switching (SDM vol. 3, 7.3 "Task switching"; 80386): JMP or
CALL to a TSS descriptor or a task gate, an interrupt or exception through
a task gate, and IRET with NT=1 back along the back link.  Both TSS formats:
the 386 TSS (types 9/B, 32-bit fields, CR3) and the 286 TSS (types 1/3,
16-bit fields).  The outgoing state is saved in the current TSS, the busy
bits, back link and NT are kept as the SDM's table 7-2 gives them, CR0.TS is
set, and the incoming state is loaded; its segments are checked in the
order of the SDM's table 7-1 (task_segments.py), and a fault there is
taken in the new task's context, at its CS:EIP."""
from __future__ import annotations

from . import task_segments
from .faults import Fault
from .flags import NT, VM
from .segments import CS, DS, ES, FS, GS, GP, NP, SS, dpl

TS = 10
BUSY = 0x2
# (first GPR, first segment register, LDT, EIP, EFLAGS, field size, minimum limit) per format
LAYOUT = {True: (0x28, 0x48, 0x60, 0x20, 0x24, 4, 0x67), False: (0x12, 0x22, 0x2A, 0x0E, 0x10, 2, 0x2B)}
SEG_ORDER = (ES, CS, SS, DS, FS, GS)


def is_tss(access):
    return access & 0x1F in (0x1, 0x3, 0x9, 0xB)


def tss_descriptor(cpu, sel, vector_if_bad=GP):
    """(descriptor address, base, limit, access) of the TSS `sel` names (GDT only)."""
    if sel & 4 or sel & 0xFFFC == 0:
        raise Fault(vector_if_bad, sel & 0xFFFC)
    addr, lo, hi = cpu.read_descriptor(sel, vector_if_bad)
    base, limit, attr = cpu.unpack_descriptor(lo, hi)
    if not is_tss(attr):
        raise Fault(vector_if_bad, sel & 0xFFFC)
    return addr, base, limit, attr


def far_transfer(cpu, sel, lo, hi, source, next_eip):
    """A far JMP/CALL whose selector names a task gate or a TSS: the DPL
    and present checks, then the switch; False for any other descriptor."""
    access = hi >> 8 & 0xFF
    if access & 0x1F != 5 and not is_tss(access):
        return False
    if dpl(access) < max(cpu.cpl, sel & 3):
        raise Fault(GP, sel & 0xFFFC)
    if access & 0x1F == 5:
        if not access & 0x80:
            raise Fault(NP, sel & 0xFFFC)
        sel = lo >> 16 & 0xFFFF
    switch(cpu, sel, source, next_eip)
    return True


def switch(cpu, sel, source, return_eip, error_code=None):
    """Switch to the task whose TSS `sel` names.  `source`: "jmp", "call",
    "int" (an interrupt or exception through a task gate, whose
    `error_code` is pushed on the new task's stack) or "iret"."""
    addr, base, limit, attr = tss_descriptor(cpu, sel, TS if source == "iret" else GP)
    busy = bool(attr & BUSY)
    if busy != (source == "iret"):
        raise Fault(TS if source == "iret" else GP, sel & 0xFFFC)
    if not attr & 0x80:
        raise Fault(NP, sel & 0xFFFC)
    new32 = bool(attr & 8)
    if limit < LAYOUT[new32][6]:
        raise Fault(TS, sel & 0xFFFC)
    old_sel, old_addr = cpu.tr_sel, cpu.descriptor_addr(cpu.tr_sel)
    eflags = cpu.get_eflags()
    if source in ("jmp", "iret"):
        _set_busy(cpu, old_addr, False)
        if source == "iret":
            eflags &= ~NT
    _save_state(cpu, return_eip, eflags)
    if source in ("call", "int"):
        cpu.write_sys(base, 2, old_sel)                  # the back link
    if source != "iret":
        _set_busy(cpu, addr, True)
    cpu.tr_sel, cpu.tr_base, cpu.tr_limit, cpu.tr_attr = sel, base, limit, attr | BUSY
    cpu.cr[0] |= 8                                        # CR0.TS: the FPU state belongs to the old task
    # the commit point: a fault from here on is taken in the new task, at its CS:EIP
    try:
        _load_state(cpu, new32, nested=source in ("call", "int"))
        if error_code is not None:
            cpu.push_value(error_code, 4 if new32 else 2)
    except Fault as f:
        f.task_eip = cpu.eip
        raise


def _set_busy(cpu, desc_addr, busy):
    access = cpu.read_sys(desc_addr + 5, 1)
    cpu.write_sys(desc_addr + 5, 1, (access | BUSY) if busy else (access & ~BUSY))


def _save_state(cpu, eip, eflags):
    gpr, segs, _, eip_at, fl_at, size, _ = LAYOUT[bool(cpu.tr_attr & 8)]
    base, mask = cpu.tr_base, (1 << (8 * size)) - 1
    cpu.write_sys(base + eip_at, size, eip & mask)
    cpu.write_sys(base + fl_at, size, eflags & mask)
    for k in range(8):
        cpu.write_sys(base + gpr + k * size, size, cpu.regs[k] & mask)
    for k, seg in enumerate(SEG_ORDER[:6 if size == 4 else 4]):
        cpu.write_sys(base + segs + k * size, 2, cpu.seg[seg])


def _load_state(cpu, new32, nested):
    gpr, segs, ldt_at, eip_at, fl_at, size, _ = LAYOUT[new32]
    base = cpu.tr_base
    read = cpu.read_sys
    if new32:
        cr3 = read(base + 0x1C, 4)
        if cr3 != cpu.cr[3]:
            cpu.set_cr(3, cr3)
    eip, eflags = read(base + eip_at, size), read(base + fl_at, size)
    regs = [read(base + gpr + k * size, size) for k in range(8)]
    if not new32:
        regs = [(old & 0xFFFF0000) | r for old, r in zip(cpu.regs, regs)]
    sels = [read(base + segs + k * size, 2) for k in range(6 if new32 else 4)] + ([] if new32 else [0, 0])
    ldt = read(base + ldt_at, 2)
    cpu.regs[:] = regs
    cpu.eip = eip
    cpu.set_eflags((eflags | NT) if nested else eflags)
    task_segments.load(cpu, ldt, dict(zip(SEG_ORDER, sels)), eflags & VM)
