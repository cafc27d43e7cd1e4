"""What each instruction does, written once as a Python-source template.

Every `sem_<mnemonic>(e, i)` emits Python statements for instruction `i`
through the emitter `e` (translate.Emitter), which knows how to read and
write operands, keep flags lazy, push and pop, and end the block.  The
block translator strings these together; single-stepping is a block of
one instruction, so no instruction is implemented twice.

Names available to the generated code (see CPU.block_globals): `s` (the
CPU), `R` (registers), `SB` (segment bases), `rd8/16/32`, `wr8/16/32`,
`MAT`/`COND`/`CARRY`/`CFSRC` (flags.py), `ALU` (alu.py), `PIN`/`POUT`
(portio.py) and, for a trace's inline port I/O, `UNTIMED` (the untimed
devices' ports), `CREGS` (the control registers) and `MEM` (memory).
"""
from __future__ import annotations

from .decoder import EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, Imm, Mem, Reg, SReg  # noqa: F401
from .descriptor_insns import SEMANTICS as DESCRIPTOR_SEMANTICS
from .flags import ADD, AF, CF, DEC, DF, FIXED, INC, LOGIC, OF, PF, SF, SUB, ZF  # noqa: F401

M = {8: 0xFF, 16: 0xFFFF, 32: 0xFFFFFFFF, 64: 0xFFFFFFFFFFFFFFFF}


def bits_of(i):
    return i.ops[0].bits


# ---- data movement -----------------------------------------------------------
def sem_mov(e, i):
    dst, src = i.ops
    e.st(dst, e.v(src))


def sem_movzx(e, i):
    dst, src = i.ops
    e.st(dst, e.v(src))


def sem_movsx(e, i):
    dst, src = i.ops
    v = e.ld(src)
    sign = 1 << (src.bits - 1)
    e.st(dst, f"(({v} ^ {sign}) - {sign}) & {M[dst.bits]}")


def sem_lea(e, i):
    dst, mem = i.ops
    ea = e.ea(mem)
    e.st(dst, ea if dst.bits == mem.asz and ea.startswith("((") else f"{ea} & {M[dst.bits]}")


def sem_xchg(e, i):
    a, b = i.ops
    va, vb = e.ld(a), e.ld(b)
    if isinstance(b, Mem):          # the store that can fault goes first
        a, b, va, vb = b, a, vb, va
    e.st(a, vb)
    e.st(b, va)


def sem_cbw(e, i):
    if i.osz == 16:
        e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFF0000 | (((R[{EAX}] & 0xFF) ^ 0x80) - 0x80) & 0xFFFF")
    else:
        e.emit(f"R[{EAX}] = (((R[{EAX}] & 0xFFFF) ^ 0x8000) - 0x8000) & 0xFFFFFFFF")


def sem_cwd(e, i):
    if i.osz == 16:
        e.emit(f"R[{EDX}] = R[{EDX}] & 0xFFFF0000 | (0xFFFF if R[{EAX}] & 0x8000 else 0)")
    else:
        e.emit(f"R[{EDX}] = 0xFFFFFFFF if R[{EAX}] & 0x80000000 else 0")


def sem_bswap(e, i):
    r = i.ops[0].idx
    e.emit(f"R[{r}] = int.from_bytes(R[{r}].to_bytes(4, 'little'), 'big')")


def sem_xlat(e, i):
    seg = 3 if i.seg is None else i.seg
    ea = f"(R[{EBX}] + (R[{EAX}] & 0xFF))" + (" & 0xFFFF" if i.asz == 16 else "")
    e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFFFF00 | rd8({e.linear(seg, ea, 1)})")


def sem_cmov(e, i):
    dst, src = i.ops
    v = e.ld(src)          # the source is read (and may fault) whatever the condition
    with e.block(f"if {e.cond(i.cc)}:"):
        e.st(dst, v)


def sem_setcc(e, i):
    e.st(i.ops[0], f"(1 if {e.cond(i.cc)} else 0)")


