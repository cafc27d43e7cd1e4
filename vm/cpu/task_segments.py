"""The incoming task's LDTR and segment registers at the end of a task
switch, checked in the order of the SDM's table 7-1 ("Exception conditions
checked during a task switch", vol. 3, 7.3; the P6 order, which the SDM
gives as the reference):

     5  LDT selector valid (global, in the GDT, an LDT)       #TS(LDT)
   6, 11  CS valid: a code segment, DPL = RPL (conforming: <=)  #TS(CS)
     7  SS valid: a writable data segment                      #TS(SS)
     8  SS present                                             #SS(SS)
     9  SS DPL = CPL                                           #TS(SS)
    10  LDT present                                            #TS(LDT)
    12  CS present                                             #NP(CS)
    13  SS RPL = CPL                                           #TS(SS)
 14-17  DS, ES, FS, GS: valid, readable, present (#NP), DPL >= CPL
        and RPL unless conforming code                         #TS(selector)

The new task's CPL is its CS selector's RPL.  These checks come after the
commit point: the old task is saved and TR names the new one, so a fault
here is taken in the new task's context.  Every segment register shows its
new selector from the start (the descriptor caches change only as each is
loaded), as the SDM describes the registers being loaded before their
descriptors.  A V86 task (VM=1 in its EFLAGS image) checks only its LDT,
then loads its segments real-mode style (v86.load_segments)."""
from __future__ import annotations

from . import v86
from .faults import Fault
from .segments import (A_CODE, A_CONFORMING_OR_EXPANDDOWN, A_PRESENT, A_RW, A_S, CS, DS, ES, FS, GS, NP, SS,
                       SSF, TS, dpl)

LDT_TYPE = 0x2


def load(cpu, ldt, sels, vm):
    """Load LDTR and the six segment registers ({register: selector})."""
    for seg, sel in sels.items():
        cpu.seg[seg] = sel & 0xFFFF
    ldt_desc = _ldt_valid(cpu, ldt)
    if vm:
        _ldt_present(ldt, ldt_desc)
        v86.load_segments(cpu, sels)
        return
    cs, ss = sels[CS], sels[SS]
    cpl = cs & 3
    code = _code_valid(cpu, cs)
    stack = _stack_valid(cpu, ss, cpl)
    _ldt_present(ldt, ldt_desc)
    if not code[3] & A_PRESENT:
        raise Fault(NP, cs & 0xFFFC)
    if ss & 3 != cpl:
        raise Fault(TS, ss & 0xFFFC)
    data = [(seg, sels[seg], _data_valid(cpu, sels[seg], cpl)) for seg in (ES, DS, FS, GS)]
    cpu.load_code_segment(cs, cpl, code)
    cpu.set_seg(SS, ss, stack[1], stack[2], cpu.mark_accessed(stack[0], stack[3]))
    for seg, sel, desc in data:
        if desc is None:
            cpu.set_seg(seg, sel, 0, 0, 0)           # null: unusable until reloaded
        else:
            cpu.set_seg(seg, sel, desc[1], desc[2], cpu.mark_accessed(desc[0], desc[3]))


def _descriptor(cpu, sel):
    """(descriptor address, base, limit, attr) of a non-null `sel`, or
    #TS(selector) when it lies past its table's limit."""
    addr, lo, hi = cpu.read_descriptor(sel, TS)
    return (addr,) + cpu.unpack_descriptor(lo, hi)


def _ldt_valid(cpu, ldt):
    """Step 5: LDTR loaded from a valid selector (null: no LDT); the
    descriptor's attr is kept for the present check of step 10."""
    if ldt & 0xFFFC == 0:
        cpu.ldtr_sel, cpu.ldtr_base, cpu.ldtr_limit = ldt, 0, 0
        return None
    if ldt & 4:
        raise Fault(TS, ldt & 0xFFFC)
    _, base, limit, attr = _descriptor(cpu, ldt)
    if attr & A_S or attr & 0xF != LDT_TYPE:
        raise Fault(TS, ldt & 0xFFFC)
    # the new task's descriptors (CS, SS, data in its LDT) are read through it
    cpu.ldtr_sel, cpu.ldtr_base, cpu.ldtr_limit = ldt, base, limit
    return attr


def _ldt_present(ldt, attr):
    if attr is not None and not attr & A_PRESENT:
        raise Fault(TS, ldt & 0xFFFC)          # step 10: #TS, not #NP


def _code_valid(cpu, cs):
    """Steps 6 and 11: a code segment whose DPL the selector's RPL allows."""
    if cs & 0xFFFC == 0:
        raise Fault(TS, 0)
    addr, base, limit, attr = _descriptor(cpu, cs)
    if not attr & A_S or not attr & A_CODE:
        raise Fault(TS, cs & 0xFFFC)
    rpl = cs & 3
    if (dpl(attr) > rpl) if attr & A_CONFORMING_OR_EXPANDDOWN else (dpl(attr) != rpl):
        raise Fault(TS, cs & 0xFFFC)
    return addr, base, limit, attr


def _stack_valid(cpu, ss, cpl):
    """Steps 7-9: a writable data segment, present, of DPL = CPL."""
    if ss & 0xFFFC == 0:
        raise Fault(TS, 0)
    desc = _descriptor(cpu, ss)
    attr = desc[3]
    if not attr & A_S or attr & A_CODE or not attr & A_RW:
        raise Fault(TS, ss & 0xFFFC)
    if not attr & A_PRESENT:
        raise Fault(SSF, ss & 0xFFFC)
    if dpl(attr) != cpl:
        raise Fault(TS, ss & 0xFFFC)
    return desc


def _data_valid(cpu, sel, cpl):
    """Steps 14-17 for one of DS, ES, FS, GS; None for a null selector."""
    if sel & 0xFFFC == 0:
        return None
    desc = _descriptor(cpu, sel)
    attr = desc[3]
    if not attr & A_S or (attr & A_CODE and not attr & A_RW):
        raise Fault(TS, sel & 0xFFFC)
    if not attr & A_PRESENT:
        raise Fault(NP, sel & 0xFFFC)
    conforming_code = attr & A_CODE and attr & A_CONFORMING_OR_EXPANDDOWN
    if not conforming_code and dpl(attr) < max(cpl, sel & 3):
        raise Fault(TS, sel & 0xFFFC)
    return desc
