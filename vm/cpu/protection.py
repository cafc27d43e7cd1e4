"""Descriptor-type access rights (SDM vol. 3, 5.7 "Type checking") and the
LOCK prefix rule.

A segment's type can forbid an access whatever its offset: code segments
are never writable, read-only data segments are not, execute-only code
segments cannot be read.  These rights are folded into the `limited`
segment mask (segments.py): a segment with restricted rights is one whose
accesses the generated code checks, exactly like a segment with a limit,
so flat writable segments keep the fast path with no check at all.
"""
from __future__ import annotations

from .faults import Fault

A_S, A_CODE, A_RW = 0x10, 0x08, 0x02
CS, SS = 1, 2
GP, SSF, UD = 13, 12, 6


def rights_masks(sattr, checked):
    """(no-read mask, no-write mask) over the six segment registers for
    their cached access bytes; both 0 unless `checked` (protected mode
    outside V86, where the types apply).  CS is never writable there."""
    if not checked:
        return 0, 0
    noread = nowrite = 0
    for i, attr in enumerate(sattr):
        if not attr & A_S:
            continue                       # null / unusable: the limit check already refuses it
        if attr & A_CODE:
            nowrite |= 1 << i
            if not attr & A_RW:
                noread |= 1 << i           # execute-only
        elif not attr & A_RW:
            nowrite |= 1 << i              # read-only data
    return noread, nowrite | 1 << CS


def require_in_code_limit(checked, eip, code=0):
    """A far transfer's target offset must lie within the new code
    segment's limit (`checked`: its (addr, base, limit, attr)), else the
    transfer itself faults with #GP(0) (#GP(EXT) for an interrupt) before
    anything changes (SDM JMP, CALL, RET, IRET, INT n pseudo-code)."""
    if eip > checked[2]:
        raise Fault(GP, code)


def write_fault(seg):
    """The fault for a write the segment's type forbids."""
    return Fault(SSF if seg == SS else GP, 0)


# The instructions the LOCK prefix may precede (SDM: LOCK), and then only
# with a memory destination; any other use raises #UD.
LOCKABLE = frozenset("add adc and btc btr bts cmpxchg cmpxchg8b dec inc neg not or sbb sub xor xadd xchg".split())


def lock_allowed(insn, mem_class):
    """Whether a LOCK-prefixed `insn` is legal: a lockable mnemonic whose
    destination (the first operand) is memory (a `mem_class` operand)."""
    return insn.mnem in LOCKABLE and bool(insn.ops) and isinstance(insn.ops[0], mem_class)


# ---- LAR, LSL, VERR, VERW (bound into Segments as methods) -----------------------------
LAR_SYSTEM_TYPES = frozenset((1, 2, 3, 4, 5, 9, 0xB, 0xC))
LSL_SYSTEM_TYPES = frozenset((1, 2, 3, 9, 0xB))


def require_protected_not_v86(cpu):
    """ARPL, LAR, LSL, VERR and VERW are not recognised in real or V86 mode: #UD."""
    if not cpu.cr[0] & 1 or cpu.fl & 0x20000:
        raise Fault(UD)


def _visible_descriptor(cpu, sel, system_types):
    """The (lo, hi) of the descriptor `sel` names when LAR/LSL/VERR/VERW may
    see it at the current privilege, else None (the instruction clears ZF):
    a null selector, one past its table's limit, a system type not in
    `system_types`, or (unless conforming code) DPL < max(CPL, RPL)."""
    require_protected_not_v86(cpu)
    sel &= 0xFFFF
    if sel & 0xFFFC == 0:
        return None
    base, limit = (cpu.ldtr_base, cpu.ldtr_limit) if sel & 4 else cpu.gdtr
    if (sel | 7) > limit:
        return None
    addr = (base + (sel & 0xFFF8)) & 0xFFFFFFFF
    lo, hi = cpu.read_sys(addr, 4), cpu.read_sys(addr + 4, 4)
    access = hi >> 8 & 0xFF
    if not access & A_S and access & 0xF not in system_types:
        return None
    conforming_code = access & A_S and access & 0x0C == 0x0C
    if not conforming_code and access >> 5 & 3 < max(cpu.cpl, sel & 3):
        return None
    return lo, hi


def op_lar(cpu, sel):
    """(ZF, access rights) for LAR: the descriptor's second dword masked to
    its type, DPL, P and the flags nibble (with limit 19:16, as the 386)."""
    d = _visible_descriptor(cpu, sel, LAR_SYSTEM_TYPES)
    return (False, 0) if d is None else (True, d[1] & 0x00FFFF00)


def op_lsl(cpu, sel):
    """(ZF, byte-granular segment limit) for LSL."""
    d = _visible_descriptor(cpu, sel, LSL_SYSTEM_TYPES)
    if d is None:
        return False, 0
    lo, hi = d
    limit = (lo & 0xFFFF) | (hi & 0xF0000)
    return True, (limit << 12 | 0xFFF) if hi & 0x800000 else limit


def op_verr(cpu, sel):
    """ZF for VERR: a segment (not a system descriptor) that is readable."""
    d = _visible_descriptor(cpu, sel, ())
    if d is None:
        return False
    access = d[1] >> 8 & 0xFF
    return bool(access & A_S) and (not access & A_CODE or bool(access & A_RW))


def op_verw(cpu, sel):
    """ZF for VERW: a writable data segment."""
    d = _visible_descriptor(cpu, sel, ())
    if d is None:
        return False
    access = d[1] >> 8 & 0xFF
    return bool(access & A_S) and not access & A_CODE and bool(access & A_RW)
