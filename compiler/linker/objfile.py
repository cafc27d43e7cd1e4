"""Reading ELF32 i386 relocatable objects into the linker's own records.

pyelftools validates and decodes the ELF and section headers; the symbol
and relocation tables are unpacked with ``struct`` directly because that is
an order of magnitude faster than pyelftools' per-entry parsing, and link
time matters (bench/bench_link.py).
"""
from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

# pyelftools is imported when an object is first decoded: a warm link
# takes the section headers from the header cache and never needs it.

from .errors import LinkError

# ELF constants used across the linker.
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOTE, SHT_NOBITS, SHT_REL = 7, 8, 9
SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY, SHT_GROUP = 14, 15, 16, 17
SHT_SYMTAB_SHNDX = 18
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHF_MERGE, SHF_STRINGS, SHF_INFO_LINK, SHF_GROUP = 0x10, 0x20, 0x40, 0x200
SHF_EXCLUDE = 0x80000000
SHN_UNDEF, SHN_ABS, SHN_COMMON, SHN_XINDEX = 0, 0xFFF1, 0xFFF2, 0xFFFF
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
GRP_COMDAT = 1
EM_386 = 3

_SYM = struct.Struct("<IIIBBH")
_REL = struct.Struct("<II")


@dataclass(eq=False)
class InputSection:
    """One section of one object, and where the layout put it."""
    obj: "InputObject"
    index: int
    name: str
    type: int
    flags: int
    align: int
    size: int
    entsize: int
    data: bytes | None              # None for SHT_NOBITS
    relocs: list = field(default_factory=list)   # (offset, type, symbol index)
    live: bool = True               # False: discarded by COMDAT or garbage collection
    out: object = None              # the OutputSection it was placed in
    addr: int = 0                   # VMA (offset in the output for non-alloc sections)
    pieces: object = None           # merge.Pieces, for SHF_MERGE sections once split
    merged: object = None           # the merge.MergedSection now holding its bytes

    def address_of(self, offset: int) -> int:
        """Final address of byte ``offset`` of this section (merged sections move bytes)."""
        if self.merged is not None:
            from .merge import offset_in_merged
            return self.merged.addr + offset_in_merged(self, offset)
        return self.addr + offset

    @property
    def is_alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    def where(self) -> str:
        return f"{self.obj.name}:({self.name})"


@dataclass(eq=False)
class ObjSymbol:
    name: str
    value: int
    size: int
    type: int
    bind: int
    shndx: int
    section: InputSection | None    # the defining section, if in a real one
    obj: "InputObject"

    @property
    def is_undefined(self) -> bool:
        return self.shndx == SHN_UNDEF


@dataclass(eq=False)
class InputObject:
    name: str
    sections: list                  # index -> InputSection | None
    symbols: list                   # index -> ObjSymbol
    groups: list                    # (signature, [section indexes]) for COMDAT groups
    source_file: str = ""           # the STT_FILE name, if any

    def function_at(self, section: InputSection, offset: int) -> str | None:
        """Name of the function (or object) whose bytes hold ``offset``."""
        best = None
        for sym in self.symbols:
            if sym.section is section and _names_code_or_data(sym):
                if sym.value <= offset < sym.value + max(sym.size, 1):
                    return sym.name
                if sym.value <= offset and (best is None or sym.value > best.value):
                    best = sym
        return best.name if best else None


def _names_code_or_data(sym: ObjSymbol) -> bool:
    if sym.type in (STT_FUNC, STT_OBJECT):
        return bool(sym.name)
    # asm labels are NOTYPE; assembler-local ".L" labels name nothing useful
    return sym.type == STT_NOTYPE and bool(sym.name) and not sym.name.startswith(".L")


class SectionHeader(NamedTuple):
    """One ELF section header, decoded (a plain tuple: it is what the
    header cache stores, so a warm link needs no pyelftools)."""
    name: str
    type: int
    flags: int
    addralign: int
    size: int
    entsize: int
    offset: int
    link: int
    info: int


_MALFORMED = (struct.error, IndexError, ValueError, KeyError, UnicodeDecodeError, AttributeError,
              TypeError)


def read_object(name: str, data: bytes, headers: list | None = None) -> InputObject:
    """Parse one relocatable object; raise LinkError naming what is wrong.
    `headers`: the object's section_headers(), when already known (cached
    by content): the checks pyelftools makes were made when they were read."""
    if headers is None:
        headers = section_headers(name, data)
    try:
        return _read(name, bytes(data), [SectionHeader(*h) for h in headers])
    except LinkError:
        raise
    except _MALFORMED as exc:
        raise LinkError(f"{name}: malformed ELF object: {exc}") from None


def section_headers(name: str, data: bytes) -> list[SectionHeader]:
    """The section headers of an object, read and validated by pyelftools."""
    if not isinstance(data, (bytes, bytearray)) or data[:4] != b"\x7fELF":
        raise LinkError(f"{name}: not an ELF file")
    if len(data) < 52:
        raise LinkError(f"{name}: truncated ELF file ({len(data)} bytes, shorter than an ELF header)")
    if data[4] != 1 or data[5] != 1:
        raise LinkError(f"{name}: not an ELF32 little-endian object (EI_CLASS={data[4]}, EI_DATA={data[5]})")
    from elftools.common.exceptions import ELFError
    try:
        return _section_headers(name, bytes(data))
    except LinkError:
        raise
    except _MALFORMED + (ELFError,) as exc:
        raise LinkError(f"{name}: malformed ELF object: {exc}") from None


