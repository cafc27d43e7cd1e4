"""FlatMachine: call functions of a linked ELF32 directly, without booting.

A flat 32-bit protected-mode environment: a GDT with flat code and data
segments, no paging, a stack, and an IDT whose every gate leads to a stub
the host watches, so a guest exception ends the call with `GuestFault`
(vector, error code, EIP) instead of a triple fault.  `call()` pushes the
arguments cdecl-style and a return address at a sentinel the host also
watches; the call ends when the function returns there.
"""
from __future__ import annotations

import io
from pathlib import Path

from .cpu import CPU
from .cpu.faults import NAMES, WITH_ERROR_CODE
from .memory import PhysicalMemory
from .ports import PortBus

GDT_BASE = 0x1000
IDT_BASE = 0x1800
STUBS = 0x2000          # 256 one-byte stubs (hlt), one per vector
SENTINEL = 0x2200       # return address of every call
HEAP_GAP = 0x1000
CODE_SEL, DATA_SEL = 0x08, 0x10
DEFAULT_INSN_LIMIT = 200_000_000


class GuestFault(Exception):
    """The guest raised an exception (or otherwise failed) during a call."""

    def __init__(self, message, vector=None, error_code=None, eip=None):
        super().__init__(message)
        self.vector, self.error_code, self.eip = vector, error_code, eip


class FlatMachineError(Exception):
    """Bad input to FlatMachine (not an ELF32 i386 executable, unknown symbol...)."""


class _OutputPorts:
    """Ports 0xE9 (debugcon) and COM1: bytes written are captured."""

    timed = False      # never reads the clock: port I/O takes the CPU's fast path

    def __init__(self):
        self.data = bytearray()

    def port_read(self, port, size):
        if port == 0x3FD:
            return 0x60            # line status: transmitter empty, ready for the next byte
        return 0

    def port_write(self, port, size, value):
        if port in (0xE9, 0x3F8):
            self.data.append(value & 0xFF)


def _gdt_entry(base, limit, access, flags):
    return (limit & 0xFFFF | (base & 0xFFFF) << 16 | ((base >> 16) & 0xFF) << 32 | access << 40
            | ((limit >> 16) & 0xF) << 48 | flags << 52 | ((base >> 24) & 0xFF) << 56).to_bytes(8, "little")


