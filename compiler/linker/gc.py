"""--gc-sections: keep what the roots reach through relocations, drop the rest."""
from __future__ import annotations

from .objfile import (SHT_FINI_ARRAY, SHT_INIT_ARRAY, SHT_NOTE, SHT_PREINIT_ARRAY, STB_LOCAL,
                      InputObject, InputSection)
from .place import OutputSection
from .resolve import CommonBlock, SymbolTable

_ALWAYS_KEPT_TYPES = (SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY, SHT_NOTE)
_ALWAYS_KEPT_PREFIXES = (".init_array", ".fini_array", ".preinit_array", ".ctors", ".dtors", ".init", ".fini")


def _target_of(obj: InputObject, symidx: int, symbols: SymbolTable):
    sym = obj.symbols[symidx]
    if sym.bind == STB_LOCAL:
        return sym.section
    entry = symbols.globals.get(sym.name)
    if entry is None:
        return None
    if entry.common is not None:
        return entry.common
    return entry.definition.section if entry.definition is not None else None


def _root_of(name: str, symbols: SymbolTable):
    entry = symbols.globals.get(name)
    if entry is None:
        return None
    if entry.common is not None:
        return entry.common
    return entry.definition.section if entry.definition is not None else None


def collect_garbage(objects: list[InputObject], outputs: list[OutputSection], symbols: SymbolTable,
                    roots: list[str]) -> list:
    """Mark live sections; return the discarded ones (for the map file)."""
    allocated = [i for out in outputs for i in out.inputs]
    for item in allocated:
        item.live = False
    work = []

    def mark(item):
        if item is not None and not item.live and item.out is not None:
            item.live = True
            work.append(item)

    for out in outputs:
        for item in out.inputs:
            if out.spec.keep or (isinstance(item, InputSection) and _always_kept(item)):
                mark(item)
    for name in roots:
        mark(_root_of(name, symbols))
    while work:
        item = work.pop()
        if isinstance(item, CommonBlock):
            continue
        for _offset, _type, symidx in item.relocs:
            mark(_target_of(item.obj, symidx, symbols))
    return [i for i in allocated if not i.live]


def _always_kept(sec: InputSection) -> bool:
    return sec.type in _ALWAYS_KEPT_TYPES or sec.name.startswith(_ALWAYS_KEPT_PREFIXES)