def sem_nop(e, i):
    pass


# ---- ALU -----------------------------------------------------------------------
def _alu(e, i, op):
    dst, src = i.ops
    bits = dst.bits
    mask = M[bits]
    if e.flags_dead() and not isinstance(dst, Mem) and not isinstance(src, Mem):
        a, b = e.v(dst), (str(src.value & mask) if isinstance(src, Imm) else e.v(src))
    else:
        a = e.ld(dst)
        b = str(src.value & mask) if isinstance(src, Imm) else e.ld(src)
    n = e.n
    r = f"_r{n}"
    if op in ("add", "adc"):
        carry = f" + {e.carry()}" if op == "adc" else ""
        e.emit(f"{r} = {a} + {b}{carry}")
        e.set_flags(ADD, bits, r, a, b)
        e.st(dst, f"{r} & {mask}")
    elif op in ("sub", "sbb", "cmp"):
        borrow = f" - {e.carry()}" if op == "sbb" else ""
        e.emit(f"{r} = {a} - {b}{borrow}")
        e.set_flags(SUB, bits, r, a, b, exact=(op != "sbb"))
        if op != "cmp":
            e.st(dst, f"{r} & {mask}")
    else:
        sym = {"and": "&", "or": "|", "xor": "^", "test": "&"}[op]
        e.emit(f"{r} = {a} {sym} {b}")
        e.set_flags(LOGIC, bits, r, "0", "0")
        if op != "test":
            e.st(dst, r)


def _make_alu(op):
    return lambda e, i: _alu(e, i, op)


for _op in ("add", "adc", "sub", "sbb", "cmp", "and", "or", "xor", "test"):
    globals()[f"sem_{_op}"] = _make_alu(_op)


def _incdec(e, i, kind):
    dst = i.ops[0]
    a = e.v(dst) if e.flags_dead() and isinstance(dst, Reg) else e.ld(dst)
    r = f"_r{e.n}"
    e.emit(f"{r} = {a} {'+' if kind == INC else '-'} 1")
    # the record's operand from the result (r is unmasked): `a` need not be kept
    e.set_flags(kind, dst.bits, r, f"({r} {'-' if kind == INC else '+'} 1)", None)
    e.st(dst, f"{r} & {M[dst.bits]}")


def sem_inc(e, i):
    _incdec(e, i, INC)


def sem_dec(e, i):
    _incdec(e, i, DEC)


def sem_neg(e, i):
    dst = i.ops[0]
    a = e.ld(dst)
    r = f"_r{e.n}"
    e.emit(f"{r} = 0 - {a}")
    e.set_flags(SUB, dst.bits, r, "0", a, exact=True)
    e.st(dst, f"{r} & {M[dst.bits]}")


def sem_not(e, i):
    dst = i.ops[0]
    e.st(dst, f"{e.ld(dst)} ^ {M[dst.bits]}")


def sem_cmpxchg(e, i):
    dst, src = i.ops
    bits = dst.bits
    acc = Reg(bits, 0)
    a = e.ld(acc)
    d = e.ld(dst)
    r = f"_r{e.n}"
    e.emit(f"{r} = {a} - {d}")
    e.set_flags(SUB, bits, r, a, d, exact=True)
    with e.block(f"if {r} == 0:"):
        e.st(dst, e.v(src))
    with e.block("else:"):
        if isinstance(dst, Mem):
            e.st(dst, d)          # the locked cycle always writes back
        e.st(acc, d)


def sem_xadd(e, i):
    dst, src = i.ops
    bits = dst.bits
    a, b = e.ld(dst), e.ld(src)
    r = f"_r{e.n}"
    e.emit(f"{r} = {a} + {b}")
    e.set_flags(ADD, bits, r, a, b)
    if isinstance(dst, Mem):
        e.st(dst, f"{r} & {M[bits]}")   # the store that can fault goes first
        e.st(src, a)
    else:
        e.st(src, a)
        e.st(dst, f"{r} & {M[bits]}")   # xadd %r, %r leaves the sum


