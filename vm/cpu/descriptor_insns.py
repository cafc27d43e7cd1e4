"""Semantics of ARPL, BOUND, LAR, LSL, VERR and VERW (protection.py does
the descriptor work); merged into semantics.SEMANTICS."""
from __future__ import annotations

from .decoder import Mem, Reg

M = {16: 0xFFFF, 32: 0xFFFFFFFF}
ZF = 0x40


def _set_zf(e, zf: str):
    """ZF from the expression `zf`; the other flags stay as they are."""
    e.flush_flags()
    e.emit(f"s.lf = (0, 0, MAT(s.lf) & ~{ZF} | ({ZF} if {zf} else 0), 0, 0)")


def sem_arpl(e, i):
    dst, src = i.ops
    e.emit("s.require_protected_not_v86()")
    d, r = e.ld(dst), e.ld(src)
    zf = e.tmp("z")
    e.emit(f"{zf} = ({d} & 3) < ({r} & 3)")
    with e.block(f"if {zf}:"):
        e.st(dst, f"({d} & 0xFFFC) | ({r} & 3)")     # written only when the RPL changes
    _set_zf(e, zf)


def _sel_query(e, i, method, result_bits=None):
    sel = e.ld(i.ops[-1])
    zf, value = e.tmp("z"), e.tmp("r")
    e.emit(f"{zf}, {value} = s.{method}({sel})")
    with e.block(f"if {zf}:"):
        dst = i.ops[0]
        e.st(dst, f"{value} & {M[dst.bits]}")
    _set_zf(e, zf)


def sem_lar(e, i):
    _sel_query(e, i, "op_lar")


def sem_lsl(e, i):
    _sel_query(e, i, "op_lsl")


def _verify(e, i, method):
    sel = e.ld(i.ops[0])
    zf = e.tmp("z")
    e.emit(f"{zf} = s.{method}({sel})")
    _set_zf(e, zf)


def sem_verr(e, i):
    _verify(e, i, "op_verr")


def sem_verw(e, i):
    _verify(e, i, "op_verw")


def sem_bound(e, i):
    """#BR (vector 5, a fault) when the signed index is below the lower
    bound or above the upper one, both signed words or dwords in memory."""
    idx, mem = i.ops
    bits = idx.bits
    lower = Mem(bits, mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz)
    upper = Mem(bits, mem.seg, mem.base, mem.index, mem.scale, (mem.disp + bits // 8) & M[mem.asz], mem.asz)
    sign = 1 << (bits - 1)
    v, lo, hi = (f"(({x} ^ {sign}) - {sign})" for x in (e.ld(Reg(bits, idx.idx)), e.ld(lower), e.ld(upper)))
    with e.block(f"if {v} < {lo} or {v} > {hi}:"):
        e.emit("raise Fault(5)")


SEMANTICS = {name[4:]: fn for name, fn in globals().items() if name.startswith("sem_")}