class FlatMachine:
    def __init__(self, elf, ram_size=64 << 20, timing="off", insn_limit=DEFAULT_INSN_LIMIT):
        self.mem = PhysicalMemory(ram_size)
        self.ports = PortBus()
        self._out = _OutputPorts()
        self.ports.register(0xE9, 1, self._out)
        self.ports.register(0x3F8, 8, self._out)
        self.cpu = CPU(self.mem, self.ports, timing=timing)
        self.insn_limit = insn_limit
        self.symbols: dict[str, int] = {}
        end = self._load_elf(elf) if elf is not None else SENTINEL + 16
        self.stack_top = ram_size - 16
        self._heap = (end + HEAP_GAP + 15) & ~15
        self._heap_limit = ram_size - (1 << 20)      # leave 1 MiB for the stack
        self._setup_protected_mode()
        self._event = None

    @classmethod
    def from_code(cls, code: bytes, base=0x100000, **kw):
        """A machine with raw code bytes at `base` (symbol "start")."""
        fm = cls(None, **kw)
        fm.write(base, code)
        fm.symbols["start"] = base
        fm._heap = max(fm._heap, (base + len(code) + HEAP_GAP + 15) & ~15)
        return fm

    # ---- loading -------------------------------------------------------------------------
    def _load_elf(self, elf):
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        data = Path(elf).read_bytes() if isinstance(elf, (str, Path)) else bytes(elf)
        try:
            f = ELFFile(io.BytesIO(data))
            if f.elfclass != 32 or f["e_machine"] != "EM_386":
                raise FlatMachineError("FlatMachine needs an ELF32 i386 file")
            if f["e_type"] != "ET_EXEC":
                raise FlatMachineError("FlatMachine needs a linked executable (ET_EXEC), not an object file")
            end = 0
            for seg in f.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                    continue
                addr, memsz = seg["p_vaddr"], seg["p_memsz"]
                if addr < SENTINEL + 16 or addr + memsz > self.mem.ram_size - (2 << 20):
                    raise FlatMachineError(f"segment at {addr:#x}+{memsz:#x} does not fit the flat "
                                           f"machine's RAM ({self.mem.ram_size:#x} bytes, low 8 KiB reserved)")
                body = seg.data()
                self.mem.write(addr, body + bytes(memsz - len(body)))
                end = max(end, addr + memsz)
            symtab = f.get_section_by_name(".symtab")
            if symtab is not None:
                for sym in symtab.iter_symbols():
                    if sym.name and sym["st_shndx"] != "SHN_UNDEF" and sym["st_info"]["type"] in (
                            "STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                        if sym["st_info"]["bind"] != "STB_LOCAL" or sym.name not in self.symbols:
                            self.symbols[sym.name] = sym["st_value"]
            return end
        except (ELFError, ValueError, KeyError) as err:
            raise FlatMachineError(f"not a valid ELF32 file: {err}") from None

    def _setup_protected_mode(self):
        mem, cpu = self.mem, self.cpu
        gdt = bytes(8) + _gdt_entry(0, 0xFFFFF, 0x9A, 0xC) + _gdt_entry(0, 0xFFFFF, 0x92, 0xC)
        mem.write(GDT_BASE, gdt)
        idt = bytearray()
        for vec in range(256):
            off = STUBS + vec
            idt += (off & 0xFFFF | CODE_SEL << 16 | 0x8E00 << 32 | (off >> 16) << 48).to_bytes(8, "little")
        mem.write(IDT_BASE, bytes(idt))
        mem.write(STUBS, b"\xF4" * 256)
        mem.write(SENTINEL, b"\xF4" * 16)
        cpu.gdtr[:] = [GDT_BASE, len(gdt) - 1]
        cpu.idtr[:] = [IDT_BASE, 256 * 8 - 1]
        cpu.set_cr0(cpu.cr[0] | 1)
        cpu.load_code_segment(CODE_SEL, 0)
        for i in (0, 2, 3, 4, 5):
            cpu.load_seg(i, DATA_SEL)
        for vec in range(256):
            cpu.add_exec_hook(STUBS + vec, self._exception_hook(vec))
        cpu.add_exec_hook(SENTINEL, self._return_hook)

    def _exception_hook(self, vector):
        def hook(cpu):
            esp = cpu.esp
            frame = self.read(esp, 16)
            words = [int.from_bytes(frame[k:k + 4], "little") for k in range(0, 16, 4)]
            code = words[0] if vector in WITH_ERROR_CODE else None
            eip = words[1] if code is not None else words[0]
            self._event = ("fault", vector, code, eip)
            cpu.request_stop()
        return hook

    def _return_hook(self, cpu):
        self._event = ("return",)
        cpu.request_stop()

    # ---- memory ----------------------------------------------------------------------------
    def write(self, addr, data):
        self.mem.write(addr, bytes(data))

    def read(self, addr, n):
        return self.mem.read(addr, n)

    def alloc(self, n, align=16):
        addr = (self._heap + align - 1) & ~(align - 1)
        if addr + n > self._heap_limit:
            raise FlatMachineError(f"FlatMachine heap exhausted allocating {n} bytes")
        self._heap = addr + n
        return addr

    def symbol(self, name):
        try:
            return self.symbols[name]
        except KeyError:
            raise FlatMachineError(f"no symbol '{name}' in the loaded ELF") from None

    @property
    def output(self) -> bytes:
        return bytes(self._out.data)

    # ---- calls -------------------------------------------------------------------------------
    def call(self, name, *args) -> int:
        """cdecl call; returns EAX."""
        self._call(name, args)
        return self.cpu.eax

    def call64(self, name, *args) -> int:
        """cdecl call; returns EDX:EAX."""
        self._call(name, args)
        return self.cpu.edx << 32 | self.cpu.eax

    def _call(self, name, args):
        target = name if isinstance(name, int) else self.symbol(name)
        cpu = self.cpu
        words = []
        for a in args:
            if not isinstance(a, int) or not -(1 << 31) <= a < (1 << 32):
                raise FlatMachineError(f"argument {a!r} is not a 32-bit integer (pass 64-bit values as two halves)")
            words.append(a & 0xFFFFFFFF)
        sp = self.stack_top
        for w in reversed(words):
            sp -= 4
            self.mem.write(sp, w.to_bytes(4, "little"))
        sp -= 4
        self.mem.write(sp, SENTINEL.to_bytes(4, "little"))
        cpu.esp = sp
        cpu.ebp = 0
        cpu.eip = target
        cpu.set_eflags(0x2)
        cpu.halted = False
        self._event = None
        reason = cpu.run(max_insns=self.insn_limit)
        event = self._event
        if reason == "stop" and event and event[0] == "return":
            return
        if reason == "stop" and event and event[0] == "fault":
            _, vector, code, eip = event
            where = self._describe(eip)
            text = NAMES.get(vector, f"vector {vector}")
            if code is not None:
                text += f" error code {code:#x}"
            if vector == 14:
                text += f" CR2={cpu.cr[2]:#010x}"
            raise GuestFault(f"{text} at EIP={eip:#010x}{where} during call to {name}", vector, code, eip)
        if reason == "hlt":
            raise GuestFault(f"guest executed hlt at EIP={cpu.eip:#010x} during call to {name}", eip=cpu.eip)
        if reason == "insn-limit":
            raise GuestFault(f"call to {name} did not return within {self.insn_limit} instructions "
                             f"(EIP={cpu.eip:#010x})", eip=cpu.eip)
        raise GuestFault(f"call to {name} ended with {reason}: {cpu.triple_fault_report or ''}", eip=cpu.eip)

    def _describe(self, eip):
        best = None
        for sym, addr in self.symbols.items():
            if addr <= eip and (best is None or addr > best[1]):
                best = (sym, addr)
        return f" ({best[0]}+{eip - best[1]:#x})" if best else ""