def sem_cmpxchg8b(e, i):
    mem = i.ops[0]
    lo = e.ld(Mem(32, mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz))
    hi_op = Mem(32, mem.seg, mem.base, mem.index, mem.scale, (mem.disp + 4) & 0xFFFFFFFF, mem.asz)
    hi = e.ld(hi_op)
    e.flush_flags()
    with e.block(f"if {lo} == R[{EAX}] and {hi} == R[{EDX}]:"):
        e.st(hi_op, f"R[{ECX}]")
        e.st(Mem(32, mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz), f"R[{EBX}]")
        e.emit(f"s.lf = ({FIXED}, 0, MAT(s.lf) | {ZF:#x}, 0, 0)")
    with e.block("else:"):
        e.st(hi_op, hi)
        e.st(Mem(32, mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz), lo)
        e.emit(f"R[{EAX}] = {lo}; R[{EDX}] = {hi}")
        e.emit(f"s.lf = ({FIXED}, 0, MAT(s.lf) & ~{ZF:#x}, 0, 0)")


# ---- shifts, multiply, divide, bits -----------------------------------------
def _shift(e, i, op):
    dst, cnt = i.ops
    v = e.ld(dst)
    c = f"({e.v(cnt)} & 31)"
    e.flush_flags()
    r = f"_r{e.n}"
    e.emit(f"{r}, _lf{e.n} = ALU.shift({op!r}, {dst.bits}, {v}, {c}, s.lf)")
    e.st(dst, r)
    e.emit(f"s.lf = _lf{e.n}")          # flags change only once the store is done


for _op in ("shl", "shr", "sar", "rol", "ror", "rcl", "rcr"):
    globals()[f"sem_{_op}"] = (lambda op: lambda e, i: _shift(e, i, op))(_op)


def _shift_double(e, i, op):
    dst, src, cnt = i.ops
    v, sv = e.ld(dst), e.v(src)
    e.flush_flags()
    r = f"_r{e.n}"
    e.emit(f"{r}, _lf{e.n} = ALU.shift_double({op!r}, {dst.bits}, {v}, {sv}, {e.v(cnt)} & 31, s.lf)")
    e.st(dst, r)
    e.emit(f"s.lf = _lf{e.n}")


def sem_shld(e, i):
    _shift_double(e, i, "shld")


def sem_shrd(e, i):
    _shift_double(e, i, "shrd")


def _mul1(e, i, signed):
    src = i.ops[0]
    bits = src.bits
    v = e.ld(src)
    acc = e.v(Reg(bits, 0))
    fn = "imul" if signed else "mul"
    e.flush_flags()
    n = e.n
    e.emit(f"_lo{n}, _hi{n}, s.lf = ALU.{fn}({bits}, {acc}, {v})")
    if bits == 8:
        e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFF0000 | _hi{n} << 8 | _lo{n}")
    else:
        e.st(Reg(bits, 0), f"_lo{n}")
        e.st(Reg(bits, 2), f"_hi{n}")


def sem_mul(e, i):
    _mul1(e, i, False)


def sem_imul(e, i):
    _mul1(e, i, True)


def sem_imul2(e, i):
    dst, src = i.ops
    v = e.ld(src)
    e.flush_flags()
    n = e.n
    e.emit(f"_lo{n}, _hi{n}, s.lf = ALU.imul({dst.bits}, {e.v(dst)}, {v})")
    e.st(dst, f"_lo{n}")


def sem_imul3(e, i):
    dst, src, imm = i.ops
    v = e.ld(src)
    e.flush_flags()
    n = e.n
    e.emit(f"_lo{n}, _hi{n}, s.lf = ALU.imul({dst.bits}, {v}, {imm.value & M[dst.bits]})")
    e.st(dst, f"_lo{n}")


