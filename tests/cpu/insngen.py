"""Random i386 instruction sequences (AT&T text) for the Unicorn differential test.

Each generator returns the text of one or more instructions and the flags it
leaves undefined (Intel SDM); the sequence builder keeps a running mask of
undefined flags, defines the flags again (with a `cmp`) before anything
that reads them, and the comparison masks what is still undefined at the end.

Memory operands stay inside the data window: `disp(%ebp)` with EBP fixed at
the window base (the generator never writes EBP or ESP except by push/pop).
"""
from __future__ import annotations

import random

CF, PF, AF, ZF, SF, OF = 1, 4, 0x10, 0x40, 0x80, 0x800
ALL = CF | PF | AF | ZF | SF | OF

R32 = ["eax", "ecx", "edx", "ebx", "esi", "edi"]
R16 = ["ax", "cx", "dx", "bx", "si", "di"]
R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"]
REGS = {8: R8, 16: R16, 32: R32}
SFX = {8: "b", 16: "w", 32: "l"}
CCS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]
DATA_SIZE = 4096


class Gen:
    def __init__(self, rng: random.Random, mode16: bool = False):
        self.r = rng
        self.mode16 = mode16

    # ---- operands -------------------------------------------------------------
    def reg(self, bits):
        return "%" + self.r.choice(REGS[bits])

    def mem(self, margin=8):
        disp = self.r.randrange(0, DATA_SIZE - margin)
        if self.mode16 and self.r.random() < 0.5:
            base = self.r.choice(["(%bx,%si)", "(%bx,%di)", "(%bp,%si)", "(%bp,%di)", "(%si)", "(%di)", "(%bx)"])
            return f"{disp}{base}"
        return f"{disp}(%ebp)"

    def imm(self, bits):
        v = self.r.choice([0, 1, 0x7F, 0x80, (1 << bits) - 1, 1 << (bits - 1), self.r.getrandbits(bits)])
        return f"${v}"

    def size(self):
        return self.r.choice([8, 16, 32, 32])

    def rm(self, bits):
        return self.mem() if self.r.random() < 0.3 else self.reg(bits)

    # ---- instruction families: each returns (text, undefined flags, reads flags) ----
    def alu(self):
        op = self.r.choice(["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test"])
        b = self.size()
        form = self.r.randrange(5)
        s = SFX[b]
        if form == 0:
            t = f"{op}{s} {self.reg(b)}, {self.reg(b)}"
        elif form == 1:
            t = f"{op}{s} {self.imm(b)}, {self.reg(b)}"
        elif form == 2 and op != "test":
            t = f"{op}{s} {self.mem()}, {self.reg(b)}"
        elif form == 3:
            t = f"{op}{s} {self.reg(b)}, {self.mem()}"
        else:
            t = f"{op}{s} {self.imm(b)}, {self.mem()}"
        if b != 8 and op != "test" and self.r.random() < 0.2:
            t = f"{op}{s} ${self.r.randrange(-128, 128)}, {self.rm(b)}"   # sign-extended imm8
        undefined = AF if op in ("and", "or", "xor", "test") else 0
        return t, undefined, op in ("adc", "sbb")

    def unary(self):
        op = self.r.choice(["inc", "dec", "neg", "not"])
        b = self.size()
        return f"{op}{SFX[b]} {self.rm(b)}", 0, op in ("inc", "dec")

    def shift(self):
        op = self.r.choice(["shl", "shr", "sar", "rol", "ror", "rcl", "rcr"])
        b = self.size()
        k = self.r.choice([0, 1, 1, 2, 3, b - 1, b, b + 1, 31, self.r.randrange(32)])
        dst = self.rm(b)
        if self.r.random() < 0.3:
            pre = f"movb ${k}, %cl\n"
            if dst in ("%cl", "%cx", "%ecx", "%ch"):
                dst = self.mem()
            t = pre + f"{op}{SFX[b]} %cl, {dst}"
        elif k == 1 and self.r.random() < 0.5:
            t = f"{op}{SFX[b]} {dst}"
        else:
            t = f"{op}{SFX[b]} ${k}, {dst}"
        count = k & 31
        undefined = 0
        if op in ("shl", "shr", "sar"):
            if count:
                undefined |= AF
                if count > 1:
                    undefined |= OF
                if count >= b:
                    undefined |= CF | OF
        else:
            if op in ("rcl", "rcr"):
                count %= b + 1
            if count and (k & 31) != 1:
                undefined |= OF
        return t, undefined, op in ("rcl", "rcr")

    def muldiv(self):
        b = self.size()
        s = SFX[b]
        kind = self.r.randrange(6)
        if kind == 0:
            return f"mul{s} {self.rm(b)}", SF | ZF | AF | PF, False
        if kind == 1:
            return f"imul{s} {self.rm(b)}", SF | ZF | AF | PF, False
        if kind == 2 and b != 8:
            return f"imul{s} {self.rm(b)}, {self.reg(b)}", SF | ZF | AF | PF, False
        if kind == 3 and b != 8:
            return f"imul{s} ${self.r.randrange(-200, 200)}, {self.rm(b)}, {self.reg(b)}", SF | ZF | AF | PF, False
        # divide without #DE: a small positive divisor, a zero/sign-extended dividend
        div_regs = {8: ["%bl", "%cl", "%dl", "%bh", "%ch", "%dh"], 16: ["%bx", "%cx", "%si", "%di"],
                    32: ["%ebx", "%ecx", "%esi", "%edi"]}[b]
        d = self.r.choice(div_regs)
        if kind == 4:
            if b == 8:
                pre = f"orb $1, {d}\nmovzbw %al, %ax\n"
            else:
                hi = "%dx" if b == 16 else "%edx"
                pre = f"or{s} $1, {d}\nxor{s} {hi}, {hi}\n"
            return pre + f"div{s} {d}", ALL, False
        mask = {8: 0x7F, 16: 0x7FFF, 32: 0x7FFFFFFF}[b]
        ext = {8: "cbtw", 16: "cwtd", 32: "cltd"}[b]
        if b == 8:
            pre = f"and{s} ${mask}, {d}\nor{s} $2, {d}\nandb $0x7f, %al\n{ext}\n"
        else:
            pre = f"and{s} ${mask}, {d}\nor{s} $2, {d}\n{ext}\n"
        return pre + f"idiv{s} {d}", ALL, False

    def move(self):
        kind = self.r.randrange(8)
        if kind == 0:
            b = self.size()
            return f"mov{SFX[b]} {self.rm(b)}, {self.reg(b)}", 0, False
        if kind == 1:
            b = self.size()
            return f"mov{SFX[b]} {self.imm(b)}, {self.rm(b)}", 0, False
        if kind == 2:
            b = self.size()
            return f"mov{SFX[b]} {self.reg(b)}, {self.mem()}", 0, False
        if kind == 3:
            op = self.r.choice(["movzbl", "movzwl", "movsbl", "movswl", "movzbw", "movsbw"])
            src_bits = 8 if op[4] == "b" else 16
            dst_bits = 32 if op[-1] == "l" else 16
            return f"{op} {self.rm(src_bits)}, {self.reg(dst_bits)}", 0, False
        if kind == 4:
            regs = R32 + ["ebp", "esp"]
            base, idx = self.r.choice(regs), self.r.choice(R32 + ["ebp"])
            disp = self.r.randrange(-2 ** 31, 2 ** 31)
            b = self.r.choice([16, 32])
            if self.r.random() < 0.3:
                # 16-bit addressing (0x67 in 32-bit code): the offset wraps at 64 KiB
                form = self.r.choice(["(%bx,%si)", "(%bx,%di)", "(%bp,%si)", "(%bp,%di)", "(%si)", "(%di)",
                                      "(%bp)", "(%bx)"])
                return f"lea{SFX[b]} {self.r.randrange(-32768, 32768)}{form}, {self.reg(b)}", 0, False
            return f"lea{SFX[b]} {disp}(%{base},%{idx},{self.r.choice([1, 2, 4, 8])}), {self.reg(b)}", 0, False
        if kind == 5:
            b = self.size()
            if self.r.random() < 0.5:
                return f"xchg{SFX[b]} {self.reg(b)}, {self.reg(b)}", 0, False
            return f"xchg{SFX[b]} {self.reg(b)}, {self.mem()}", 0, False
        if kind == 6:
            return "bswapl " + self.reg(32), 0, False
        return self.r.choice(["cbtw", "cwtl", "cwtd", "cltd"]), 0, False

    def flags_readers(self):
        kind = self.r.randrange(6)
        cc = self.r.choice(CCS)
        if kind == 0:
            b = self.r.choice([16, 32])
            return f"cmov{cc}{SFX[b]} {self.rm(b)}, {self.reg(b)}", 0, True
        if kind == 1:
            return f"set{cc} {self.rm(8)}", 0, True
        if kind == 2:
            t, und, _ = self.r.choice([self.move, self.unary])()
            return f"j{cc} 1f\n{t}\n1:", und, True
        if kind == 3:
            return self.r.choice(["clc", "stc", "cmc"]), 0, True
        if kind == 4:
            return self.r.choice(["lahf", "sahf"]), 0, True
        return self.r.choice(["daa", "das"]), OF, True

    def bits(self):
        kind = self.r.randrange(5)
        b = self.r.choice([16, 32])
        s = SFX[b]
        op = self.r.choice(["bt", "bts", "btr", "btc"])
        und = OF | SF | AF | PF
        if kind == 0:
            return f"{op}{s} ${self.r.randrange(256)}, {self.rm(b)}", und, True
        if kind == 1:
            return f"{op}{s} {self.reg(b)}, {self.reg(b)}", und, True
        if kind == 2:
            r = self.r.choice(REGS[b])
            return f"and{s} $127, %{r}\n{op}{s} %{r}, {self.mem(margin=40)}", und | AF, True
        if kind == 3:
            op = self.r.choice(["bsf", "bsr"])
            return f"{op}{s} {self.rm(b)}, {self.reg(b)}", CF | OF | SF | AF | PF, False
        op = self.r.choice(["shld", "shrd"])
        k = self.r.randrange(b if b == 16 else 32)
        und = 0
        if k:
            und = AF | (OF if k > 1 else 0)
        return f"{op}{s} ${k}, {self.reg(b)}, {self.rm(b)}", und, False

    def atomics(self):
        b = self.size()
        s = SFX[b]
        op = self.r.choice(["cmpxchg", "xadd"])
        return f"{op}{s} {self.reg(b)}, {self.rm(b)}", 0, False

    def stack(self):
        kind = self.r.randrange(6)
        if kind == 0:
            return f"pushl {self.r.choice(['%' + r for r in R32] + [self.imm(32), self.mem()])}", 0, False
        if kind == 1:
            return f"popl {self.r.choice(['%' + r for r in R32] + [self.mem()])}", 0, False
        if kind == 2:
            return f"pushw {self.r.choice(['%' + r for r in R16] + [self.mem()])}", 0, False
        if kind == 3:
            return f"popw {self.r.choice(['%' + r for r in R16] + [self.mem()])}", 0, False
        if kind == 4:
            return "pushfl", 0, True
        if self.r.random() < 0.5:
            return f"pushl %eax\npushl %ebx\npopl {self.r.choice([0, 4, 8])}(%esp)", 0, False
        return f"pushl ${self.r.randrange(-128, 128)}", 0, False

    def strings(self):
        b = self.r.choice([8, 16, 32])
        s = SFX[b]
        op = self.r.choice(["movs", "stos", "lods", "cmps", "scas"])
        rep = self.r.choice(["", "rep ", "repe ", "repne "]) if op in ("cmps", "scas") else self.r.choice(["", "rep "])
        d = self.r.choice(["cld", "std"])
        src, dst = self.r.randrange(256, DATA_SIZE - 256), self.r.randrange(256, DATA_SIZE - 256)
        n = self.r.randrange(0, 12)
        if self.mode16:
            setup = f"leaw {src}(%bp), %si\nleaw {dst}(%bp), %di\nmovw ${n}, %cx\n"
            if self.r.random() < 0.5:
                setup = f"leal {src}(%ebp), %esi\nleal {dst}(%ebp), %edi\nmovl ${n}, %ecx\n"
                return f"{d}\n{setup}.byte 0x67\n{rep}{op}{s}", 0, False
        else:
            setup = f"leal {src}(%ebp), %esi\nleal {dst}(%ebp), %edi\nmovl ${n}, %ecx\n"
        return f"{d}\n{setup}{rep}{op}{s}", 0, False

    def misc(self):
        kind = self.r.randrange(8)
        if kind == 0:
            size = self.r.choice([0, 4, 8, 0x20])
            level = self.r.choice([0, 0, 1, 2, 3])
            # enter saves EBP and builds a frame; leave undoes it (EBP is ours to keep)
            return f"enter ${size}, ${level}\nleave", 0, False
        if kind == 1:
            sfx = self.r.choice(["l", "w"])
            return f"pusha{sfx}\npopa{sfx}", 0, False
        if kind == 2:
            sfx = self.r.choice(["l", "w"])
            # popa skips ESP; give the other registers fresh values from the stack
            return f"pushl $0x1234\npushl %eax\npusha{sfx}\nmovl $0x55, %eax\npopa{sfx}", 0, False
        if kind == 3:
            op = self.r.choice(["loop", "loope", "loopne"])
            n = self.r.randrange(1, 6)
            cx = "%cx" if self.mode16 else "%ecx"
            body, und, _ = self.r.choice([self.alu, self.unary, self.move])()
            if "%c" in body or "%ec" in body or "cl" in body or "%ch" in body:
                body = "nop"
                und = 0
            return f"mov{'w' if self.mode16 else 'l'} ${n}, {cx}\n2:\n{body}\n{op} 2b", und | ALL, True
        if kind == 4:
            cx = "%cx" if self.mode16 else "%ecx"
            insn = "jcxz" if self.mode16 else "jecxz"
            return f"{insn} 3f\nnotl %eax\n3:", 0, False
        if kind == 5:
            bx = "%bx" if self.mode16 else "%ebx"
            base = "$0x100" if self.mode16 else "$0x10100"
            return f"mov{'w' if self.mode16 else 'l'} {base}, {bx}\nxlat", 0, False
        if kind == 6 and not self.mode16:
            # Unicorn 2.1's cmpxchg8b clobbers the flags besides ZF (Intel: unchanged);
            # compare ZF only here, test_flat checks that the others survive
            return f"cmpxchg8b {self.mem()}", ALL & ~ZF, False
        seg = self.r.choice(["%ds", "%es", "%ss"])
        b = self.size()
        return f"mov{SFX[b]} {seg}:{self.mem()}, {self.reg(b)}", 0, False

    FAMILIES = ("alu", "alu", "alu", "unary", "shift", "shift", "muldiv", "move", "move",
                "flags_readers", "flags_readers", "bits", "atomics", "stack", "strings", "misc")

    def sequence(self, length):
        """(text, undefined-flags mask at the end)."""
        undefined = 0
        lines = []
        for _ in range(length):
            fam = self.r.choice(self.FAMILIES)
            text, und, reads = getattr(self, fam)()
            if reads and undefined:
                lines.append(f"cmpl %{self.r.choice(R32)}, %{self.r.choice(R32)}")
                undefined = 0
            lines.append(text)
            undefined = (undefined & ~flags_written(text)) | und
        return "\n".join(lines), undefined


