"""Copying input sections into their outputs and applying i386 relocations.

i386 objects use REL relocations: the addend is the value already stored
at the site. Ranges follow ld.lld: 8/16-bit absolute values may be signed
or unsigned, PC-relative ones signed (PC16 17-bit, as 16-bit code wraps).
"""
from __future__ import annotations

import struct

from .errors import LinkError
from .objfile import SHN_ABS, STB_LOCAL, STT_SECTION, InputObject, InputSection
from .place import OutputSection
from .resolve import SymbolTable

# type -> (name, width in bytes, pc-relative, lowest allowed value, highest allowed value)
RELOCATIONS = {
    1: ("R_386_32", 4, False, -(1 << 31), (1 << 32) - 1),
    2: ("R_386_PC32", 4, True, -(1 << 32), (1 << 32) - 1),
    4: ("R_386_PLT32", 4, True, -(1 << 32), (1 << 32) - 1),   # static link: a direct call
    20: ("R_386_16", 2, False, -(1 << 15), (1 << 16) - 1),
    21: ("R_386_PC16", 2, True, -(1 << 16), (1 << 16) - 1),
    22: ("R_386_8", 1, False, -(1 << 7), (1 << 8) - 1),
    23: ("R_386_PC8", 1, True, -(1 << 7), (1 << 7) - 1),
}
R_386_NONE = 0
_FORMATS = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I")}
_SIGN = {1: 0x80, 2: 0x8000, 4: 0x80000000}
_UNSUPPORTED = {3: "R_386_GOT32", 9: "R_386_GOTOFF", 10: "R_386_GOTPC", 43: "R_386_GOT32X",
                5: "R_386_COPY", 6: "R_386_GLOB_DAT", 7: "R_386_JUMP_SLOT", 8: "R_386_RELATIVE"}


def build_contents(outputs: list[OutputSection]) -> None:
    """Lay the input bytes into each output section (gaps: int3 in code, zeros elsewhere)."""
    for out in outputs:
        if out.is_nobits:
            out.data = None
            continue
        fill = b"\xcc" if out.flags & 0x4 else b"\0"
        data = bytearray(fill * out.size) if fill != b"\0" else bytearray(out.size)
        base = out.vma if out.is_alloc else 0
        for item in out.inputs:
            start = item.addr - base
            contents = getattr(item, "data", None)     # None: .bss-like input or a common block
            data[start:start + item.size] = contents if contents is not None else bytes(item.size)
        out.data = data


def implicit_addend(sec: InputSection, offset: int, rtype: int) -> int:
    """The addend stored at a relocation site, sign-extended (for garbage collection)."""
    kind = RELOCATIONS.get(rtype)
    if kind is None or sec.data is None:
        return 0
    width = kind[1]
    stored = _FORMATS[width].unpack_from(sec.data, offset)[0]
    return stored - (_SIGN[width] << 1) if stored & _SIGN[width] else stored


def _tombstone(section_name: str) -> int:
    # As ld.lld: 1 in range lists (0 would end the list), 0 elsewhere.
    return 1 if section_name in (".debug_ranges", ".debug_loc") else 0


class Relocator:
    def __init__(self, symbols: SymbolTable):
        self.symbols = symbols
        self.errors: list[str] = []

    def target_value(self, obj: InputObject, symidx: int, addend: int):
        """S + A, or None if the symbol's section was discarded. For a section symbol
        in a merged section the addend picks the piece (as ld.lld)."""
        sym = obj.symbols[symidx]
        if sym.bind != STB_LOCAL:
            address = self.symbols.globals[sym.name].addr
            return None if address is None else address + addend
        if sym.section is None:
            return (sym.value if sym.shndx == SHN_ABS else 0) + addend
        if not sym.section.live or sym.section.out is None:
            return None
        if sym.type == STT_SECTION:
            return sym.section.address_of(sym.value + addend)
        return sym.section.address_of(sym.value) + addend

    def apply(self, outputs: list[OutputSection]) -> None:
        for out in outputs:
            if out.data is None:
                continue
            base = out.vma if out.is_alloc else 0
            for item in out.inputs:
                if isinstance(item, InputSection) and item.relocs:
                    self._apply_section(item, out.data, item.addr - base)
        if self.errors:
            shown = self.errors[:20]
            more = len(self.errors) - len(shown)
            raise LinkError("\n".join(shown) + (f"\n... and {more} more" if more > 0 else ""))

    def _apply_section(self, sec: InputSection, data: bytearray, start: int) -> None:
        alloc = sec.is_alloc
        for offset, rtype, symidx in sec.relocs:
            if rtype == R_386_NONE:
                continue
            kind = RELOCATIONS.get(rtype)
            if kind is None:
                name = _UNSUPPORTED.get(rtype, f"type {rtype}")
                self.errors.append(f"unsupported relocation {name} at {self._site(sec, offset)} "
                                   "(kpy objects are static, non-PIC i386)")
                continue
            name, width, pc, low, high = kind
            fmt = _FORMATS[width]
            at = start + offset
            if at + width > len(data):
                self.errors.append(f"relocation {name} at {self._site(sec, offset)} runs past the section end")
                continue
            addend = self._addend(sec.obj, symidx, fmt.unpack_from(data, at)[0], width, pc)
            target = self.target_value(sec.obj, symidx, addend)
            if target is None:
                if alloc:
                    self.errors.append(f"relocation at {self._site(sec, offset)} refers to symbol "
                                       f"{sec.obj.symbols[symidx].name}, whose section was discarded")
                else:
                    fmt.pack_into(data, at, _tombstone(sec.name) & ((1 << (8 * width)) - 1))
                continue
            value = target - (sec.addr + offset if pc else 0)
            if not low <= value <= high:
                self.errors.append(self._overflow(sec, offset, name, symidx, value, low, high))
                continue
            fmt.pack_into(data, at, value & ((1 << (8 * width)) - 1))

    @staticmethod
    def _addend(obj: InputObject, symidx: int, stored: int, width: int, pc: bool) -> int:
        """The implicit addend, sign-extended as ld.lld does, except that an absolute 8/16-bit
        reference to a section symbol whose unsigned addend lies inside that section is
        a label's offset (the assembler's "section + offset" form): reading it unsigned
        gives the same bytes and lets a label beyond 32 KiB be reported as out of range."""
        if not stored & _SIGN[width]:
            return stored
        if width < 4 and not pc:
            sym = obj.symbols[symidx]
            if sym.type == STT_SECTION and sym.section is not None and stored < sym.section.size:
                return stored
        return stored - (_SIGN[width] << 1)

    def _site(self, sec: InputSection, offset: int) -> str:
        func = sec.obj.function_at(sec, offset)
        return f"{sec.obj.name}:({sec.name}+{offset:#x})" + (f" in {func}" if func else "")

    def _overflow(self, sec, offset, name, symidx, value, low, high) -> str:
        sym = sec.obj.symbols[symidx]
        return (f"relocation {name} out of range at {self._site(sec, offset)}: value {value:#x} "
                f"(symbol {sym.name or '?'}) does not fit in [{low}, {high}]")
