"""Instruction decoding: bytes -> `Insn` (a mnemonic plus typed operands).

The decoder knows encodings only: prefixes, ModRM/SIB, immediates and the
opcode maps (ONE_BYTE, TWO_BYTE at the end: opcode -> mnemonic and operand
specifications, groups as small functions).  What an instruction *does*
lives in semantics.py, keyed by the mnemonic this module produces.  Unknown
encodings decode to "ud" (the translator turns it into #UD in the guest).
"""
from __future__ import annotations

from dataclasses import dataclass, field

ES, CS, SS, DS, FS, GS = range(6)
EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = range(8)   # register indices (R[ESP] in templates)
SEG_PREFIX = {0x26: ES, 0x2E: CS, 0x36: SS, 0x3E: DS, 0x64: FS, 0x65: GS}
MAX_INSN_LEN = 15


class DecodeError(Exception):
    """Instruction bytes could not be fetched (the fetch itself faulted)."""


@dataclass(frozen=True)
class Reg:
    bits: int
    idx: int          # 0..7; for 8-bit: 0..3 low bytes, 4..7 = AH CH DH BH


@dataclass(frozen=True)
class SReg:
    idx: int


@dataclass(frozen=True)
class Imm:
    bits: int
    value: int


@dataclass(frozen=True)
class Mem:
    bits: int         # access size (0 for lea / pointer-only operands)
    seg: int
    base: int | None
    index: int | None
    scale: int
    disp: int
    asz: int          # 16 or 32


@dataclass(frozen=True)
class CtlReg:
    kind: str         # "cr" or "dr"
    idx: int


@dataclass
class Insn:
    eip: int                    # offset in CS of the first byte
    length: int
    mnem: str
    ops: tuple = ()
    osz: int = 32
    asz: int = 32
    seg: int | None = None      # explicit segment override
    rep: str | None = None      # "rep" (F3) or "repne" (F2)
    lock: bool = False
    cc: int = 0                 # condition code for jcc/setcc/cmovcc
    klass: str = "insn"         # timing class
    raw: bytes = b""
    extra: dict = field(default_factory=dict)

    @property
    def next_eip(self) -> int:
        return self.eip + self.length

    def text(self) -> str:
        """`mnemonic operands` in the decoder's terms (Intel operand order), as
        the comment before each instruction in a translated block's source.
        Kept once made: a decoded instruction is emitted by every tier and
        pass that translates it (a kernel boot asks 9,040 times of 3,643)."""
        text = self.__dict__.get("_text")
        if text is None:
            ops = ", ".join(_operand_text(op) for op in self.ops)
            text = self._text = f"{self.rep + ' ' if self.rep else ''}{self.mnem}{' ' + ops if ops else ''}"
        return text


REG_TEXT = {32: ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"),
            16: ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di"),
            8: ("al", "cl", "dl", "bl", "ah", "ch", "dh", "bh")}
SEG_TEXT = ("es", "cs", "ss", "ds", "fs", "gs")


def _operand_text(op) -> str:
    if isinstance(op, Reg):
        return REG_TEXT[op.bits][op.idx] if op.bits in REG_TEXT else f"r{op.bits}:{op.idx}"
    if isinstance(op, SReg):
        return SEG_TEXT[op.idx] if op.idx < 6 else f"sreg{op.idx}"
    if isinstance(op, Imm):
        return f"{op.value:#x}"
    if isinstance(op, CtlReg):
        return f"{op.kind}{op.idx}"
    regs = REG_TEXT[op.asz]
    parts = [regs[op.base]] if op.base is not None else []
    if op.index is not None:
        parts.append(regs[op.index] + (f"*{op.scale}" if op.scale != 1 else ""))
    if op.disp or not parts:
        parts.append(f"{op.disp:#x}")
    return f"{SEG_TEXT[op.seg]}:[{'+'.join(parts)}]"


ALU = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp")
SHIFTS = ("rol", "ror", "rcl", "rcr", "shl", "shr", "shl", "sar")
GRP3 = ("test", "test", "not", "neg", "mul", "imul", "div", "idiv")