def _div(e, i, signed):
    src = i.ops[0]
    bits = src.bits
    v = e.ld(src)
    fn = "idiv" if signed else "div"
    n = e.n
    if bits == 8:
        e.emit(f"_q{n}, _m{n} = ALU.{fn}(8, R[{EAX}] >> 8 & 0xFF, R[{EAX}] & 0xFF, {v})")
        e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFF0000 | _m{n} << 8 | _q{n}")
    else:
        e.emit(f"_q{n}, _m{n} = ALU.{fn}({bits}, {e.v(Reg(bits, 2))}, {e.v(Reg(bits, 0))}, {v})")
        e.st(Reg(bits, 0), f"_q{n}")
        e.st(Reg(bits, 2), f"_m{n}")


def sem_div(e, i):
    _div(e, i, False)


def sem_idiv(e, i):
    _div(e, i, True)


def _bitscan(e, i, forward):
    dst, src = i.ops
    v = e.ld(src)
    e.flush_flags()
    r = f"_r{e.n}"
    e.emit(f"{r}, s.lf = ALU.bit_scan({forward}, {dst.bits}, {v}, {e.v(dst)}, s.lf)")
    e.st(dst, r)


def sem_bsf(e, i):
    _bitscan(e, i, True)


def sem_bsr(e, i):
    _bitscan(e, i, False)


def _bittest(e, i, op):
    dst, src = i.ops
    bits = dst.bits
    n = e.n
    if isinstance(src, Imm):
        bit = str(src.value & (bits - 1))
        target = dst
    elif isinstance(dst, Reg):
        bit = f"({e.v(src)} & {bits - 1})"
        target = dst
    else:
        # a register bit offset reaches any memory: signed, relative to the operand
        off = e.v(src)
        sign = 1 << (bits - 1)
        e.emit(f"_bo{n} = ({off} ^ {sign}) - {sign}")
        e.emit(f"_bd{n} = (_bo{n} >> {5 if bits == 32 else 4}) * {bits // 8}")
        target = e.displaced(dst, f"_bd{n}")
        bit = f"(_bo{n} & {bits - 1})"
    v = e.ld(target)
    e.flush_flags()
    e.emit(f"_r{n}, _lf{n} = ALU.bit_test({op!r}, {v}, {bit}, s.lf)")
    if op != "bt":
        e.st(target, f"_r{n}")
    e.emit(f"s.lf = _lf{n}")


for _op in ("bt", "bts", "btr", "btc"):
    globals()[f"sem_{_op}"] = (lambda op: lambda e, i: _bittest(e, i, op))(_op)


def _bcd(e, i, fn):
    e.flush_flags()
    n = e.n
    if fn in ("daa", "das"):
        e.emit(f"_r{n}, s.lf = ALU.daa_das({fn == 'daa'}, R[{EAX}] & 0xFF, s.lf)")
        e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFFFF00 | _r{n}")
    else:
        e.emit(f"_r{n}, s.lf = ALU.aaa_aas({fn == 'aaa'}, R[{EAX}] & 0xFFFF, s.lf)")
        e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFF0000 | _r{n}")


for _op in ("daa", "das", "aaa", "aas"):
    globals()[f"sem_{_op}"] = (lambda op: lambda e, i: _bcd(e, i, op))(_op)


def sem_aam(e, i):
    base = i.ops[0].value
    if base == 0:
        e.emit("raise Fault(0)")
        e.end_block(None)
        return
    e.flush_flags()
    e.emit(f"_t = R[{EAX}] & 0xFF; _al = _t % {base}; R[{EAX}] = R[{EAX}] & 0xFFFF0000 | (_t // {base}) << 8 | _al")
    e.emit(f"s.lf = ({LOGIC}, 8, _al, 0, 0)")


def sem_aad(e, i):
    base = i.ops[0].value
    e.flush_flags()
    e.emit(f"_al = ((R[{EAX}] & 0xFF) + (R[{EAX}] >> 8 & 0xFF) * {base}) & 0xFF")
    e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFF0000 | _al")
    e.emit(f"s.lf = ({LOGIC}, 8, _al, 0, 0)")


