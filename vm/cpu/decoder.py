"""Instruction decoding: bytes -> `Insn` (a mnemonic plus typed operands).

The decoder knows encodings only: prefixes, ModRM/SIB, immediates and the
opcode maps.  What an instruction *does* lives in semantics.py, keyed by
the mnemonic this module produces.  Unknown encodings decode to "ud"
(the translator turns it into #UD in the guest).
"""
from __future__ import annotations

from dataclasses import dataclass, field

ES, CS, SS, DS, FS, GS = range(6)
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
            if b == 0x0F:
                mnem, ops, extra = self._two_byte(self._byte())
            else:
                mnem, ops, extra = self._one_byte(b)
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

    # ---- one-byte map -----------------------------------------------------
    def _one_byte(self, b):
        v = self.osz
        if b < 0x40 and (b & 7) < 6:
            op = ALU[b >> 3]
            form = b & 7
            if form < 4:
                self._modrm()
                bits = 8 if form & 1 == 0 else v
                a, g = self.E(bits), self.G(bits)
                return op, ((a, g) if form < 2 else (g, a)), {}
            if form == 4:
                return op, (Reg(8, 0), Imm(8, self._imm(8))), {}
            return op, (Reg(v, 0), self.Iz()), {}
        if b in (0x06, 0x0E, 0x16, 0x1E):
            return "push", (SReg(b >> 3),), {}
        if b in (0x07, 0x17, 0x1F):
            return "pop", (SReg(b >> 3),), {}
        if b in (0x27, 0x2F, 0x37, 0x3F):
            return {0x27: "daa", 0x2F: "das", 0x37: "aaa", 0x3F: "aas"}[b], (), {}
        if 0x40 <= b < 0x50:
            return ("inc" if b < 0x48 else "dec"), (Reg(v, b & 7),), {}
        if 0x50 <= b < 0x58:
            return "push", (Reg(v, b & 7),), {}
        if 0x58 <= b < 0x60:
            return "pop", (Reg(v, b & 7),), {}
        if b == 0x60:
            return "pusha", (), {}
        if b == 0x61:
            return "popa", (), {}
        if b in (0x62, 0x63):
            self._modrm()
            if b == 0x62:
                return "bound", (self.G(v), self.M(2 * v)), {}
            return "arpl", (self.E(16), self.G(16)), {}
        if b == 0x68:
            return "push", (self.Iz(),), {}
        if b == 0x6A:
            return "push", (self.Ib_sx(),), {}
        if b in (0x69, 0x6B):
            self._modrm()
            src, dst = self.E(v), self.G(v)
            imm = self.Iz() if b == 0x69 else self.Ib_sx()
            return "imul3", (dst, src, imm), {"klass": "mul"}
        if 0x6C <= b <= 0x6F:
            bits = 8 if b & 1 == 0 else v
            return ("ins" if b < 0x6E else "outs"), (Imm(bits, 0),), {"klass": "io"}
        if 0x70 <= b < 0x80:
            return "jcc", (Imm(32, self._imm(8, True)),), {"cc": b & 15, "klass": "branch"}
        if 0x80 <= b <= 0x83:
            self._modrm()
            bits = 8 if b in (0x80, 0x82) else v
            dst = self.E(bits)
            imm = Imm(8, self._imm(8)) if bits == 8 else (self.Iz() if b == 0x81 else self.Ib_sx())
            return ALU[self._reg], (dst, imm), {}
        if b in (0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B):
            self._modrm()
            bits = 8 if b & 1 == 0 else v
            e, g = self.E(bits), self.G(bits)
            if b <= 0x85:
                return "test", (e, g), {}
            if b <= 0x87:
                return "xchg", (e, g), {}
            return "mov", ((e, g) if b <= 0x89 else (g, e)), {}
        if b == 0x8C:
            self._modrm()
            if self._reg > 5:
                raise _Undefined
            dst = self.E(v if self._mod == 3 else 16)
            return "mov_from_sreg", (dst, SReg(self._reg)), {}
        if b == 0x8D:
            self._modrm()
            return "lea", (self.G(v), self.M()), {}
        if b == 0x8E:
            self._modrm()
            if self._reg in (CS,) or self._reg > 5:
                raise _Undefined
            return "mov_to_sreg", (SReg(self._reg), self.E(16)), {}
        if b == 0x8F:
            self._modrm()
            return "pop", (self.E(v),), {}
        if b == 0x90:
            return "nop", (), {}
        if 0x91 <= b <= 0x97:
            return "xchg", (Reg(v, 0), Reg(v, b & 7)), {}
        if b == 0x98:
            return "cbw", (), {}
        if b == 0x99:
            return "cwd", (), {}
        if b in (0x9A, 0xEA):
            off = self._imm(v)
            sel = self._imm(16)
            return ("callf" if b == 0x9A else "jmpf"), (Imm(16, sel), Imm(v, off)), {"klass": "branch"}
        if b == 0x9B:
            return "nop", (), {}
        if b == 0x9C:
            return "pushf", (), {}
        if b == 0x9D:
            return "popf", (), {}
        if b == 0x9E:
            return "sahf", (), {}
        if b == 0x9F:
            return "lahf", (), {}
        if 0xA0 <= b <= 0xA3:
            bits = 8 if b & 1 == 0 else v
            off = self._imm(self.asz)
            mem = Mem(bits, DS if self.seg is None else self.seg, None, None, 1, off, self.asz)
            return "mov", ((Reg(bits, 0), mem) if b < 0xA2 else (mem, Reg(bits, 0))), {}
        if 0xA4 <= b <= 0xAF and b not in (0xA8, 0xA9):
            bits = 8 if b & 1 == 0 else v
            name = {0xA4: "movs", 0xA6: "cmps", 0xAA: "stos", 0xAC: "lods", 0xAE: "scas"}[b & 0xFE]
            return name, (Imm(bits, 0),), {}
        if b == 0xA8:
            return "test", (Reg(8, 0), Imm(8, self._imm(8))), {}
        if b == 0xA9:
            return "test", (Reg(v, 0), self.Iz()), {}
        if 0xB0 <= b < 0xB8:
            return "mov", (Reg(8, b & 7), Imm(8, self._imm(8))), {}
        if 0xB8 <= b < 0xC0:
            return "mov", (Reg(v, b & 7), self.Iz()), {}
        if b in (0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3):
            self._modrm()
            bits = 8 if b & 1 == 0 else v
            dst = self.E(bits)
            if b <= 0xC1:
                cnt = Imm(8, self._imm(8))
            elif b <= 0xD1:
                cnt = Imm(8, 1)
            else:
                cnt = Reg(8, 1)
            return SHIFTS[self._reg], (dst, cnt), {}
        if b == 0xC2:
            return "ret", (Imm(16, self._imm(16)),), {"klass": "branch"}
        if b == 0xC3:
            return "ret", (Imm(16, 0),), {"klass": "branch"}
        if b in (0xC4, 0xC5):
            self._modrm()
            return "lptr", (SReg(ES if b == 0xC4 else DS), self.G(v), self.M(v)), {}
        if b in (0xC6, 0xC7):
            self._modrm()
            if self._reg != 0:
                raise _Undefined
            bits = 8 if b == 0xC6 else v
            dst = self.E(bits)
            return "mov", (dst, Imm(8, self._imm(8)) if bits == 8 else self.Iz()), {}
        if b == 0xC8:
            size = self._imm(16)
            return "enter", (Imm(16, size), Imm(8, self._imm(8))), {}
        if b == 0xC9:
            return "leave", (), {}
        if b in (0xCA, 0xCB):
            return "retf", (Imm(16, self._imm(16) if b == 0xCA else 0),), {"klass": "branch"}
        if b == 0xCC:
            return "int", (Imm(8, 3),), {"klass": "branch", "int3": True}
        if b == 0xCD:
            return "int", (Imm(8, self._imm(8)),), {"klass": "branch"}
        if b == 0xCE:
            return "into", (), {"klass": "branch"}
        if b == 0xCF:
            return "iret", (), {"klass": "branch"}
        if b == 0xD4:
            return "aam", (Imm(8, self._imm(8)),), {"klass": "div"}
        if b == 0xD5:
            return "aad", (Imm(8, self._imm(8)),), {}
        if b == 0xD7:
            return "xlat", (), {}
        if 0xD8 <= b <= 0xDF:
            self._modrm()     # x87 is absent: consume the ModRM so the length is right
            return "nm", (), {}
        if 0xE0 <= b <= 0xE3:
            name = ("loopne", "loope", "loop", "jcxz")[b - 0xE0]
            return name, (Imm(32, self._imm(8, True)),), {"klass": "branch"}
        if b in (0xE4, 0xE5, 0xE6, 0xE7):
            bits = 8 if b & 1 == 0 else v
            port = Imm(8, self._imm(8))
            return ("in" if b < 0xE6 else "out"), (Reg(bits, 0), port), {"klass": "io"}
        if b in (0xEC, 0xED, 0xEE, 0xEF):
            bits = 8 if b & 1 == 0 else v
            return ("in" if b < 0xEE else "out"), (Reg(bits, 0), Reg(16, 2)), {"klass": "io"}
        if b == 0xE8:
            return "call", (Imm(32, self._imm(v, True)),), {"klass": "branch"}
        if b == 0xE9:
            return "jmp", (Imm(32, self._imm(v, True)),), {"klass": "branch"}
        if b == 0xEB:
            return "jmp", (Imm(32, self._imm(8, True)),), {"klass": "branch"}
        if b == 0xF4:
            return "hlt", (), {}
        if b == 0xF5:
            return "cmc", (), {}
        if b in (0xF6, 0xF7):
            self._modrm()
            bits = 8 if b == 0xF6 else v
            op = GRP3[self._reg]
            dst = self.E(bits)
            if op == "test":
                imm = Imm(8, self._imm(8)) if bits == 8 else self.Iz()
                return "test", (dst, imm), {}
            klass = "mul" if op in ("mul", "imul") else "div" if op in ("div", "idiv") else "insn"
            return op, (dst,), {"klass": klass}
        if 0xF8 <= b <= 0xFD:
            return ("clc", "stc", "cli", "sti", "cld", "std")[b - 0xF8], (), {}
        if b == 0xFE:
            self._modrm()
            if self._reg > 1:
                raise _Undefined
            return ("inc", "dec")[self._reg], (self.E(8),), {}
        if b == 0xFF:
            r = self._modrm()
            if r == 0:
                return "inc", (self.E(v),), {}
            if r == 1:
                return "dec", (self.E(v),), {}
            if r == 2:
                return "call_ind", (self.E(v),), {"klass": "branch"}
            if r == 3:
                return "callf_ind", (self.M(v),), {"klass": "branch"}
            if r == 4:
                return "jmp_ind", (self.E(v),), {"klass": "branch"}
            if r == 5:
                return "jmpf_ind", (self.M(v),), {"klass": "branch"}
            if r == 6:
                return "push", (self.E(v),), {}
        raise _Undefined

    # ---- two-byte map (0F xx) ---------------------------------------------
    def _two_byte(self, b):
        v = self.osz
        if b == 0x00:
            r = self._modrm()
            if r in (0, 1):
                return ("sldt", "str")[r], (self.E(v if self._mod == 3 else 16),), {}
            if r in (2, 3):
                return ("lldt", "ltr")[r - 2], (self.E(16),), {}
            if r in (4, 5):
                return ("verr", "verw")[r - 4], (self.E(16),), {}
            raise _Undefined
        if b in (0x02, 0x03):
            self._modrm()
            return ("lar", "lsl")[b - 2], (self.G(v), self.E(16)), {}
        if b == 0x01:
            r = self._modrm()
            if r in (0, 1, 2, 3):
                return ("sgdt", "sidt", "lgdt", "lidt")[r], (self.M(),), {}
            if r == 4:
                return "smsw", (self.E(v if self._mod == 3 else 16),), {}
            if r == 6:
                return "lmsw", (self.E(16),), {}
            if r == 7:
                return "invlpg", (self.M(),), {}
            raise _Undefined
        if b == 0x06:
            return "clts", (), {}
        if b in (0x08, 0x09):
            return "nop", (), {}
        if b == 0x0B:
            return "ud", (), {}
        if b in (0x0D, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F):
            self._modrm()
            return "nop", (), {}
        if b in (0x20, 0x21, 0x22, 0x23):
            self._modrm()   # mod is ignored: always a register operand
            kind = "cr" if b in (0x20, 0x22) else "dr"
            ctl, gpr = CtlReg(kind, self._reg), Reg(32, self._rm)
            if kind == "cr" and self._reg not in (0, 2, 3, 4):
                raise _Undefined
            return ("mov_from_ctl" if b < 0x22 else "mov_to_ctl"), (ctl, gpr), {}
        if b == 0x30:
            return "wrmsr", (), {}
        if b == 0x31:
            return "rdtsc", (), {"klass": "rdtsc"}
        if b == 0x32:
            return "rdmsr", (), {}
        if 0x40 <= b < 0x50:
            self._modrm()
            return "cmov", (self.G(v), self.E(v)), {"cc": b & 15}
        if 0x80 <= b < 0x90:
            return "jcc", (Imm(32, self._imm(v, True)),), {"cc": b & 15, "klass": "branch"}
        if 0x90 <= b < 0xA0:
            self._modrm()
            return "setcc", (self.E(8),), {"cc": b & 15}
        if b in (0xA0, 0xA8):
            return "push", (SReg(FS if b == 0xA0 else GS),), {}
        if b in (0xA1, 0xA9):
            return "pop", (SReg(FS if b == 0xA1 else GS),), {}
        if b == 0xA2:
            return "cpuid", (), {}
        if b in (0xA3, 0xAB, 0xB3, 0xBB):
            self._modrm()
            name = {0xA3: "bt", 0xAB: "bts", 0xB3: "btr", 0xBB: "btc"}[b]
            return name, (self.E(v), self.G(v)), {}
        if b in (0xA4, 0xA5, 0xAC, 0xAD):
            self._modrm()
            dst, src = self.E(v), self.G(v)
            cnt = Imm(8, self._imm(8)) if b in (0xA4, 0xAC) else Reg(8, 1)
            return ("shld" if b < 0xA8 else "shrd"), (dst, src, cnt), {}
        if b == 0xAF:
            self._modrm()
            return "imul2", (self.G(v), self.E(v)), {"klass": "mul"}
        if b in (0xB0, 0xB1):
            self._modrm()
            bits = 8 if b == 0xB0 else v
            return "cmpxchg", (self.E(bits), self.G(bits)), {}
        if b in (0xB2, 0xB4, 0xB5):
            self._modrm()
            seg = {0xB2: SS, 0xB4: FS, 0xB5: GS}[b]
            return "lptr", (SReg(seg), self.G(v), self.M(v)), {}
        if b in (0xB6, 0xB7, 0xBE, 0xBF):
            self._modrm()
            src = self.E(8 if b in (0xB6, 0xBE) else 16)
            return ("movzx" if b < 0xB8 else "movsx"), (self.G(v), src), {}
        if b == 0xBA:
            r = self._modrm()
            if r < 4:
                raise _Undefined
            dst = self.E(v)
            return ("bt", "bts", "btr", "btc")[r - 4], (dst, Imm(8, self._imm(8))), {}
        if b in (0xBC, 0xBD):
            self._modrm()
            return ("bsf" if b == 0xBC else "bsr"), (self.G(v), self.E(v)), {}
        if b in (0xC0, 0xC1):
            self._modrm()
            bits = 8 if b == 0xC0 else v
            return "xadd", (self.E(bits), self.G(bits)), {}
        if b == 0xC7:
            r = self._modrm()
            if r != 1:
                raise _Undefined
            return "cmpxchg8b", (self.M(64),), {}
        if 0xC8 <= b < 0xD0:
            return "bswap", (Reg(32, b & 7),), {}
        raise _Undefined


class _Undefined(Exception):
    pass
