"""Far CALL and JMP through call gates (SDM vol. 2, CALL and JMP pseudo-code;
80386 behaviour): the gate's privilege check, the target code segment's
checks, and for a CALL to a more privileged non-conforming segment the
switch to the inner stack the TSS names, with the gate's parameters copied.
A 386 gate (type 0xC) copies dwords and pushes 32-bit values; a 286 gate
(type 4) copies words, pushes 16-bit values and uses only the low 16 bits
of its offset.  RETF back out is interrupts.far_return."""
from __future__ import annotations

from .faults import Fault
from .protection import require_in_code_limit
from .segments import A_CONFORMING_OR_EXPANDDOWN, A_PRESENT, A_S, CS, GP, NP, SS, dpl

CALL_GATE_286, CALL_GATE_386 = 0x4, 0xC
TS = 10


def system_descriptor(cpu, sel):
    """(lo, hi) of the descriptor `sel` names when it is a system descriptor
    (a gate or a TSS), else None (a null selector or one past its table's
    limit is left to the code-segment checks, which fault on it)."""
    if sel & 0xFFFC == 0:
        return None
    base, limit = (cpu.ldtr_base, cpu.ldtr_limit) if sel & 4 else cpu.gdtr
    if (sel | 7) > limit:
        return None
    _, lo, hi = cpu.read_descriptor(sel)
    return None if hi >> 8 & A_S else (lo, hi)


def is_call_gate(hi):
    return hi >> 8 & 0x1F in (CALL_GATE_286, CALL_GATE_386)


def _gate_target(cpu, gsel, lo, hi, call):
    """Checks on the gate and its code segment; returns (code selector,
    checked code descriptor, offset, operand size in bytes)."""
    if dpl(hi >> 8) < max(cpu.cpl, gsel & 3):
        raise Fault(GP, gsel & 0xFFFC)
    if not hi & 0x8000:
        raise Fault(NP, gsel & 0xFFFC)
    csel = lo >> 16
    checked = cpu.check_code_segment(csel)       # null: #GP(0); not code: #GP(selector)
    cattr = checked[3]
    conforming = cattr & A_CONFORMING_OR_EXPANDDOWN
    if dpl(cattr) > cpu.cpl or (not call and not conforming and dpl(cattr) != cpu.cpl):
        raise Fault(GP, csel & 0xFFFC)
    if not cattr & A_PRESENT:
        raise Fault(NP, csel & 0xFFFC)
    gate32 = hi >> 8 & 0x1F == CALL_GATE_386
    offset = (hi & 0xFFFF0000) | (lo & 0xFFFF) if gate32 else lo & 0xFFFF
    return csel, checked, offset, 4 if gate32 else 2


def jump_through_gate(cpu, gsel, lo, hi):
    csel, checked, offset, _ = _gate_target(cpu, gsel, lo, hi, call=False)
    require_in_code_limit(checked, offset)
    cpu.load_code_segment(csel, cpu.cpl, checked)
    cpu.eip = offset


def call_through_gate(cpu, gsel, lo, hi, next_eip):
    csel, checked, offset, size = _gate_target(cpu, gsel, lo, hi, call=True)
    cattr = checked[3]
    new_cpl = cpu.cpl if cattr & A_CONFORMING_OR_EXPANDDOWN else dpl(cattr)
    old_cs, old_ss, old_esp = cpu.seg[CS], cpu.seg[SS], cpu.regs[4]
    saved = (list(cpu.regs), cpu.seg[:], cpu.sbase[:], cpu.slimit[:], cpu.sattr[:], cpu.cpl)
    try:
        if new_cpl < cpu.cpl:
            params = _outer_parameters(cpu, hi & 0x1F, size)
            ss_sel, esp = cpu._tss_stack(new_cpl)
            _, sbase, slimit, sattr = cpu.check_stack_segment(ss_sel, new_cpl, vector=TS)
            require_in_code_limit(checked, offset)          # after the stack checks, as the SDM orders them
            cpu.set_seg(SS, ss_sel, sbase, slimit, sattr)
            cpu.regs[4] = esp
            cpu.set_cpl(new_cpl)
            cpu.push_value(old_ss, size)
            cpu.push_value(old_esp & (0xFFFFFFFF if size == 4 else 0xFFFF), size)
            for value in params:
                cpu.push_value(value, size)
        else:
            require_in_code_limit(checked, offset)
        cpu.push_value(old_cs, size)
        cpu.push_value(next_eip & (0xFFFFFFFF if size == 4 else 0xFFFF), size)
        cpu.load_code_segment(csel, new_cpl, checked)
    except Fault:
        cpu._restore(saved)
        raise
    cpu.eip = offset


def _outer_parameters(cpu, count, size):
    """The gate's `count` parameters on the caller's stack, deepest first (the
    order they are pushed on the inner stack, which keeps their layout)."""
    return [cpu.stack_read(k * size, size) for k in range(count - 1, -1, -1)]
