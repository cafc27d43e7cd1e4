"""Arithmetic whose flag rules are too long to inline in generated code:
shifts, rotates, multiply, divide, bit scans and bit tests, BCD.

Each function takes plain ints (operands already masked to `bits`) and
returns the result plus a new lazy-flags record (see flags.py).  Where
Intel leaves a flag undefined we do what QEMU does, so the Unicorn
differential test can compare more than the documented minimum.
"""
from __future__ import annotations

from .faults import Fault
from .flags import AF, CF, FIXED, OF, PARITY, PF, SF, ZF, materialize


class DivideError(Fault):
    """#DE: divide by zero or a quotient too large for the destination."""

    def __init__(self):
        super().__init__(0)


def _szp(res: int, bits: int) -> int:
    f = PARITY[res & 0xFF]
    if res == 0:
        f |= ZF
    if res >> (bits - 1) & 1:
        f |= SF
    return f


def _fixed(f: int):
    return (FIXED, 0, f, 0, 0)


def shift(op: str, bits: int, v: int, count: int, lf):
    """SHL/SHR/SAR/ROL/ROR/RCL/RCR; count already masked with 0x1F.
    Returns (result, lf); a zero count returns (v, lf) unchanged."""
    mask = (1 << bits) - 1
    msb = bits - 1
    if op in ("shl", "shr", "sar"):
        if count == 0:
            return v, lf
        if op == "shl":
            wide = v << count
            res = wide & mask
            cf = wide >> bits & 1
            of = (res >> msb ^ cf) & 1
        elif op == "shr":
            res = v >> count
            cf = v >> (count - 1) & 1 if count <= bits else 0
            of = (v >> msb) & 1 if count == 1 else ((v >> (count - 1)) ^ res) >> msb & 1
        else:
            sv = v - (1 << bits) if v >> msb else v
            res = (sv >> count) & mask
            cf = (sv >> (count - 1)) & 1 if count <= bits + 1 else (sv < 0)
            of = 0
        f = _szp(res, bits) | cf | (OF if of else 0)
        return res, _fixed(f)
    old = materialize(lf)
    if op in ("rol", "ror"):
        if count == 0:
            return v, lf
        c = count % bits
        if op == "ror":
            c = (bits - c) % bits          # a right rotation is a left one the other way
        res = ((v << c) | (v >> (bits - c))) & mask if c else v
        if op == "rol":
            cf = res & 1
            of = (res >> msb ^ cf) & 1
        else:
            cf = res >> msb & 1
            of = (res >> msb ^ res >> (msb - 1)) & 1
        return res, _fixed((old & ~(CF | OF)) | cf | (OF if of else 0))
    c = count % (bits + 1)
    if c == 0:
        return v, lf
    cin = old & CF
    wide = v | (cin << bits)          # bits+1 wide rotate through carry
    span = bits + 1
    if op == "rcl":
        wide = ((wide << c) | (wide >> (span - c))) & ((1 << span) - 1)
        res, cf = wide & mask, wide >> bits & 1
        of = (res >> msb ^ cf) & 1
    else:
        wide = ((wide >> c) | (wide << (span - c))) & ((1 << span) - 1)
        res, cf = wide & mask, wide >> bits & 1
        of = (res >> msb ^ res >> (msb - 1)) & 1
    return res, _fixed((old & ~(CF | OF)) | cf | (OF if of else 0))


def shift_double(op: str, bits: int, dst: int, src: int, count: int, lf):
    """SHLD/SHRD; count already masked with 0x1F."""
    if count == 0:
        return dst, lf
    mask = (1 << bits) - 1
    msb = bits - 1
    if op == "shld":
        wide = (dst << bits | src) << count
        res = (wide >> bits) & mask
        cf = (wide >> (2 * bits)) & 1 if count <= bits else (src >> (bits - (count - bits))) & 1
    else:
        wide = (src << bits | dst)
        res = (wide >> count) & mask
        cf = (wide >> (count - 1)) & 1
    of = (res ^ dst) >> msb & 1
    return res, _fixed(_szp(res, bits) | cf | (OF if of else 0))


