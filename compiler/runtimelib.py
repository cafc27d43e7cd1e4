"""Linking the runtime as clang links libgcc: a runtime module joins a
target only when the target's objects refer to a symbol it defines (say
__udivdi3 for a u64 division, memcpy for a struct copy), following the
runtime's own references in turn, like an archive member."""
from __future__ import annotations

import io
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection


def symbols(obj: bytes) -> tuple[set[str], set[str]]:
    """(defined global symbols, undefined symbols) of a relocatable object."""
    defined, undefined = set(), set()
    try:
        elf = ELFFile(io.BytesIO(obj))
        tables = [s for s in elf.iter_sections() if isinstance(s, SymbolTableSection)]
    except ELFError:
        return defined, undefined       # the linker reports the bad object
    for table in tables:
        for sym in table.iter_symbols():
            if not sym.name or sym["st_info"]["bind"] == "STB_LOCAL":
                continue
            (undefined if sym["st_shndx"] == "SHN_UNDEF" else defined).add(sym.name)
    return defined, undefined


def needed_runtime(objects: list[bytes], have: set[Path], runtime: list[Path], compile_one) -> list[Path]:
    """The runtime sources (not already in `have`) that `objects` need, in runtime order.
    `compile_one(path)` gives a source's object."""
    defined, undefined = set(), set()
    for obj in objects:
        d, u = symbols(obj)
        defined |= d
        undefined |= u
    members = {p: symbols(compile_one(p)) for p in runtime if p not in have}
    chosen: list[Path] = []
    changed = True
    while changed:
        changed = False
        wanted = undefined - defined
        for path, (d, u) in members.items():
            if path not in chosen and d & wanted:
                chosen.append(path)
                defined |= d
                undefined |= u
                changed = True
    return [p for p in members if p in chosen]