def _section_headers(name: str, data: bytes) -> list[SectionHeader]:
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(data))
    hdr = elf.header
    if hdr["e_machine"] != "EM_386":
        raise LinkError(f"{name}: wrong machine {hdr['e_machine']}, expected EM_386 (i386)")
    if hdr["e_type"] != "ET_REL":
        raise LinkError(f"{name}: is {hdr['e_type']}, expected a relocatable object (ET_REL)")
    table = []
    for i in range(elf.num_sections()):
        sec = elf.get_section(i)
        stype = sec.header["sh_type"]
        stype = stype if isinstance(stype, int) else _SHT_NUMBERS.get(stype, -1)
        table.append(SectionHeader(sec.name, stype, sec["sh_flags"], sec["sh_addralign"], sec["sh_size"],
                                   sec["sh_entsize"], sec["sh_offset"], sec["sh_link"], sec["sh_info"]))
    return table


def _read(name: str, data: bytes, raw: list[SectionHeader]) -> InputObject:
    obj = InputObject(name=name, sections=[], symbols=[], groups=[])
    for index, sec in enumerate(raw):
        obj.sections.append(_input_section(obj, index, sec, data))
    symtab = next((s for s in raw if s.type == SHT_SYMTAB), None)
    if symtab is not None:
        obj.symbols = _read_symbols(obj, symtab, raw, data)
    for sec in raw:
        if sec.type == SHT_REL:
            _attach_relocs(obj, sec, data)
        elif sec.type == SHT_RELA:
            raise LinkError(f"{name}: section {sec.name}: RELA relocations are not used on i386")
        elif sec.type == SHT_GROUP:
            _read_group(obj, sec, data)
    return obj


def _section_bytes(sec: SectionHeader, data: bytes) -> bytes:
    off, size = sec.offset, sec.size
    if off + size > len(data):
        raise LinkError(f"section {sec.name} extends past the end of the file")
    return data[off:off + size]


def _input_section(obj, index, sec: SectionHeader, data):
    stype = sec.type
    if stype in (SHT_NULL, SHT_SYMTAB, SHT_STRTAB, SHT_REL, SHT_RELA, SHT_GROUP, SHT_SYMTAB_SHNDX):
        return None
    align = max(sec.addralign, 1)
    if align & (align - 1):
        raise LinkError(f"{obj.name}: section {sec.name}: alignment {align} is not a power of two")
    body = None if stype == SHT_NOBITS else _section_bytes(sec, data)
    return InputSection(obj=obj, index=index, name=sec.name, type=stype, flags=sec.flags,
                        align=align, size=sec.size, entsize=sec.entsize, data=body)


_SHT_NUMBERS = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4,
                "SHT_HASH": 5, "SHT_DYNAMIC": 6, "SHT_NOTE": 7, "SHT_NOBITS": 8, "SHT_REL": 9,
                "SHT_INIT_ARRAY": 14, "SHT_FINI_ARRAY": 15, "SHT_PREINIT_ARRAY": 16, "SHT_GROUP": 17,
                "SHT_SYMTAB_SHNDX": 18}


def _cstring(table: bytes, offset: int) -> str:
    end = table.index(b"\0", offset)
    return table[offset:end].decode("utf-8")


def _read_symbols(obj, symtab, raw, data):
    strtab = _section_bytes(raw[symtab.link], data)
    body = _section_bytes(symtab, data)
    symbols = []
    for name_off, value, size, info, _other, shndx in _SYM.iter_unpack(body[: len(body) // 16 * 16]):
        stype, bind = info & 0xF, info >> 4
        section = None
        if 0 < shndx < 0xFF00:
            if shndx >= len(obj.sections):
                raise LinkError(f"{obj.name}: symbol refers to section {shndx}, which does not exist")
            section = obj.sections[shndx]
        name = _cstring(strtab, name_off)
        if bind != STB_LOCAL and not name:
            raise LinkError(f"{obj.name}: global symbol {len(symbols)} has no name")
        if stype == STT_SECTION and section is not None:
            name = name or section.name
        if stype == STT_FILE and not obj.source_file:
            obj.source_file = name
        symbols.append(ObjSymbol(name, value, size, stype, bind, shndx, section, obj))
    return symbols


def _attach_relocs(obj, rel, data):
    target_index = rel.info
    if target_index >= len(obj.sections):
        raise LinkError(f"{obj.name}: {rel.name} applies to section {target_index}, which does not exist")
    target = obj.sections[target_index]
    if target is None:
        return
    relocs = []
    nsyms = len(obj.symbols)
    for offset, info in _REL.iter_unpack(_section_bytes(rel, data)):
        symidx = info >> 8
        if symidx >= nsyms:
            raise LinkError(f"{obj.name}: {rel.name}: relocation refers to symbol {symidx}, which does not exist")
        if offset >= target.size:
            raise LinkError(f"{obj.name}: {rel.name}: relocation offset {offset:#x} is outside {target.name}")
        relocs.append((offset, info & 0xFF, symidx))
    target.relocs.extend(relocs)


def _read_group(obj, grp, data):
    words = struct.unpack(f"<{grp.size // 4}I", _section_bytes(grp, data))
    if not words or not words[0] & GRP_COMDAT:
        return
    symidx = grp.info
    signature = obj.symbols[symidx].name if symidx < len(obj.symbols) else grp.name
    obj.groups.append((signature, list(words[1:])))
