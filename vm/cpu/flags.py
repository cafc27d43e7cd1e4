"""Lazy arithmetic flags.

The six arithmetic flags (CF PF AF ZF SF OF) are not computed when an
instruction runs; the CPU keeps a record `lf` of the last flag-setting
operation and materialises flags only when something reads them:

    (FIXED, 0, flags, 0, 0)          flags already computed (bits below)
    (ADD,   bits, full, a, b)        full = a + b (+ carry), unmasked
    (SUB,   bits, full, a, b)        full = a - b (- borrow), may be negative
    (LOGIC, bits, result, 0, 0)      and/or/xor/test: CF=OF=AF=0
    (INC|DEC, bits, full, a, src)    CF comes from `src`, the record before

`src` of an INC/DEC record is never itself an INC/DEC record, so chains of
inc/dec stay one level deep.
"""
from __future__ import annotations

FIXED, ADD, SUB, LOGIC, INC, DEC = range(6)

CF, PF, AF, ZF, SF, TF, IF, DF, OF = 1, 4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
ARITH = CF | PF | AF | ZF | SF | OF
IOPL, NT, RF, VM, AC, ID = 0x3000, 0x4000, 0x10000, 0x20000, 0x40000, 0x200000

PARITY = bytes(0 if bin(i).count("1") & 1 else PF for i in range(256))


def materialize(lf) -> int:
    """The arithmetic flag bits of a lazy record."""
    kind, bits, r, a, b = lf
    if kind == FIXED:
        return r
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    res = r & mask
    f = PARITY[res & 0xFF]
    if res == 0:
        f |= ZF
    if res & sign:
        f |= SF
    if kind == LOGIC:
        return f
    f |= (a ^ b ^ r) & AF if kind in (ADD, SUB) else (a ^ res ^ 1) & AF
    if kind == ADD:
        if r > mask:
            f |= CF
        if (~(a ^ b) & (a ^ res)) & sign:
            f |= OF
    elif kind == SUB:
        if r < 0:
            f |= CF
        if ((a ^ b) & (a ^ res)) & sign:
            f |= OF
    else:
        f |= materialize(b) & CF
        if kind == INC and res == sign:
            f |= OF
        elif kind == DEC and res == sign - 1:
            f |= OF
    return f


def carry(lf) -> int:
    """CF alone (0 or 1), cheaper than materialising everything."""
    kind, bits, r, a, b = lf
    if kind == ADD:
        return r >> bits & 1
    if kind == SUB:
        return 1 if r < 0 else 0
    if kind == LOGIC:
        return 0
    if kind == FIXED:
        return r & 1
    return carry(b)


def cf_source(lf):
    """The record an INC/DEC keeps for its (unchanged) carry flag."""
    return lf[4] if lf[0] >= INC else lf


def condition(lf, cc: int) -> bool:
    """Evaluate Jcc/SETcc/CMOVcc condition `cc` (0..15) against a record."""
    f = materialize(lf)
    base = cc >> 1
    if base == 0:
        t = f & OF
    elif base == 1:
        t = f & CF
    elif base == 2:
        t = f & ZF
    elif base == 3:
        t = f & (CF | ZF)
    elif base == 4:
        t = f & SF
    elif base == 5:
        t = f & PF
    elif base == 6:
        t = bool(f & SF) != bool(f & OF)
    else:
        t = (f & ZF) or (bool(f & SF) != bool(f & OF))
    return (not t) if cc & 1 else bool(t)
