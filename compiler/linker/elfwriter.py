"""Writing the linked ELF32 i386 executable.

File layout: ELF header, program headers, the allocated sections (each
PT_LOAD at a file offset congruent to its address modulo the page size),
the carried-through debug and comment sections, .symtab, .strtab,
.shstrtab, and the section header table.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .objfile import SHF_EXECINSTR, SHF_WRITE, SHN_ABS, STB_LOCAL, STT_FILE
from .place import OutputSection

PAGE = 0x1000
PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4
_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
_PHDR = struct.Struct("<IIIIIIII")
_SHDR = struct.Struct("<IIIIIIIIII")
_SYM = struct.Struct("<IIIBBH")


@dataclass
class Segment:
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    flags: int
    sections: list
    offset: int = 0


@dataclass
class OutSymbol:
    name: str
    value: int
    size: int
    type: int
    bind: int
    section: OutputSection | None     # None: absolute (or undefined when undefined=True)
    undefined: bool = False


def plan_segments(outputs: list[OutputSection]) -> list[Segment]:
    """Group address-ordered allocated sections into PT_LOAD segments."""
    segments: list[Segment] = []
    for out in sorted((o for o in outputs if o.is_alloc and o.size), key=lambda o: o.vma):
        seg = segments[-1] if segments else None
        if seg is not None and _extends(seg, out):
            seg.memsz = out.vma + out.size - seg.vaddr
            if not out.is_nobits:
                seg.filesz = seg.memsz
            seg.flags |= _pflags(out)
            seg.sections.append(out)
            continue
        filesz = 0 if out.is_nobits else out.size
        segments.append(Segment(out.vma, out.lma, filesz, out.size, _pflags(out), [out]))
    return segments


def _extends(seg: Segment, out: OutputSection) -> bool:
    last = seg.sections[-1]
    gap = out.vma - (seg.vaddr + seg.memsz)
    same_delta = out.vma - seg.vaddr == out.lma - seg.paddr
    # Writable data gets its own segment (as ld.lld --no-rosegment): code and
    # read-only data share one read-execute segment.
    same_access = bool(last.flags & SHF_WRITE) == bool(out.flags & SHF_WRITE)
    return same_delta and same_access and 0 <= gap < PAGE and (not last.is_nobits or out.is_nobits)


def _pflags(out: OutputSection) -> int:
    return PF_R | (PF_W if out.flags & SHF_WRITE else 0) | (PF_X if out.flags & SHF_EXECINSTR else 0)


class _StringTable:
    def __init__(self):
        self.data = bytearray(b"\0")
        self.offsets = {"": 0}

    def add(self, text: str) -> int:
        off = self.offsets.get(text)
        if off is None:
            off = self.offsets[text] = len(self.data)
            self.data += text.encode() + b"\0"
        return off


def write_elf(outputs: list[OutputSection], symbols: list[OutSymbol], entry: int) -> bytes:
    """Serialise the executable. ``outputs`` are alloc sections then non-alloc ones."""
    alloc = [o for o in outputs if o.is_alloc and (o.size or o.spec is not None)]
    alloc = [o for o in alloc if o.size]
    other = [o for o in outputs if not o.is_alloc]
    segments = plan_segments(alloc)
    body = bytearray(_EHDR.size + _PHDR.size * len(segments))
    offsets: dict[int, int] = {}
    for seg in segments:
        start = _congruent_offset(len(body), seg.vaddr)
        seg.offset = start
        body += bytes(start - len(body))
        for out in seg.sections:
            off = start + out.vma - seg.vaddr
            offsets[id(out)] = off
            if out.data is not None:
                body += bytes(off - len(body))
                body += out.data
    for out in other:
        off = (len(body) + out.align - 1) & -out.align
        body += bytes(off - len(body)) + out.data
        offsets[id(out)] = off
    sections = alloc + other
    for index, out in enumerate(sections, start=1):
        out.index = index
    symtab, strtab, first_global = _symbol_table(symbols)
    shstr = _StringTable()
    headers = [(0,) * 10]
    for out in sections:
        headers.append((shstr.add(out.name), out.type, out.flags, out.vma if out.is_alloc else 0,
                        offsets[id(out)], out.size, 0, 0, out.align, out.entsize))
    symtab_off = (len(body) + 3) & -4
    body += bytes(symtab_off - len(body)) + symtab
    strtab_index = len(sections) + 2
    headers.append((shstr.add(".symtab"), 2, 0, 0, symtab_off, len(symtab), strtab_index, first_global, 4, 16))
    headers.append((shstr.add(".strtab"), 3, 0, 0, len(body), len(strtab), 0, 0, 1, 0))
    body += strtab
    shstr_name = shstr.add(".shstrtab")
    headers.append((shstr_name, 3, 0, 0, len(body), len(shstr.data) + 0, 0, 0, 1, 0))
    body += shstr.data
    shoff = (len(body) + 3) & -4
    body += bytes(shoff - len(body))
    for h in headers:
        body += _SHDR.pack(*h)
    ident = b"\x7fELF\x01\x01\x01" + bytes(9)
    _EHDR.pack_into(body, 0, ident, 2, 3, 1, entry, _EHDR.size if segments else 0, shoff, 0,
                    _EHDR.size, _PHDR.size, len(segments), _SHDR.size, len(headers), len(headers) - 1)
    for i, seg in enumerate(segments):
        _PHDR.pack_into(body, _EHDR.size + i * _PHDR.size, PT_LOAD, seg.offset, seg.vaddr, seg.paddr,
                        seg.filesz, seg.memsz, seg.flags, PAGE)
    return bytes(body)


def _congruent_offset(current: int, vaddr: int) -> int:
    """Smallest file offset >= current that equals vaddr modulo the page size."""
    return current + ((vaddr - current) % PAGE)


def _symbol_table(symbols: list[OutSymbol]):
    strtab = _StringTable()
    ordered = [s for s in symbols if s.bind == STB_LOCAL] + [s for s in symbols if s.bind != STB_LOCAL]
    first_global = 1 + sum(1 for s in symbols if s.bind == STB_LOCAL)
    out = bytearray(_SYM.size)
    for s in ordered:
        if s.undefined:
            shndx = 0
        elif s.type == STT_FILE or s.section is None:
            shndx = SHN_ABS
        else:
            shndx = s.section.index
        out += _SYM.pack(strtab.add(s.name), s.value & 0xFFFFFFFF, s.size, (s.bind << 4) | s.type, 0, shndx)
    return bytes(out), bytes(strtab.data), first_global


__all__ = ["write_elf", "plan_segments", "OutSymbol", "Segment"]