def mul(bits: int, a: int, b: int):
    """Unsigned multiply: returns (low, high, lf)."""
    p = a * b
    low, high = p & ((1 << bits) - 1), p >> bits
    f = _szp(low, bits)
    if high:
        f |= CF | OF
    return low, high, _fixed(f)


def imul(bits: int, a: int, b: int):
    """Signed multiply of two `bits`-wide values: returns (low, high, lf)."""
    sa = a - (1 << bits) if a >> (bits - 1) else a
    sb = b - (1 << bits) if b >> (bits - 1) else b
    p = sa * sb
    mask = (1 << bits) - 1
    low = p & mask
    high = (p >> bits) & mask
    f = _szp(low, bits)
    slow = low - (1 << bits) if low >> (bits - 1) else low
    if slow != p:
        f |= CF | OF
    return low, high, _fixed(f)


def div(bits: int, hi: int, lo: int, d: int):
    """Unsigned divide of hi:lo by d: (quotient, remainder) or DivideError."""
    if d == 0:
        raise DivideError
    n = hi << bits | lo
    q, r = divmod(n, d)
    if q >> bits:
        raise DivideError
    return q, r


def idiv(bits: int, hi: int, lo: int, d: int):
    """Signed divide, truncating toward zero, as IDIV."""
    if d == 0:
        raise DivideError
    n = hi << bits | lo
    if n >> (2 * bits - 1):
        n -= 1 << (2 * bits)
    sd = d - (1 << bits) if d >> (bits - 1) else d
    q = abs(n) // abs(sd)
    if (n < 0) != (sd < 0):
        q = -q
    r = n - q * sd
    if not -(1 << (bits - 1)) <= q < (1 << (bits - 1)):
        raise DivideError
    mask = (1 << bits) - 1
    return q & mask, r & mask


def bit_scan(forward: bool, bits: int, src: int, dst: int, lf):
    """BSF/BSR: (new dst, lf). A zero source sets ZF and keeps dst."""
    if src == 0:
        return dst, _fixed(ZF | PF)
    idx = (src & -src).bit_length() - 1 if forward else src.bit_length() - 1
    return idx, _fixed(_szp(src, bits) & ~ZF)


def bit_test(op: str, v: int, bit: int, lf):
    """BT/BTS/BTR/BTC on an already-loaded value: (new value, lf). Only CF is
    defined; the others keep their previous values."""
    cf = v >> bit & 1
    if op == "bts":
        v |= 1 << bit
    elif op == "btr":
        v &= ~(1 << bit)
    elif op == "btc":
        v ^= 1 << bit
    return v, _fixed((materialize(lf) & ~CF) | cf)


def daa_das(add: bool, al: int, lf):
    """Decimal adjust AL after an addition (daa) or a subtraction (das)."""
    f = materialize(lf)
    old_al, old_cf = al, f & CF
    cf = af = 0
    if (al & 0xF) > 9 or f & AF:
        cf = old_cf or (al + 6 > 0xFF if add else al < 6)
        al = (al + 6 if add else al - 6) & 0xFF
        af = AF
    if old_al > 0x99 or old_cf:
        al = (al + 0x60 if add else al - 0x60) & 0xFF
        cf = 1
    return al, _fixed(_szp(al, 8) | af | (CF if cf else 0))


def aaa_aas(add: bool, ax: int, lf):
    f = materialize(lf)
    al, ah = ax & 0xFF, ax >> 8 & 0xFF
    if (al & 0xF) > 9 or f & AF:
        if add:
            ax = (ax + 0x106) & 0xFFFF
        else:
            # the SDM's AX <- AX - 6; AH <- AH - 1: AL's borrow reaches AH too
            ax = (ax - 6 - 0x100) & 0xFFFF
        ax &= 0xFF0F
        return ax, _fixed((f & ~(CF | AF)) | CF | AF)
    return ax & 0xFF0F, _fixed(f & ~(CF | AF))
