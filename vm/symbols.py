"""Addresses as `symbol+offset` (and `file:line` when the ELF has DWARF)
for the VM's traces and reports: the kernel ELF's .symtab read here in
pure Python; line numbers through pyelftools, imported only when present."""
from __future__ import annotations

import struct
from bisect import bisect_right
from pathlib import Path

STT_OBJECT, STT_FUNC = 1, 2


class Symbolizer:
    def __init__(self, elf: bytes):
        self.elf = elf
        self.starts, self.symbols = [], []      # sorted start addresses; (start, size, name)
        for start, size, name in sorted(_symbols(elf)):
            self.starts.append(start)
            self.symbols.append((start, size, name))
        self._lines = None                      # [(address, "file:line")] once read

    @classmethod
    def from_path(cls, path):
        """A Symbolizer for an ELF file, or None when it is missing or not an ELF32."""
        try:
            data = Path(path).read_bytes()
            return cls(data) if data[:5] == b"\x7fELF\x01" else None
        except (OSError, struct.error, ValueError, IndexError):
            return None

    def name(self, addr: int):
        """`symbol+0xoff` for an address inside a known symbol, else None."""
        i = bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        start, size, name = self.symbols[i]
        if addr >= start + max(size, 1) and size:
            return None
        return name if addr == start else f"{name}+{addr - start:#x}"

    def line(self, addr: int):
        if self._lines is None:
            self._lines = _line_table(self.elf)
        i = bisect_right(self._lines, (addr, "\uffff")) - 1
        return self._lines[i][1] if i >= 0 and self._lines[i][0] <= addr else None

    def where(self, addr: int, lines: bool = False) -> str:
        """` <symbol+off>` (with ` file:line` if asked and known), or ""."""
        name = self.name(addr)
        if name is None:
            return ""
        line = self.line(addr) if lines else None
        return f" <{name}>" + (f" {line}" if line else "")


def _symbols(elf: bytes):
    """(value, size, name) of the ELF32 .symtab's functions and objects."""
    shoff, = struct.unpack_from("<I", elf, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x2E)
    sections = [struct.unpack_from("<IIIIIIIIII", elf, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != 2:                          # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        for off in range(sh[4], sh[4] + sh[5], 16):
            name, value, size, info, _other, shndx = struct.unpack_from("<IIIBBH", elf, off)
            if info & 0xF in (STT_FUNC, STT_OBJECT) and shndx and name:
                end = elf.index(b"\0", strtab[4] + name)
                yield value, size, elf[strtab[4] + name:end].decode("latin-1")


def _line_table(elf: bytes) -> list:
    """(address, "file:line") rows of the DWARF line programs; [] without pyelftools or DWARF."""
    try:
        import io
        from elftools.elf.elffile import ELFFile
        dwarf = ELFFile(io.BytesIO(elf)).get_dwarf_info() if ELFFile(io.BytesIO(elf)).has_dwarf_info() else None
        if dwarf is None:
            return []
        rows = []
        for cu in dwarf.iter_CUs():
            program = dwarf.line_program_for_CU(cu)
            if program is None:
                continue
            names = program["file_entry"]
            for entry in program.get_entries():
                state = entry.state
                if state is None or state.end_sequence:
                    continue
                index = state.file - (0 if program.header.version >= 5 else 1)
                name = names[index].name.decode() if 0 <= index < len(names) else "?"
                rows.append((state.address, f"{name}:{state.line}"))
        return sorted(rows)
    except Exception:                  # optional: no pyelftools, or DWARF it cannot read
        return []


def disassemble(code: bytes, addr: int, code32: bool):
    """AT&T disassembly of the first instruction in `code` with capstone, or
    None when capstone is not installed (the VM stays pure Python)."""
    try:
        import capstone
    except ImportError:
        return None
    md = _disassemblers.get(code32)
    if md is None:
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32 if code32 else capstone.CS_MODE_16)
        md.syntax = capstone.CS_OPT_SYNTAX_ATT
        md = _disassemblers[code32] = md
    for insn in md.disasm(code, addr):
        return f"{insn.mnemonic} {insn.op_str}".strip()
    return None


_disassemblers: dict = {}
