"""Compile kpy programs, link them with the runtime, and call their
functions in a flat 32-bit machine. The one place that knows how.

Linking uses the project's linker (compiler.linker.link_objects); execution
the project's VM (vm.flat.FlatMachine), or Unicorn in flat 32-bit mode with
KPY_TEST_EXECUTOR=unicorn (a differential check). Both behind one small API:
call/call64/read/write/alloc/output.
"""
from __future__ import annotations

import functools
import re
import struct
from pathlib import Path

from compiler.driver import compile_module
from compiler.linker import link_objects

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime"
BASE = 0x100000


@functools.lru_cache(maxsize=None)
def runtime_objects(opt: int) -> tuple[tuple[str, bytes], ...]:
    objs = []
    for path in sorted(RUNTIME.rglob("*.kpy")):
        rel = path.relative_to(RUNTIME).with_suffix("")
        res = compile_module(path.read_text(), str(path), ".".join(rel.parts), [RUNTIME], opt, False, "obj")
        objs.append((str(path), res.output))
    return tuple(objs)


def compile_program(src: str, opt: int, roots=(), filename: str = "prog.kpy", module: str = "prog",
                    debug: bool = False) -> list[tuple[str, bytes]]:
    """Objects of `src` and of every non-runtime module it imports."""
    roots = [Path(r) for r in roots] + [RUNTIME]
    res = compile_module(src, filename, module, roots, opt, debug, "obj")
    objs = [(filename, res.output)]
    for name, info in res.program.modules.items():
        if name == module or Path(info.filename).resolve().is_relative_to(RUNTIME):
            continue
        sub = compile_module(info.source, info.filename, name, roots, opt, debug, "obj")
        objs.append((info.filename, sub.output))
    return objs


def link(objs) -> bytes:
    return link_objects(list(objs) + list(runtime_objects_for(objs)), base=BASE)


def runtime_objects_for(objs):
    # The opt level of the runtime does not matter for linking; use -O2 unless
    # the caller linked its own runtime objects already.
    names = {n for n, _ in objs}
    return [o for o in runtime_objects(2) if o[0] not in names]


def build(src: str, opt: int, roots=(), runtime_opt: int | None = None, **kw) -> "VMFlat | UnicornFlat":
    objs = compile_program(src, opt, roots, **kw)
    rt = runtime_objects(opt if runtime_opt is None else runtime_opt)
    elf = link_objects(objs + list(rt), base=BASE)
    return make_machine(elf)


def make_machine(elf: bytes):
    """The project's VM (vm.flat.FlatMachine) by default;
    KPY_TEST_EXECUTOR=unicorn runs the same calls in Unicorn instead."""
    import os
    if os.environ.get("KPY_TEST_EXECUTOR", "vm") == "unicorn":
        return UnicornFlat(elf)
    return VMFlat(elf)


def _words(args) -> list[int]:
    """cdecl stack words: a u64/i64 argument is two (low half first)."""
    out = []
    for a in args:
        if isinstance(a, tuple) and a[0] == "u64":
            out += [a[1] & 0xFFFFFFFF, (a[1] >> 32) & 0xFFFFFFFF]
        else:
            out.append(a & 0xFFFFFFFF)
    return out


class VMFlat:
    """vm.flat.FlatMachine with the harness's argument conventions."""

    def __init__(self, elf: bytes):
        from vm.flat import FlatMachine
        # A runaway test program fails in seconds, not after the default limit.
        self.fm = FlatMachine(elf, ram_size=64 << 20, timing="off", insn_limit=20_000_000)

    def call(self, name: str, *args) -> int:
        return self.fm.call(name, *_words(args)) & 0xFFFFFFFF

    def call64(self, name: str, *args) -> int:
        return self.fm.call64(name, *_words(args)) & 0xFFFFFFFFFFFFFFFF

    @property
    def output(self) -> bytes:
        return bytes(self.fm.output)

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.fm.read(addr, n))

    def write(self, addr: int, data: bytes) -> None:
        self.fm.write(addr, bytes(data))

    def alloc(self, n: int, align: int = 16) -> int:
        return self.fm.alloc(n, align=align)


class GuestFault(Exception):
    pass


