"""Merging SHF_MERGE sections: identical strings (or constants) stored once.

As ld.lld -O1 does it, so the differential test can compare bytes: the
mergeable inputs of an output section with the same flags, entry size (and
alignment, for strings) become one synthetic section, placed where the
first of them was; each piece (a NUL-terminated string, or an entry of
``entsize`` bytes) lands in one of 32 shards chosen by its XXH64 hash,
shards are deduplicated in order of first appearance and concatenated.
References into a merged input are translated piece by piece.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .errors import LinkError
from .objfile import SHF_ALLOC, SHF_MERGE, SHF_STRINGS, InputSection
from .xxhash64 import xxh64

SHARDS = 32


@dataclass(eq=False)
class Pieces:
    """The pieces of one mergeable input section."""
    offsets: list[int]          # input offset of each piece, ascending
    sizes: list[int]
    shards: list[int]
    live: list[bool]
    out: list[int] = field(default_factory=list)   # output offset of each piece in the merged section


def is_mergeable(sec: InputSection) -> bool:
    return bool(sec.flags & SHF_MERGE) and sec.entsize > 0 and not sec.relocs and sec.data is not None


def split(sec: InputSection, all_live: bool) -> Pieces:
    data, size = sec.data, sec.entsize
    offsets, sizes = [], []
    off = 0
    if sec.flags & SHF_STRINGS:
        zero = bytes(size)
        while off < len(data):
            end = off
            while end + size <= len(data) and data[end:end + size] != zero:
                end += size
            if end + size > len(data):
                raise LinkError(f"{sec.where()}: mergeable string is not NUL-terminated (offset {off:#x})")
            offsets.append(off)
            sizes.append(end + size - off)
            off = end + size
    else:
        if len(data) % size:
            raise LinkError(f"{sec.where()}: size {len(data)} is not a multiple of its entry size {size}")
        offsets = list(range(0, len(data), size))
        sizes = [size] * len(offsets)
    # ld.lld keeps a 31-bit hash per piece and takes the shard from its top bits
    shards = [((xxh64(data[o:o + n]) & 0xFFFFFFFF) >> 1) >> (31 - 5) for o, n in zip(offsets, sizes)]
    return Pieces(offsets, sizes, shards, [all_live] * len(offsets))


def piece_index(pieces: Pieces, offset: int) -> int:
    return max(bisect.bisect_right(pieces.offsets, offset) - 1, 0)


@dataclass(eq=False)
class MergedSection:
    """The synthetic section standing for several mergeable inputs in an output section."""
    name: str
    flags: int
    entsize: int
    align: int
    type: int
    inputs: list = field(default_factory=list)
    data: bytes = b""
    size: int = 0
    addr: int = 0
    out: object = None
    live: bool = True
    relocs: tuple = ()

    def where(self) -> str:
        return f"<merged {self.name}, {len(self.inputs)} input(s)>"

    def build(self) -> None:
        shards = [dict() for _ in range(SHARDS)]        # bytes -> offset within the shard
        sizes = [0] * SHARDS
        placed = []
        for sec in self.inputs:
            p = sec.pieces
            p.out = [0] * len(p.offsets)
            for i, (off, n, shard) in enumerate(zip(p.offsets, p.sizes, p.shards)):
                if not p.live[i]:
                    continue
                text = sec.data[off:off + n]
                table = shards[shard]
                start = table.get(text)
                if start is None:
                    start = (sizes[shard] + self.align - 1) & -self.align
                    table[text] = start
                    sizes[shard] = start + n
                placed.append((sec, i, shard, start))
        bases, off = [], 0
        for shard in range(SHARDS):
            if sizes[shard]:
                off = (off + self.align - 1) & -self.align
            bases.append(off)
            off += sizes[shard]
        self.size = off
        image = bytearray(off)
        for shard, table in enumerate(shards):
            for text, start in table.items():
                image[bases[shard] + start:bases[shard] + start + len(text)] = text
        self.data = bytes(image)
        for sec, i, shard, start in placed:
            sec.pieces.out[i] = bases[shard] + start


def offset_in_merged(sec: InputSection, offset: int) -> int:
    """Where byte ``offset`` of a merged input now is, relative to the merged section."""
    p = sec.pieces
    if not p.offsets or not 0 <= offset <= sec.size:
        raise LinkError(f"{sec.where()}: a reference to offset {offset:#x} lies outside this "
                        f"mergeable section ({sec.size} bytes)")
    i = piece_index(p, offset)
    return p.out[i] + offset - p.offsets[i]


def merge_inputs(inputs: list, all_live: bool = True) -> list:
    """Replace mergeable inputs by merged sections (in place of the first of each group)."""
    groups: list[MergedSection] = []
    result = []
    for item in inputs:
        if not isinstance(item, InputSection) or not is_mergeable(item):
            result.append(item)
            continue
        if item.pieces is None:
            item.pieces = split(item, all_live or not item.flags & SHF_ALLOC)
        group = next((g for g in groups if g.flags == item.flags and g.entsize == item.entsize
                      and (g.align == item.align or not item.flags & SHF_STRINGS)), None)
        if group is None:
            group = MergedSection(item.name, item.flags, item.entsize, item.align, item.type)
            groups.append(group)
            result.append(group)
        group.align = max(group.align, item.align)
        group.inputs.append(item)
        item.merged = group
    for group in groups:
        group.build()
    return result
