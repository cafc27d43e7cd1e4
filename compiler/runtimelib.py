"""Linking the runtime as clang links libgcc: a runtime module joins a
target only when the target's objects refer to a symbol it defines (say
__udivdi3 for a u64 division, memcpy for a struct copy), following the
runtime's own references in turn, like an archive member."""
from __future__ import annotations

import struct
from pathlib import Path

SHT_SYMTAB, STB_LOCAL, SHN_UNDEF = 2, 0, 0


def symbols(obj: bytes) -> tuple[set[str], set[str]]:
    """(defined global symbols, undefined symbols) of a relocatable ELF32
    object, read with struct: every build asks this of every runtime member,
    and pyelftools took a sixth of a second for it."""
    defined, undefined = set(), set()
    try:
        if obj[:4] != b"\x7fELF" or obj[4] != 1 or obj[5] != 1:
            return defined, undefined       # not ELF32 LE: the linker reports the bad object
        shoff, = struct.unpack_from("<I", obj, 0x20)
        shentsize, shnum = struct.unpack_from("<HH", obj, 0x2E)
        sections = [struct.unpack_from("<10I", obj, shoff + i * shentsize) for i in range(shnum)]
        for _name, kind, _f, _a, offset, size, link, _i, _al, entsize in sections:
            if kind != SHT_SYMTAB or entsize < 16:
                continue
            strtab = sections[link]
            names = obj[strtab[4]:strtab[4] + strtab[5]]
            for at in range(offset + entsize, offset + size, entsize):     # entry 0 is the null symbol
                st_name, _v, _s, info, _o, shndx = struct.unpack_from("<IIIBBH", obj, at)
                name = names[st_name:names.index(b"\0", st_name)].decode("latin-1")
                if name and info >> 4 != STB_LOCAL:
                    (undefined if shndx == SHN_UNDEF else defined).add(name)
    except (struct.error, IndexError, ValueError):
        return set(), set()                 # the linker reports the bad object
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
