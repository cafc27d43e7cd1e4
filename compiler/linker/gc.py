"""--gc-sections: keep what the roots reach through relocations, drop the rest."""
from __future__ import annotations

from .merge import is_mergeable, piece_index, split
from .objfile import (SHT_FINI_ARRAY, SHT_INIT_ARRAY, SHT_NOTE, SHT_PREINIT_ARRAY, STB_LOCAL, STT_SECTION,
                      InputObject, InputSection)
from .relocate import implicit_addend
from .place import OutputSection
from .resolve import CommonBlock, SymbolTable

_ALWAYS_KEPT_TYPES = (SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY, SHT_NOTE)
_ALWAYS_KEPT_PREFIXES = (".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors", ".init", ".fini")


def _target_of(sec: InputSection, reloc, symbols: SymbolTable):
    """(section or common block, offset in it) that a relocation refers to."""
    offset, rtype, symidx = reloc
    sym = sec.obj.symbols[symidx]
    if sym.bind == STB_LOCAL:
        if sym.type == STT_SECTION:          # the addend says which byte (which merged piece)
            return sym.section, sym.value + implicit_addend(sec, offset, rtype)
        return sym.section, sym.value
    return _root_of(sym.name, symbols)


def _root_of(name: str, symbols: SymbolTable):
    entry = symbols.globals.get(name)
    if entry is None:
        return None, None
    if entry.common is not None:
        return entry.common, None
    d = entry.definition
    return (d.section, d.value) if d is not None else (None, None)


def collect_garbage(objects: list[InputObject], outputs: list[OutputSection], symbols: SymbolTable,
                    roots: list[str]) -> list:
    """Mark live sections; return the discarded ones (for the map file)."""
    allocated = [i for out in outputs for i in out.inputs]
    for item in allocated:
        item.live = False
    work = []

    def mark(item, offset=None):
        if item is None or item.out is None:
            return
        if isinstance(item, InputSection) and is_mergeable(item):
            # as ld.lld: only the referenced pieces of a mergeable section survive
            if item.pieces is None:
                item.pieces = split(item, all_live=offset is None)
            if offset is not None:
                item.pieces.live[piece_index(item.pieces, offset)] = True
        if not item.live:
            item.live = True
            work.append(item)

    for out in outputs:
        for item in out.inputs:
            if out.spec.keep or (isinstance(item, InputSection) and _always_kept(item)):
                mark(item)
    for name in roots:
        mark(*_root_of(name, symbols))
    while work:
        item = work.pop()
        if isinstance(item, CommonBlock):
            continue
        for reloc in item.relocs:
            mark(*_target_of(item, reloc, symbols))
    return [i for i in allocated if not i.live]


def _always_kept(sec: InputSection) -> bool:
    return sec.type in _ALWAYS_KEPT_TYPES or sec.name.startswith(_ALWAYS_KEPT_PREFIXES)