NO_FLAGS = ("mov", "lea", "xchg", "bswap", "push", "pop", "cbtw", "cwtl", "cwtd", "cltd", "set", "cmov",
            "cld", "std", "not", "lahf", "lods", "stos", "movs", "rep movs", "rep stos", "rep lods", "xlat",
            "leave", "enter", "nop")


def flags_written(text):
    """Flags the (last) instruction of a snippet certainly writes; a jcc
    snippet may skip its body, so it writes nothing for sure."""
    if text.startswith("j"):
        return 0
    last = text.split("\n")[-1].strip()
    mnem = last.split()[0]
    if last.startswith(("rep ", "repe ", "repne ", "addr32")):
        return 0            # count may be zero: flags may be untouched
    if mnem.startswith(NO_FLAGS):
        return 0
    if mnem.startswith(("inc", "dec")):
        return ALL & ~CF
    if mnem in ("clc", "stc", "cmc"):
        return CF
    if mnem.startswith(("bt",)):
        return CF | OF | SF | AF | PF
    if mnem.startswith(("shl", "shr", "sar", "rol", "ror", "rcl", "rcr")):
        return 0            # a zero count writes nothing (the undefined mask covers the rest)
    if mnem.startswith(("shld", "shrd")):
        return 0
    if mnem in ("sahf",):
        return CF | PF | AF | ZF | SF
    return ALL