class Decoder:
    """Decodes one instruction at a time from a byte-fetch callable."""

    def __init__(self, fetch):
        self.fetch = fetch   # fetch(offset_in_cs) -> int byte (may raise guest faults)

    def decode(self, eip: int, code32: bool) -> Insn:
        self._start = eip
        self._pos = eip
        self._bytes = bytearray()
        osz = asz = 32 if code32 else 16
        seg = rep = None
        lock = False
        while True:
            b = self._byte()
            if b == 0x66:
                osz = 48 - osz
            elif b == 0x67:
                asz = 48 - asz
            elif b in SEG_PREFIX:
                seg = SEG_PREFIX[b]
            elif b == 0xF3:
                rep = "rep"
            elif b == 0xF2:
                rep = "repne"
            elif b == 0xF0:
                lock = True
            else:
                break
            if self._pos - self._start >= MAX_INSN_LEN:
                return self._insn("ud", osz, asz, seg, rep, lock)
        self.osz, self.asz, self.seg = osz, asz, seg
        try:
            mnem, ops, extra = self._op(b)
        except _Undefined:
            mnem, ops, extra = "ud", (), {}
        if self._pos - self._start > MAX_INSN_LEN:
            mnem, ops, extra = "ud", (), {}
        insn = self._insn(mnem, osz, asz, seg, rep, lock, ops)
        insn.cc = extra.pop("cc", 0)
        insn.klass = extra.pop("klass", "insn")
        insn.extra = extra
        return insn

    # ---- byte stream -------------------------------------------------------
    def _byte(self) -> int:
        b = self.fetch(self._pos)
        self._pos += 1
        self._bytes.append(b)
        return b

    def _imm(self, bits: int, signed: bool = False) -> int:
        v = 0
        for i in range(bits // 8):
            v |= self._byte() << (8 * i)
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return v

    def _insn(self, mnem, osz, asz, seg, rep, lock, ops=()):
        return Insn(self._start, self._pos - self._start, mnem, tuple(ops), osz, asz, seg, rep,
                    lock, raw=bytes(self._bytes))

    # ---- ModRM ---------------------------------------------------------------
    def _modrm(self):
        m = self._byte()
        self._mod, self._reg, self._rm = m >> 6, (m >> 3) & 7, m & 7
        if self._mod != 3:
            self._mem = self._decode_mem()
        return self._reg

    def _decode_mem(self):
        mod, rm = self._mod, self._rm
        if self.asz == 16:
            bases = ((3, 6), (3, 7), (5, 6), (5, 7), (6, None), (7, None), (5, None), (3, None))
            base, index = bases[rm]
            default = SS if base == 5 else DS
            if mod == 0 and rm == 6:
                base, index, disp, default = None, None, self._imm(16), DS
            else:
                disp = self._imm(8, True) if mod == 1 else self._imm(16) if mod == 2 else 0
            seg = default if self.seg is None else self.seg
            return (seg, base, index, 1, disp & 0xFFFF)
        base, index, scale = rm, None, 1
        if rm == 4:
            sib = self._byte()
            scale, idx, base = 1 << (sib >> 6), (sib >> 3) & 7, sib & 7
            index = None if idx == 4 else idx
            if base == 5 and mod == 0:
                base = None
                disp = self._imm(32)
            else:
                disp = None
        else:
            disp = None
            if rm == 5 and mod == 0:
                base = None
                disp = self._imm(32)
        if disp is None:
            disp = self._imm(8, True) if mod == 1 else self._imm(32) if mod == 2 else 0
        default = SS if base in (4, 5) else DS
        seg = default if self.seg is None else self.seg
        return (seg, base, index, scale, disp & 0xFFFFFFFF)

    def E(self, bits):
        """The r/m operand of the current ModRM byte."""
        if self._mod == 3:
            return Reg(bits, self._rm)
        return Mem(bits, *self._mem, self.asz)

    def M(self, bits=0):
        """Memory-only r/m operand (lea, lgdt, far pointers...)."""
        if self._mod == 3:
            raise _Undefined
        return Mem(bits, *self._mem, self.asz)

    def G(self, bits):
        return Reg(bits, self._reg)

    def Iz(self):
        return Imm(self.osz, self._imm(self.osz))

    def Ib_sx(self):
        """An 8-bit immediate sign-extended to the operand size."""
        return Imm(self.osz, self._imm(8, True) & ((1 << self.osz) - 1))

    def _op(self, b):
        """Decode the opcode `b` after the prefixes by the tables below."""
        if b == 0x0F:
            b = self._byte()
            entry = TWO_BYTE.get(b)
        else:
            entry = ONE_BYTE.get(b)
        if entry is None:
            raise _Undefined
        if callable(entry):
            return entry(self, b)           # a group: the ModRM reg field picks the instruction
        mnem, specs, extra = entry
        if any(sp in NEEDS_MODRM for sp in specs):
            self._modrm()
        ops = tuple(OPERANDS[sp](self, b) for sp in specs)
        extra = dict(extra)
        if extra.pop("cc", None) is not None:
            extra["cc"] = b & 15
        return mnem, ops, extra


class _Undefined(Exception):
    pass


# ---- operand specifications -------------------------------------------------------------
# In the spirit of the Intel manual's opcode maps (and QEMU's decode-new.c.inc):
# E r/m, G ModRM reg, M memory-only r/m, I immediate, J relative target, Z the
# register in the opcode's low three bits, O a moffs address, X a string
# operand (size only); b byte, w word, d dword, v operand size. Operands are
# read in the order listed (immediates after the ModRM byte and displacement).

def _moffs(bits):
    def get(d, b):
        off = d._imm(d.asz)
        return Mem(d.osz if bits is None else bits, DS if d.seg is None else d.seg, None, None, 1, off, d.asz)
    return get


OPERANDS = {
    "Eb": lambda d, b: d.E(8),
    "Ew": lambda d, b: d.E(16),
    "Ev": lambda d, b: d.E(d.osz),
    "Ew/Rv": lambda d, b: d.E(d.osz if d._mod == 3 else 16),     # a register is operand-sized
    "Gb": lambda d, b: d.G(8),
    "Gv": lambda d, b: d.G(d.osz),
    "Gw": lambda d, b: d.G(16),
    "M": lambda d, b: d.M(),
    "Mv": lambda d, b: d.M(d.osz),
    "Mq": lambda d, b: d.M(64),
    "Ma": lambda d, b: d.M(2 * d.osz),      # BOUND's pair of bounds
    "Ib": lambda d, b: Imm(8, d._imm(8)),
    "Iw": lambda d, b: Imm(16, d._imm(16)),
    "Iz": lambda d, b: d.Iz(),
    "Ibs": lambda d, b: d.Ib_sx(),          # sign-extended to the operand size
    "Jb": lambda d, b: Imm(32, d._imm(8, True)),
    "Jz": lambda d, b: Imm(32, d._imm(d.osz, True)),
    "Zb": lambda d, b: Reg(8, b & 7),
    "Zv": lambda d, b: Reg(d.osz, b & 7),
    "Zd": lambda d, b: Reg(32, b & 7),
    "AL": lambda d, b: Reg(8, 0),
    "eAX": lambda d, b: Reg(d.osz, 0),
    "CL": lambda d, b: Reg(8, 1),
    "DX": lambda d, b: Reg(16, 2),
    "1": lambda d, b: Imm(8, 1),
    "3": lambda d, b: Imm(8, 3),
    "0w": lambda d, b: Imm(16, 0),
    "Ob": _moffs(8),
    "Ov": _moffs(None),
    "Xb": lambda d, b: Imm(8, 0),
    "Xv": lambda d, b: Imm(d.osz, 0),
    "ES": lambda d, b: SReg(ES), "CS": lambda d, b: SReg(CS), "SS": lambda d, b: SReg(SS),
    "DS": lambda d, b: SReg(DS), "FS": lambda d, b: SReg(FS), "GS": lambda d, b: SReg(GS),
}
NEEDS_MODRM = frozenset(("Eb", "Ew", "Ev", "Ew/Rv", "Gb", "Gv", "Gw", "M", "Mv", "Mq", "Ma"))
BRANCH, IO, MUL, DIV = {"klass": "branch"}, {"klass": "io"}, {"klass": "mul"}, {"klass": "div"}
CC = {"cc": True}                           # the condition is the opcode's low four bits


# ---- groups: the ModRM reg field (or more) picks the instruction -----------------------

def _grp1(d, b):                            # 80-83: ALU r/m, imm
    d._modrm()
    bits = 8 if b in (0x80, 0x82) else d.osz
    dst = d.E(bits)
    imm = Imm(8, d._imm(8)) if bits == 8 else (d.Iz() if b == 0x81 else d.Ib_sx())
    return ALU[d._reg], (dst, imm), {}


def _grp2(d, b):                            # C0 C1 D0-D3: shifts and rotates
    d._modrm()
    dst = d.E(8 if b & 1 == 0 else d.osz)
    cnt = Imm(8, d._imm(8)) if b <= 0xC1 else Imm(8, 1) if b <= 0xD1 else Reg(8, 1)
    return SHIFTS[d._reg], (dst, cnt), {}


def _grp3(d, b):                            # F6 F7: test, not, neg, mul, imul, div, idiv
    d._modrm()
    bits = 8 if b == 0xF6 else d.osz
    op = GRP3[d._reg]
    dst = d.E(bits)
    if op == "test":
        return "test", (dst, Imm(8, d._imm(8)) if bits == 8 else d.Iz()), {}
    klass = "mul" if op in ("mul", "imul") else "div" if op in ("div", "idiv") else "insn"
    return op, (dst,), {"klass": klass}


def _grp4(d, b):                            # FE: inc/dec r/m8
    d._modrm()
    if d._reg > 1:
        raise _Undefined
    return ("inc", "dec")[d._reg], (d.E(8),), {}


GRP5 = (("inc", "E", {}), ("dec", "E", {}), ("call_ind", "E", BRANCH), ("callf_ind", "M", BRANCH),
        ("jmp_ind", "E", BRANCH), ("jmpf_ind", "M", BRANCH), ("push", "E", {}))


def _grp5(d, b):                            # FF
    r = d._modrm()
    if r >= len(GRP5):
        raise _Undefined
    mnem, kind, extra = GRP5[r]
    return mnem, ((d.E(d.osz) if kind == "E" else d.M(d.osz)),), dict(extra)


def _grp11(d, b):                           # C6 C7: mov r/m, imm
    d._modrm()
    if d._reg != 0:
        raise _Undefined
    bits = 8 if b == 0xC6 else d.osz
    return "mov", (d.E(bits), Imm(8, d._imm(8)) if bits == 8 else d.Iz()), {}


def _mov_from_sreg(d, b):                   # 8C
    d._modrm()
    if d._reg > 5:
        raise _Undefined
    return "mov_from_sreg", (d.E(d.osz if d._mod == 3 else 16), SReg(d._reg)), {}


def _mov_to_sreg(d, b):                     # 8E (not CS)
    d._modrm()
    if d._reg == CS or d._reg > 5:
        raise _Undefined
    return "mov_to_sreg", (SReg(d._reg), d.E(16)), {}


def _far(d, b):                             # 9A EA: ptr16:v, offset first in the bytes
    off = d._imm(d.osz)
    sel = d._imm(16)
    return ("callf" if b == 0x9A else "jmpf"), (Imm(16, sel), Imm(d.osz, off)), dict(BRANCH)


def _x87(d, b):                             # D8-DF: no FPU; the ModRM is consumed so the length is right
    d._modrm()
    return "nm", (), {}


def _hint_nop(d, b):                        # 0F 0D, 0F 18-1F: nop with a ModRM operand
    d._modrm()
    return "nop", (), {}


def _grp6(d, b):                            # 0F 00
    r = d._modrm()
    if r in (0, 1):
        return ("sldt", "str")[r], (d.E(d.osz if d._mod == 3 else 16),), {}
    if r in (2, 3):
        return ("lldt", "ltr")[r - 2], (d.E(16),), {}
    if r in (4, 5):
        return ("verr", "verw")[r - 4], (d.E(16),), {}
    raise _Undefined


def _grp7(d, b):                            # 0F 01
    r = d._modrm()
    if r < 4:
        return ("sgdt", "sidt", "lgdt", "lidt")[r], (d.M(),), {}
    if r == 4:
        return "smsw", (d.E(d.osz if d._mod == 3 else 16),), {}
    if r == 6:
        return "lmsw", (d.E(16),), {}
    if r == 7:
        return "invlpg", (d.M(),), {}
    raise _Undefined


def _mov_ctl(d, b):                         # 0F 20-23: mod is ignored, always a register operand
    d._modrm()
    kind = "cr" if b in (0x20, 0x22) else "dr"
    if kind == "cr" and d._reg not in (0, 2, 3, 4):
        raise _Undefined
    return ("mov_from_ctl" if b < 0x22 else "mov_to_ctl"), (CtlReg(kind, d._reg), Reg(32, d._rm)), {}


def _grp8(d, b):                            # 0F BA: bt/bts/btr/btc r/m, imm8
    r = d._modrm()
    if r < 4:
        raise _Undefined
    return ("bt", "bts", "btr", "btc")[r - 4], (d.E(d.osz), Imm(8, d._imm(8))), {}


def _grp9(d, b):                            # 0F C7
    if d._modrm() != 1:
        raise _Undefined
    return "cmpxchg8b", (d.M(64),), {}


# ---- the opcode maps: opcode -> (mnemonic, operand specs, extra) or a group ------------

def _one_byte_map():
    t = {}
    for i, op in enumerate(ALU):
        for form, specs in enumerate((("Eb", "Gb"), ("Ev", "Gv"), ("Gb", "Eb"), ("Gv", "Ev"),
                                      ("AL", "Ib"), ("eAX", "Iz"))):
            t[i * 8 + form] = (op, specs, {})
    for b, sreg in ((0x06, "ES"), (0x0E, "CS"), (0x16, "SS"), (0x1E, "DS")):
        t[b] = ("push", (sreg,), {})
    for b, sreg in ((0x07, "ES"), (0x17, "SS"), (0x1F, "DS")):
        t[b] = ("pop", (sreg,), {})
    t.update({0x27: ("daa", (), {}), 0x2F: ("das", (), {}), 0x37: ("aaa", (), {}), 0x3F: ("aas", (), {})})
    for r in range(8):
        t[0x40 + r] = ("inc", ("Zv",), {})
        t[0x48 + r] = ("dec", ("Zv",), {})
        t[0x50 + r] = ("push", ("Zv",), {})
        t[0x58 + r] = ("pop", ("Zv",), {})
        t[0xB0 + r] = ("mov", ("Zb", "Ib"), {})
        t[0xB8 + r] = ("mov", ("Zv", "Iz"), {})
    for r in range(1, 8):
        t[0x90 + r] = ("xchg", ("eAX", "Zv"), {})
    for cc in range(16):
        t[0x70 + cc] = ("jcc", ("Jb",), dict(CC, **BRANCH))
    t.update({
        0x60: ("pusha", (), {}), 0x61: ("popa", (), {}),
        0x62: ("bound", ("Gv", "Ma"), {}), 0x63: ("arpl", ("Ew", "Gw"), {}),
        0x68: ("push", ("Iz",), {}), 0x6A: ("push", ("Ibs",), {}),
        0x69: ("imul3", ("Gv", "Ev", "Iz"), MUL), 0x6B: ("imul3", ("Gv", "Ev", "Ibs"), MUL),
        0x6C: ("ins", ("Xb",), IO), 0x6D: ("ins", ("Xv",), IO),
        0x6E: ("outs", ("Xb",), IO), 0x6F: ("outs", ("Xv",), IO),
        0x80: _grp1, 0x81: _grp1, 0x82: _grp1, 0x83: _grp1,
        0x84: ("test", ("Eb", "Gb"), {}), 0x85: ("test", ("Ev", "Gv"), {}),
        0x86: ("xchg", ("Eb", "Gb"), {}), 0x87: ("xchg", ("Ev", "Gv"), {}),
        0x88: ("mov", ("Eb", "Gb"), {}), 0x89: ("mov", ("Ev", "Gv"), {}),
        0x8A: ("mov", ("Gb", "Eb"), {}), 0x8B: ("mov", ("Gv", "Ev"), {}),
        0x8C: _mov_from_sreg, 0x8D: ("lea", ("Gv", "M"), {}), 0x8E: _mov_to_sreg,
        0x8F: ("pop", ("Ev",), {}),
        0x90: ("nop", (), {}), 0x98: ("cbw", (), {}), 0x99: ("cwd", (), {}),
        0x9A: _far, 0x9B: ("wait", (), {}),       # fwait: no FPU to wait for (#NM when CR0.MP and TS)
        0x9C: ("pushf", (), {}), 0x9D: ("popf", (), {}), 0x9E: ("sahf", (), {}), 0x9F: ("lahf", (), {}),
        0xA0: ("mov", ("AL", "Ob"), {}), 0xA1: ("mov", ("eAX", "Ov"), {}),
        0xA2: ("mov", ("Ob", "AL"), {}), 0xA3: ("mov", ("Ov", "eAX"), {}),
        0xA4: ("movs", ("Xb",), {}), 0xA5: ("movs", ("Xv",), {}),
        0xA6: ("cmps", ("Xb",), {}), 0xA7: ("cmps", ("Xv",), {}),
        0xA8: ("test", ("AL", "Ib"), {}), 0xA9: ("test", ("eAX", "Iz"), {}),
        0xAA: ("stos", ("Xb",), {}), 0xAB: ("stos", ("Xv",), {}),
        0xAC: ("lods", ("Xb",), {}), 0xAD: ("lods", ("Xv",), {}),
        0xAE: ("scas", ("Xb",), {}), 0xAF: ("scas", ("Xv",), {}),
        0xC0: _grp2, 0xC1: _grp2, 0xD0: _grp2, 0xD1: _grp2, 0xD2: _grp2, 0xD3: _grp2,
        0xC2: ("ret", ("Iw",), BRANCH), 0xC3: ("ret", ("0w",), BRANCH),
        0xC4: ("lptr", ("ES", "Gv", "Mv"), {}), 0xC5: ("lptr", ("DS", "Gv", "Mv"), {}),
        0xC6: _grp11, 0xC7: _grp11,
        0xC8: ("enter", ("Iw", "Ib"), {}), 0xC9: ("leave", (), {}),
        0xCA: ("retf", ("Iw",), BRANCH), 0xCB: ("retf", ("0w",), BRANCH),
        0xCC: ("int", ("3",), dict(BRANCH, int3=True)), 0xCD: ("int", ("Ib",), BRANCH),
        0xCE: ("into", (), BRANCH), 0xCF: ("iret", (), BRANCH),
        0xD4: ("aam", ("Ib",), DIV), 0xD5: ("aad", ("Ib",), {}), 0xD7: ("xlat", (), {}),
        0xE0: ("loopne", ("Jb",), BRANCH), 0xE1: ("loope", ("Jb",), BRANCH),
        0xE2: ("loop", ("Jb",), BRANCH), 0xE3: ("jcxz", ("Jb",), BRANCH),
        0xE4: ("in", ("AL", "Ib"), IO), 0xE5: ("in", ("eAX", "Ib"), IO),
        0xE6: ("out", ("AL", "Ib"), IO), 0xE7: ("out", ("eAX", "Ib"), IO),
        0xE8: ("call", ("Jz",), BRANCH), 0xE9: ("jmp", ("Jz",), BRANCH),
        0xEA: _far, 0xEB: ("jmp", ("Jb",), BRANCH),
        0xEC: ("in", ("AL", "DX"), IO), 0xED: ("in", ("eAX", "DX"), IO),
        0xEE: ("out", ("AL", "DX"), IO), 0xEF: ("out", ("eAX", "DX"), IO),
        0xF4: ("hlt", (), {}), 0xF5: ("cmc", (), {}), 0xF6: _grp3, 0xF7: _grp3,
        0xF8: ("clc", (), {}), 0xF9: ("stc", (), {}), 0xFA: ("cli", (), {}),
        0xFB: ("sti", (), {}), 0xFC: ("cld", (), {}), 0xFD: ("std", (), {}),
        0xFE: _grp4, 0xFF: _grp5,
    })
    for b in range(0xD8, 0xE0):
        t[b] = _x87
    return t


def _two_byte_map():
    t = {0x00: _grp6, 0x01: _grp7, 0x02: ("lar", ("Gv", "Ew"), {}), 0x03: ("lsl", ("Gv", "Ew"), {}), 0x06: ("clts", (), {}), 0x08: ("nop", (), {}), 0x09: ("nop", (), {}),
         0x0B: ("ud", (), {}), 0x0D: _hint_nop,
         0x20: _mov_ctl, 0x21: _mov_ctl, 0x22: _mov_ctl, 0x23: _mov_ctl,
         0x30: ("wrmsr", (), {}), 0x31: ("rdtsc", (), {"klass": "rdtsc"}), 0x32: ("rdmsr", (), {}),
         0xA0: ("push", ("FS",), {}), 0xA1: ("pop", ("FS",), {}), 0xA2: ("cpuid", (), {}),
         0xA8: ("push", ("GS",), {}), 0xA9: ("pop", ("GS",), {}),
         0xA3: ("bt", ("Ev", "Gv"), {}), 0xAB: ("bts", ("Ev", "Gv"), {}),
         0xB3: ("btr", ("Ev", "Gv"), {}), 0xBB: ("btc", ("Ev", "Gv"), {}),
         0xA4: ("shld", ("Ev", "Gv", "Ib"), {}), 0xA5: ("shld", ("Ev", "Gv", "CL"), {}),
         0xAC: ("shrd", ("Ev", "Gv", "Ib"), {}), 0xAD: ("shrd", ("Ev", "Gv", "CL"), {}),
         0xAF: ("imul2", ("Gv", "Ev"), MUL),
         0xB0: ("cmpxchg", ("Eb", "Gb"), {}), 0xB1: ("cmpxchg", ("Ev", "Gv"), {}),
         0xB2: ("lptr", ("SS", "Gv", "Mv"), {}), 0xB4: ("lptr", ("FS", "Gv", "Mv"), {}),
         0xB5: ("lptr", ("GS", "Gv", "Mv"), {}),
         0xB6: ("movzx", ("Gv", "Eb"), {}), 0xB7: ("movzx", ("Gv", "Ew"), {}),
         0xBE: ("movsx", ("Gv", "Eb"), {}), 0xBF: ("movsx", ("Gv", "Ew"), {}),
         0xBA: _grp8, 0xBC: ("bsf", ("Gv", "Ev"), {}), 0xBD: ("bsr", ("Gv", "Ev"), {}),
         0xC0: ("xadd", ("Eb", "Gb"), {}), 0xC1: ("xadd", ("Ev", "Gv"), {}), 0xC7: _grp9}
    for b in range(0x18, 0x20):
        t[b] = _hint_nop
    for cc in range(16):
        t[0x40 + cc] = ("cmov", ("Gv", "Ev"), CC)
        t[0x80 + cc] = ("jcc", ("Jz",), dict(CC, **BRANCH))
        t[0x90 + cc] = ("setcc", ("Eb",), CC)
    for r in range(8):
        t[0xC8 + r] = ("bswap", ("Zd",), {})
    return t


ONE_BYTE = _one_byte_map()
TWO_BYTE = _two_byte_map()

