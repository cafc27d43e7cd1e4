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
