"""Global symbol resolution with ld's rules.

Strong definitions must be unique; a strong definition beats weak and
common ones; common symbols merge (largest size, strictest alignment) and
beat weak definitions; the first of several weak definitions wins; a
reference nothing defines is an error unless every reference is weak (then
the symbol is 0). COMDAT groups: the first group with a signature is kept,
later copies are discarded with the symbols they define.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import LinkError
from .objfile import SHN_ABS, SHN_COMMON, SHN_UNDEF, STB_LOCAL, STB_WEAK, InputObject, ObjSymbol


@dataclass(eq=False)
class CommonBlock:
    """The storage of one common symbol; placed by the ``COMMON`` pattern."""
    name: str
    size: int
    align: int
    obj: InputObject
    out: object = None
    addr: int = 0
    live: bool = True


@dataclass(eq=False)
class GlobalSymbol:
    name: str
    definition: ObjSymbol | None = None     # the winning definition from an object
    common: CommonBlock | None = None
    linker_defined: bool = False            # defined by the layout (start/end symbols, [symbols])
    layout_section: object = None           # for a layout symbol: the output section it is relative to
    addr: int | None = None                 # resolved address, once the layout is known
    strong_refs: bool = False
    referrers: list = field(default_factory=list)   # (object, section, offset) of each reference
    other_definitions: list = field(default_factory=list)

    @property
    def is_defined(self) -> bool:
        return self.definition is not None or self.common is not None or self.linker_defined

    @property
    def is_weak_undefined(self) -> bool:
        return not self.is_defined


class SymbolTable:
    def __init__(self):
        self.globals: dict[str, GlobalSymbol] = {}
        self.duplicates: list[tuple[ObjSymbol, ObjSymbol]] = []

    def get(self, name: str) -> GlobalSymbol:
        sym = self.globals.get(name)
        if sym is None:
            sym = self.globals[name] = GlobalSymbol(name)
        return sym

    def add_object(self, obj: InputObject) -> None:
        for sym in obj.symbols:
            if sym.bind == STB_LOCAL or not sym.name:
                continue
            if sym.section is not None and not sym.section.live:   # in a discarded COMDAT copy
                self.get(sym.name)
                continue
            if sym.shndx == SHN_UNDEF:
                entry = self.get(sym.name)
                entry.strong_refs |= sym.bind != STB_WEAK
            elif sym.shndx == SHN_COMMON:
                self._add_common(sym)
            else:
                self._add_definition(sym)

    def _add_definition(self, sym: ObjSymbol) -> None:
        entry = self.get(sym.name)
        old = entry.definition
        if old is None:
            if entry.common is not None and sym.bind == STB_WEAK:
                return                       # common beats weak
            entry.definition, entry.common = sym, None
        elif sym.bind == STB_WEAK:
            return                           # first definition (strong or weak) stays
        elif old.bind == STB_WEAK:
            entry.definition = sym
        else:
            self.duplicates.append((old, sym))

    def _add_common(self, sym: ObjSymbol) -> None:
        entry = self.get(sym.name)
        if entry.definition is not None and entry.definition.bind != STB_WEAK:
            return
        align = max(sym.value, 1)            # st_value of a common symbol is its alignment
        if entry.common is None:
            entry.definition = None
            entry.common = CommonBlock(sym.name, sym.size, align, sym.obj)
        else:
            entry.common.size = max(entry.common.size, sym.size)
            entry.common.align = max(entry.common.align, align)

    def define_linker_symbol(self, name: str) -> None:
        entry = self.get(name)
        if entry.definition is not None:
            d = entry.definition
            raise LinkError(f"duplicate symbol: {name}\n  defined by the layout (build description)\n"
                            f"  and in {d.obj.name}{_where(d)}")
        entry.linker_defined = True

    def commons(self, objects: list[InputObject]) -> list[CommonBlock]:
        """The common blocks in ld.lld's order: objects that have common symbols, in link
        order, each one's global symbols in table order, first appearance wins."""
        blocks: dict[str, CommonBlock] = {}
        for obj in objects:
            if not any(s.shndx == SHN_COMMON and s.bind != STB_LOCAL for s in obj.symbols):
                continue
            for sym in obj.symbols:
                entry = self.globals.get(sym.name) if sym.bind != STB_LOCAL else None
                if entry is not None and entry.common is not None and sym.name not in blocks:
                    blocks[sym.name] = entry.common
        return list(blocks.values())


def _where(sym: ObjSymbol) -> str:
    if sym.section is not None:
        return f" (section {sym.section.name}, offset {sym.value:#x})"
    if sym.shndx == SHN_ABS:
        return f" (absolute, value {sym.value:#x})"
    return ""


def discard_comdat_copies(objects: list[InputObject]) -> None:
    """Keep the first COMDAT group of each signature; mark the other copies dead."""
    seen = set()
    for obj in objects:
        for signature, members in obj.groups:
            if signature in seen:
                for index in members:
                    if index < len(obj.sections) and obj.sections[index] is not None:
                        obj.sections[index].live = False
            seen.add(signature)


def resolve(objects: list[InputObject]) -> SymbolTable:
    discard_comdat_copies(objects)
    table = SymbolTable()
    for obj in objects:
        table.add_object(obj)
    if table.duplicates:
        raise LinkError("\n".join(_duplicate_message(a, b) for a, b in table.duplicates))
    return table


def _duplicate_message(first: ObjSymbol, second: ObjSymbol) -> str:
    return (f"duplicate symbol: {first.name}\n"
            f"  defined in {first.obj.name}{_where(first)}\n"
            f"  and in {second.obj.name}{_where(second)}")


__all__ = ["SymbolTable", "GlobalSymbol", "CommonBlock", "resolve"]