# ---- flags ---------------------------------------------------------------------
def sem_clc(e, i):
    e.flush_flags()
    e.emit(f"s.lf = ({FIXED}, 0, MAT(s.lf) & ~{CF}, 0, 0)")


def sem_stc(e, i):
    e.flush_flags()
    e.emit(f"s.lf = ({FIXED}, 0, MAT(s.lf) | {CF}, 0, 0)")


def sem_cmc(e, i):
    e.flush_flags()
    e.emit(f"s.lf = ({FIXED}, 0, MAT(s.lf) ^ {CF}, 0, 0)")


def sem_cld(e, i):
    e.emit(f"s.fl &= ~{DF:#x}")


def sem_std(e, i):
    e.emit(f"s.fl |= {DF:#x}")


def sem_cli(e, i):
    e.emit("s.op_cli()")


def sem_sti(e, i):
    e.emit("s.op_sti()")
    e.end_block(i.next_eip)      # the shadow: the run loop steps one more instruction


def sem_lahf(e, i):
    e.flush_flags()
    e.emit(f"R[{EAX}] = R[{EAX}] & 0xFFFF00FF | (MAT(s.lf) | 2) << 8 & 0xFF00")


def sem_sahf(e, i):
    e.flush_flags()
    e.emit(f"s.lf = ({FIXED}, 0, (MAT(s.lf) & {OF:#x}) | (R[{EAX}] >> 8 & {SF | ZF | AF | PF | CF:#x}), 0, 0)")


def sem_pushf(e, i):
    e.flush_flags()
    e.emit("s.check_iopl_vm()")
    e.push(f"s.get_eflags() & {0xFCFFFF if i.osz == 32 else 0xFFFF}", i.osz)


def sem_popf(e, i):
    e.emit("s.check_iopl_vm()")      # before the pop: a #GP leaves ESP as it was
    v = e.pop(i.osz)
    e.emit(f"s.popf({v}, {i.osz})")
    e.end_block(i.next_eip)      # IF/TF may have changed


# ---- stack -----------------------------------------------------------------------
def sem_push(e, i):
    src = i.ops[0]
    if isinstance(src, SReg):
        e.push(f"s.seg[{src.idx}]", i.osz)
    else:
        v = e.ld(src) if isinstance(src, Mem) else e.v(src)
        if isinstance(src, Imm):
            v = str(src.value & M[i.osz])
        e.push(v, i.osz)