class UnicornFlat:
    """Flat 32-bit execution of a linked ELF in Unicorn (stand-in for vm.flat)."""
    RAM = 64 << 20
    RET_ADDR = 0x1000          # calls return here; emulation stops on reaching it
    STACK_TOP = 0x90000
    HEAP = 0x2000000

    def __init__(self, elf: bytes, max_insns: int = 20_000_000):
        from elftools.elf.elffile import ELFFile
        from unicorn import UC_ARCH_X86, UC_HOOK_INSN, UC_MODE_32, Uc
        from unicorn.x86_const import UC_X86_INS_IN, UC_X86_INS_OUT
        import io
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, self.RAM)
        self.symbols = {}
        ef = ELFFile(io.BytesIO(elf))
        for seg in ef.iter_segments():
            if seg["p_type"] == "PT_LOAD":
                data = seg.data()
                self.uc.mem_write(seg["p_paddr"], data + bytes(seg["p_memsz"] - len(data)))
        symtab = ef.get_section_by_name(".symtab")
        for s in symtab.iter_symbols():
            if s.name:
                self.symbols[s.name] = s["st_value"]
        self.uc.mem_write(self.RET_ADDR, b"\xf4")    # hlt, never executed
        self.output = b""
        self._heap = self.HEAP
        self.max_insns = max_insns

        def on_out(uc, port, size, value, user):
            if port in (0xE9, 0x3F8):
                self.output += bytes([value & 0xFF])

        def on_in(uc, port, size, user):
            return 0x20 if port == 0x3FD else 0xFF   # UART: transmitter empty
        self.uc.hook_add(UC_HOOK_INSN, on_out, None, 1, 0, UC_X86_INS_OUT)
        self.uc.hook_add(UC_HOOK_INSN, on_in, None, 1, 0, UC_X86_INS_IN)

    def address(self, name: str) -> int:
        return self.symbols[name]

    def _run(self, name: str, args) -> None:
        from unicorn import UcError
        from unicorn.x86_const import UC_X86_REG_EIP, UC_X86_REG_ESP, UC_X86_REG_EBP
        words = _words(args)
        sp = self.STACK_TOP - 4 * len(words) - 4
        self.uc.mem_write(sp, struct.pack(f"<{len(words) + 1}I", self.RET_ADDR, *words))
        self.uc.reg_write(UC_X86_REG_ESP, sp)
        self.uc.reg_write(UC_X86_REG_EBP, 0)
        try:
            self.uc.emu_start(self.symbols[name], self.RET_ADDR, count=self.max_insns)
        except UcError as e:
            raise GuestFault(f"{e} at eip={self.uc.reg_read(UC_X86_REG_EIP):#x}") from None
        if self.uc.reg_read(UC_X86_REG_EIP) != self.RET_ADDR:
            raise GuestFault(f"did not return within {self.max_insns} instructions "
                             f"(eip={self.uc.reg_read(UC_X86_REG_EIP):#x})")

    def call(self, name: str, *args) -> int:
        from unicorn.x86_const import UC_X86_REG_EAX
        self._run(name, args)
        return self.uc.reg_read(UC_X86_REG_EAX)

    def call64(self, name: str, *args) -> int:
        from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_EDX
        self._run(name, args)
        return self.uc.reg_read(UC_X86_REG_EAX) | (self.uc.reg_read(UC_X86_REG_EDX) << 32)

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def alloc(self, n: int, align: int = 16) -> int:
        self._heap = (self._heap + align - 1) // align * align
        a = self._heap
        self._heap += n
        return a


# ---- expectations written in a program's header comments ----------------

EXPECT_LINE = re.compile(r"^#\s*(expect|expect64|output):\s*(\w+)\((.*)\)\s*==\s*(.+)$")


def expectations(src: str):
    """[(kind, function, args, wanted)] from `# expect: f(1, 2) == 3` lines."""
    out = []
    for line in src.splitlines():
        m = EXPECT_LINE.match(line.strip())
        if m:
            kind, fn, args, want = m.groups()
            out.append((kind, fn, _expect_args(args), _expect_value(want.strip())))
    return out


def _expect_value(text: str):
    """Evaluate an expectation's constant expression (test-authored text)."""
    return eval(text, {"__builtins__": {}, "u64": arg64, "ord": ord})


def _expect_args(text: str):
    return list(_expect_value(f"({text},)")) if text.strip() else []


def check_expectations(m, src: str) -> None:
    for kind, fn, args, want in expectations(src):
        if kind == "expect":
            got = m.call(fn, *args)
            assert got & 0xFFFFFFFF == want & 0xFFFFFFFF, f"{fn}{tuple(args)} = {got:#x}, want {want & 0xFFFFFFFF:#x}"
        elif kind == "expect64":
            got = m.call64(fn, *args)
            assert got == want & 0xFFFFFFFFFFFFFFFF, f"{fn}{tuple(args)} = {got:#x}, want {want:#x}"
        else:
            before = len(m.output)
            m.call(fn, *args)
            assert m.output[before:] == want, m.output[before:]


def arg64(v: int):
    """A u64/i64 argument (two stack words)."""
    return ("u64", v)


def assert_error_at(src: str, where: str, text: str) -> None:
    """Compiling `src` fails with `e.kpy:LINE:COL: error:` containing `text`,
    and the caret stands under the column."""
    import pytest
    from compiler.driver import CompileError, compile_source
    with pytest.raises(CompileError) as ei:
        compile_source(src, filename="e.kpy", module="e", roots=[], opt=0)
    report = str(ei.value)
    assert f"e.kpy:{where}: error: " in report, report
    assert text in report, report
    col = int(where.split(":")[1])
    assert report.splitlines()[2] == " " * (col - 1) + "^", report       # caret under the column
