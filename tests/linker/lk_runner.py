"""Test helper: run a function of a linked ELF on unicorn (flat 32-bit, no paging)."""
from __future__ import annotations

import io
import struct

from elftools.elf.elffile import ELFFile
from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn.x86_const import UC_X86_REG_EAX, UC_X86_REG_ESP

STACK_TOP = 0x00090000
RETURN_TRAP = 0x00000500      # a hlt the callee returns to


class Loaded:
    def __init__(self, elf: bytes):
        self.elf = ELFFile(io.BytesIO(elf))
        self.symbols = {s.name: s["st_value"] for s in self.elf.get_section_by_name(".symtab").iter_symbols()
                        if s.name}
        self.uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.uc.mem_map(0, 0x100000)           # low memory: stack and the return trap
        self.uc.mem_write(RETURN_TRAP, b"\xf4")
        mapped = set()
        for seg in self.elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            start = seg["p_vaddr"] & ~0xFFF
            end = (seg["p_vaddr"] + seg["p_memsz"] + 0xFFF) & ~0xFFF
            for page in range(start, end, 0x1000):
                if page >= 0x100000 and page not in mapped:
                    self.uc.mem_map(page, 0x1000)
                    mapped.add(page)
            self.uc.mem_write(seg["p_vaddr"], seg.data())

    def call(self, name: str, *args: int) -> int:
        sp = STACK_TOP - 4 * (len(args) + 1)
        self.uc.mem_write(sp, struct.pack(f"<{len(args) + 1}I", RETURN_TRAP, *[a & 0xFFFFFFFF for a in args]))
        self.uc.reg_write(UC_X86_REG_ESP, sp)
        self.uc.emu_start(self.symbols[name], RETURN_TRAP, count=1_000_000)
        return self.uc.reg_read(UC_X86_REG_EAX)

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))