def sem_pop(e, i):
    dst = i.ops[0]
    if isinstance(dst, SReg):
        v = e.peek(i.osz)
        e.emit(f"s.load_seg({dst.idx}, {v} & 0xFFFF)")
        e.adjust_sp(i.osz // 8)
        e.end_block(i.next_eip)    # segment state (and the mov-ss shadow) changed
        if dst.idx == 2:
            e.emit("s.set_shadow()")
        return
    if isinstance(dst, Mem) and dst.base == 4:
        # pop [esp+x]: the address uses ESP after the pop; ESP changes only
        # once the store has succeeded
        v = e.peek(i.osz)
        e.st(e.displaced(dst, str(i.osz // 8)), v)
        e.adjust_sp(i.osz // 8)
        return
    v = e.peek(i.osz)
    if isinstance(dst, Mem):
        e.st(dst, v)
        e.adjust_sp(i.osz // 8)
    else:
        e.adjust_sp(i.osz // 8)
        e.st(dst, v)


def sem_pusha(e, i):
    e.emit(f"s.op_pusha({i.osz})")


def sem_popa(e, i):
    e.emit(f"s.op_popa({i.osz})")


def sem_enter(e, i):
    size, level = i.ops
    e.emit(f"s.op_enter({i.osz}, {size.value}, {level.value & 31})")


def sem_leave(e, i):
    # read the saved frame pointer first: a fault leaves ESP and EBP alone
    size = i.osz // 8
    if e.stack32:
        v = e.ld_stack(f"R[{EBP}]", i.osz)
        e.emit(f"R[{ESP}] = (R[{EBP}] + {size}) & 0xFFFFFFFF")
    else:
        v = e.ld_stack(f"(R[{EBP}] & 0xFFFF)", i.osz)
        e.emit(f"R[{ESP}] = R[{ESP}] & 0xFFFF0000 | (R[{EBP}] + {size}) & 0xFFFF")
    e.st(Reg(i.osz, 5), v)


# ---- control flow -----------------------------------------------------------------
def _target(i, rel):
    return (i.next_eip + rel) & M[i.osz]


def sem_jmp(e, i):
    e.end_block(_target(i, i.ops[0].value))


def sem_jcc(e, i):
    e.branch(e.cond(i.cc), _target(i, i.ops[0].value), i.next_eip)


def _loop(e, i, extra):
    cx = Reg(i.asz, 1)
    e.st(cx, f"({e.v(cx)} - 1) & {M[i.asz]}")
    cond = f"{e.v(cx)} != 0"
    if extra:
        cond = f"{cond} and {extra}"
    e.branch(cond, _target(i, i.ops[0].value), i.next_eip)


def sem_loop(e, i):
    _loop(e, i, "")


def sem_loope(e, i):
    _loop(e, i, e.cond(4))


def sem_loopne(e, i):
    _loop(e, i, e.cond(5))


def sem_jcxz(e, i):
    e.branch(f"{e.v(Reg(i.asz, 1))} == 0", _target(i, i.ops[0].value), i.next_eip)


def sem_call(e, i):
    e.push(str(i.next_eip & M[i.osz]), i.osz)
    e.end_block(_target(i, i.ops[0].value))


def sem_call_ind(e, i):
    t = e.ld(i.ops[0])
    e.push(str(i.next_eip & M[i.osz]), i.osz)
    e.end_block(t)


def sem_jmp_ind(e, i):
    e.end_block(e.ld(i.ops[0]))


def sem_ret(e, i):
    t = e.peek(i.osz)
    e.adjust_sp(i.osz // 8 + i.ops[0].value)
    e.end_block(t)


def sem_jmpf(e, i):
    sel, off = i.ops
    e.emit(f"s.far_jump({sel.value}, {off.value}, {i.osz}, {i.next_eip})")
    e.end_block(None)


def sem_callf(e, i):
    sel, off = i.ops
    e.emit(f"s.far_call({sel.value}, {off.value}, {i.osz}, {i.next_eip})")
    e.end_block(None)


def _far_pointer(e, mem, osz):
    off = e.ld(Mem(osz, mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz))
    sel = e.ld(Mem(16, mem.seg, mem.base, mem.index, mem.scale,
                   (mem.disp + osz // 8) & M[mem.asz], mem.asz))
    return sel, off


def sem_jmpf_ind(e, i):
    sel, off = _far_pointer(e, i.ops[0], i.osz)
    e.emit(f"s.far_jump({sel}, {off}, {i.osz}, {i.next_eip})")
    e.end_block(None)


def sem_callf_ind(e, i):
    sel, off = _far_pointer(e, i.ops[0], i.osz)
    e.emit(f"s.far_call({sel}, {off}, {i.osz}, {i.next_eip})")
    e.end_block(None)


def sem_retf(e, i):
    e.emit(f"s.far_return({i.osz}, {i.ops[0].value})")
    e.end_block(None)


def sem_iret(e, i):
    e.emit(f"s.iret({i.osz}, {i.next_eip})")
    e.end_block(None)


def sem_int(e, i):
    vec = i.ops[0].value
    e.emit(f"s.soft_int({vec}, {i.next_eip}, {bool(i.extra.get('int3'))})")
    e.end_block(None)


def sem_into(e, i):
    with e.block(f"if {e.cond(0)}:"):
        e.emit(f"s.soft_int(4, {i.next_eip}, True)")
    with e.block("else:"):
        e.emit(f"s.eip = {i.next_eip}")
    e.end_block(None)


def sem_hlt(e, i):
    e.emit(f"s.op_hlt({i.next_eip})")
    e.end_block(None)


def sem_ud(e, i):
    e.emit("raise Fault(6)")
    e.end_block(None)


def sem_nm(e, i):
    e.emit("raise Fault(7)")
    e.end_block(None)


def sem_wait(e, i):
    """WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set (a task switch
    sets TS: the FPU state belongs to the previous task); else nothing."""
    e.emit("if s.cr[0] & 0xA == 0xA: raise Fault(7)")


# ---- segments and system --------------------------------------------------------------
def sem_mov_from_sreg(e, i):
    dst, sreg = i.ops
    e.st(dst, f"s.seg[{sreg.idx}]")


def sem_mov_to_sreg(e, i):
    sreg, src = i.ops
    e.emit(f"s.load_seg({sreg.idx}, {e.ld(src)})")
    if sreg.idx == 2:
        e.emit("s.set_shadow()")
    e.end_block(i.next_eip)


def sem_lptr(e, i):
    sreg, dst, mem = i.ops
    sel, off = _far_pointer(e, mem, i.osz)
    e.emit(f"s.load_seg({sreg.idx}, {sel})")
    e.st(dst, off)
    e.end_block(i.next_eip)


def _table_reg(e, i, which, load):
    mem = i.ops[0]
    limit_op = Mem(16, mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz)
    base_op = Mem(32, mem.seg, mem.base, mem.index, mem.scale, (mem.disp + 2) & M[mem.asz], mem.asz)
    if load:
        lim, base = e.ld(limit_op), e.ld(base_op)
        mask = 0xFFFFFFFF if i.osz == 32 else 0xFFFFFF
        e.emit(f"s.load_table_reg({which!r}, {base} & {mask}, {lim})")
        e.end_block(i.next_eip)
    else:
        e.st(limit_op, f"s.{which}[1]")
        e.st(base_op, f"s.{which}[0] & {0xFFFFFFFF if i.osz == 32 else 0xFFFFFF}")


def sem_lgdt(e, i):
    _table_reg(e, i, "gdtr", True)


def sem_lidt(e, i):
    _table_reg(e, i, "idtr", True)


def sem_sgdt(e, i):
    _table_reg(e, i, "gdtr", False)


def sem_sidt(e, i):
    _table_reg(e, i, "idtr", False)


def sem_lldt(e, i):
    e.emit(f"s.op_lldt({e.ld(i.ops[0])})")


def sem_ltr(e, i):
    e.emit(f"s.op_ltr({e.ld(i.ops[0])})")


def sem_sldt(e, i):
    e.st(i.ops[0], "s.ldtr_sel")


def sem_str(e, i):
    e.st(i.ops[0], "s.tr_sel")


def sem_smsw(e, i):
    e.st(i.ops[0], f"s.cr[0] & {M[i.ops[0].bits]}")


def sem_lmsw(e, i):
    e.emit(f"s.op_lmsw({e.ld(i.ops[0])})")
    e.end_block(i.next_eip)


def sem_clts(e, i):
    e.emit("s.require_cpl0(); s.cr[0] &= ~8")


def sem_invlpg(e, i):
    e.emit(f"s.op_invlpg({e.linear_of(i.ops[0])})")
    e.end_block(i.next_eip)


def sem_mov_from_ctl(e, i):
    ctl, gpr = i.ops
    e.emit(f"R[{gpr.idx}] = s.read_ctl({ctl.kind!r}, {ctl.idx})")


def sem_mov_to_ctl(e, i):
    ctl, gpr = i.ops
    e.emit(f"s.write_ctl({ctl.kind!r}, {ctl.idx}, R[{gpr.idx}])")
    e.end_block(i.next_eip)


def sem_cpuid(e, i):
    e.emit("s.op_cpuid()")


def sem_rdtsc(e, i):
    e.emit(f"s.op_rdtsc({e.cycles_so_far()})")


def sem_rdmsr(e, i):
    e.emit("s.op_rdmsr()")


def sem_wrmsr(e, i):
    e.emit("s.op_wrmsr()")


def sem_in(e, i):
    dst, port = i.ops
    size, into = dst.bits // 8, e.cycles_so_far()
    if not e.inline_io:
        e.st(dst, f"PIN({e.v(port)}, {size}, {into})")      # portio.py
        return
    p, d, v = _port(e, port), e.tmp("d"), e.tmp("v")
    with e.block(_not_inline(e, d, p)):
        e.emit(f"{v} = PIN({p}, {size}, {into})")
    with e.block("else:"):
        e.emit(f"s.cycles += {e.io_cost}")
        e.emit(f"{v} = {d}.port_read({p}, {size}) & {M[dst.bits]}")
    e.st(dst, v)


def sem_out(e, i):
    src, port = i.ops
    size, into, value = src.bits // 8, e.cycles_so_far(), e.v(src)
    # the block goes on unless the write raised an interrupt, asked to stop or
    # changed the memory map (portio.py): then it ends after this instruction
    e.may_cut = True
    if not e.inline_io:
        e.emit(f"if POUT({e.v(port)}, {size}, {value}, {into}): _w = 1")
        return
    p, d, irq, stop, gen = _port(e, port), e.tmp("d"), e.tmp("i"), e.tmp("s"), e.tmp("g")
    with e.block(_not_inline(e, d, p)):
        e.emit(f"if POUT({p}, {size}, {value}, {into}): _w = 1")
    with e.block("else:"):      # portio.pout, inline
        e.emit(f"s.cycles += {e.io_cost}")
        e.emit(f"{irq}, {stop}, {gen} = s._irq, s.stop_requested, MEM.generation")
        e.emit(f"{d}.port_write({p}, {size}, {value})")
        with e.block(f"if s._irq and not {irq} or s.stop_requested and not {stop} or MEM.generation != {gen}:"):
            e.emit("s.block_cuts += 1")
            e.emit("_w = 1")


def _not_inline(e, d: str, p: str) -> str:
    """The test for when port `p` takes PIN/POUT: no untimed device there
    (else it is put in local `d`), or the checked path's privilege case
    (local `_io`, which the block computes on entry: portio.CHECKED_IO)."""
    e.checks_io = True
    return f"if ({d} := UNTIMED.get({p})) is None or _io:"


def _port(e, port) -> str:
    """The port number of an in/out, in a local unless it is an immediate."""
    if isinstance(port, Imm):
        return str(port.value)
    name = e.tmp("p")
    e.emit(f"{name} = {e.v(port)}")
    return name


# ---- string instructions (whole rep loop in one helper call) --------------------
def _string(e, i, name):
    bits = i.ops[0].bits
    seg = 3 if i.seg is None else i.seg
    if i.rep is None:
        e.emit(f"s.string_op({name!r}, {bits // 8}, {i.asz}, {seg}, None)")
    else:
        # stopped for an event: it resumes at this instruction
        e.exit_before(f"s.string_op({name!r}, {bits // 8}, {i.asz}, {seg}, {i.rep!r}, {e.static_cycles}, "
                      f"{i.eip})", i.eip)
    if name in ("ins", "outs"):
        e.end_block(i.next_eip)


for _op in ("movs", "cmps", "stos", "lods", "scas", "ins", "outs"):
    globals()[f"sem_{_op}"] = (lambda op: lambda e, i: _string(e, i, op))(_op)


SEMANTICS = {name[4:]: fn for name, fn in globals().items() if name.startswith("sem_")}
SEMANTICS.update(DESCRIPTOR_SEMANTICS)     # ARPL, BOUND, LAR, LSL, VERR, VERW

# instructions with no memory operand that neither call helpers nor can fault:
# the translator may keep their flags in locals across them
PURE = frozenset("mov movzx movsx lea xchg cbw cwd bswap cmov setcc nop add adc sub sbb cmp "
                 "and or xor test inc dec neg not jmp jcc loop loope loopne jcxz cld std".split())
