"""Placing input sections into output sections and giving them addresses.

The rules are ld's (see docs/build-toml.md): each input section goes to the
first input statement that matches it; output sections follow each other
from the target's base address, each aligned to its inputs; a section's
load address keeps the VMA-LMA offset of the one before unless told.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from .errors import LinkError
from .layout import OutputSectionSpec, TargetLayout
from .objfile import (SHF_ALLOC, SHF_EXECINSTR, SHF_GROUP, SHF_MERGE, SHF_STRINGS, SHF_WRITE, SHT_INIT_ARRAY, SHT_NOBITS,
                      SHT_PROGBITS, InputObject, InputSection)
from .merge import merge_inputs
from .resolve import CommonBlock, SymbolTable


@dataclass(eq=False)
class OutputSection:
    name: str
    spec: OutputSectionSpec | None        # None for carried-through non-alloc sections
    inputs: list = field(default_factory=list)   # InputSection | CommonBlock, in order
    vma: int = 0
    lma: int = 0
    size: int = 0
    align: int = 1
    flags: int = 0
    type: int = SHT_PROGBITS
    entsize: int = 0
    index: int = 0                        # section header index in the output ELF
    data: bytearray | None = None         # contents, filled by the relocator

    @property
    def is_alloc(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    @property
    def is_nobits(self) -> bool:
        return self.type == SHT_NOBITS


def _matcher(patterns: list[str]):
    """A fast predicate for one input statement's section-name patterns."""
    exact = {p for p in patterns if not any(c in p for c in "*?[")}
    globs = [p for p in patterns if p not in exact and p != "COMMON"]
    regex = re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None
    return lambda name: name in exact or (regex is not None and regex.match(name) is not None)


def assign_inputs(layout: TargetLayout, objects: list[InputObject], symbols: SymbolTable) -> list[OutputSection]:
    """Map every live allocated input section (and common block) to its output section."""
    outputs = [OutputSection(name=spec.name, spec=spec, align=spec.align) for spec in layout.sections]
    candidates = [s for obj in objects for s in obj.sections
                  if s is not None and s.live and s.is_alloc]
    taken = set()
    commons = symbols.commons(objects)
    for out in outputs:
        for statement in out.spec.inputs:
            if "COMMON" in statement:     # as ld.lld: common blocks precede every object's sections
                for block in commons:
                    if block.out is None:
                        block.out = out
                        out.inputs.append(block)
            match = _matcher(statement)
            for sec in candidates:
                if sec not in taken and match(sec.name):
                    taken.add(sec)
                    out.inputs.append(sec)
                    sec.out = out
    homeless = [b for b in commons if b.out is None]
    if homeless:
        names = ", ".join(f"{b.name} ({b.obj.name})" for b in homeless[:10])
        raise LinkError(f"target {layout.name}: common symbol(s) {names} but no output section takes "
                        "COMMON (add it to an input statement, e.g. \".bss .bss.* COMMON\")")
    stray = [s for s in candidates if s not in taken and s.size > 0]
    if stray:
        lines = [f"  {s.where()} ({s.size} bytes){_HINTS.get(s.name, '')}" for s in stray[:20]]
        raise LinkError(f"target {layout.name}: {len(stray)} allocated input section(s) match no output "
                        "section pattern in the build description:\n" + "\n".join(lines))
    return outputs


_HINTS = {".eh_frame": " - unwind tables: LLVM emits them for functions not marked nounwind"}


def non_alloc_outputs(objects: list[InputObject], merge: bool = True) -> list[OutputSection]:
    """Debug and comment sections, concatenated per name in link order."""
    by_name: dict[str, OutputSection] = {}
    for obj in objects:
        for sec in obj.sections:
            if sec is None or sec.is_alloc or not sec.live:
                continue
            if not (sec.name.startswith(".debug_") or sec.name == ".comment"):
                continue
            out = by_name.get(sec.name)
            if out is None:
                out = by_name[sec.name] = OutputSection(name=sec.name, spec=None, type=sec.type,
                                                        flags=sec.flags & ~SHF_GROUP, entsize=sec.entsize)
            out.inputs.append(sec)
            sec.out = out
    for out in by_name.values():
        if merge:
            out.inputs = merge_inputs(out.inputs)
        offset = 0
        for sec in out.inputs:
            offset = _align_up(offset, sec.align)
            sec.addr = offset
            out.align = max(out.align, sec.align)
            offset += sec.size
        out.size = offset
    return list(by_name.values())


def merge_outputs(outputs: list[OutputSection], gc: bool) -> None:
    """Fold each output section's mergeable inputs into merged sections (after gc)."""
    for out in outputs:
        out.inputs = merge_inputs([i for i in out.inputs if i.live], all_live=not gc)


def _align_up(value: int, align: int) -> int:
    return (value + align - 1) & -align


def assign_addresses(layout: TargetLayout, outputs: list[OutputSection]) -> None:
    """Give every output section and every input in it its VMA and LMA."""
    dot = layout.vma
    lma_offset = (layout.lma - layout.vma) if layout.lma is not None else 0
    previous = None
    referenced = {v[1] for v in layout.symbols.values() if isinstance(v, tuple)}
    for out in outputs:
        out.inputs = [i for i in out.inputs if i.live]
        spec = out.spec
        if _discardable(out, referenced):
            out.vma, out.lma, out.size = dot, dot + lma_offset, 0
            continue
        if spec.vma is not None:
            if spec.vma < dot and previous is not None:
                raise LinkError(f"target {layout.name}: section {out.name} is placed at {spec.vma:#x}, "
                                f"below the end of {previous.name} ({dot:#x}); sections overlap")
            dot = spec.vma
        out.align = max([spec.align] + [i.align for i in out.inputs])
        if out.align > 0x200000:      # an object's sh_addralign is input too: bound it like build.toml's
            raise LinkError(f"target {layout.name}: section {out.name} asks for alignment {out.align:#x}, "
                            "over the limit of 0x200000")
        dot = _align_up(dot, out.align)
        out.vma = dot
        if spec.lma is not None:
            lma_offset = spec.lma - dot
        out.lma = dot + lma_offset
        _place_inputs(out)
        dot = out.vma + out.size
        if dot > 1 << 32:
            raise LinkError(f"target {layout.name}: section {out.name} ends at {dot:#x}, beyond 4 GiB")
        if out.lma + out.size > 1 << 32 or out.lma < 0:
            raise LinkError(f"target {layout.name}: section {out.name} loads at {out.lma:#x} (lma) and ends "
                            f"at {out.lma + out.size:#x}, beyond 4 GiB")
        if out.inputs or out.size:
            previous = out
    check_overlaps(layout.name, [o for o in outputs if o.size])


def _discardable(out: OutputSection, referenced: set) -> bool:
    """As ld.lld: a section with no inputs, no symbols and no mention in an expression
    vanishes without aligning the location counter."""
    spec = out.spec
    return not out.inputs and not spec.start_symbol and not spec.end_symbol and spec.name not in referenced \
        and spec.vma is None and spec.lma is None


def _place_inputs(out: OutputSection) -> None:
    offset = 0
    flags = SHF_ALLOC
    nobits = True
    types = set()
    for item in out.inputs:
        offset = _align_up(offset, item.align)
        item.addr = out.vma + offset
        if isinstance(item, CommonBlock):
            offset += item.size
            flags |= SHF_WRITE
            continue
        offset += item.size
        flags |= item.flags & (SHF_WRITE | SHF_EXECINSTR)
        nobits &= item.type == SHT_NOBITS
        types.add(item.type)
    out.size = offset
    out.flags = flags | _common_merge_flags(out.inputs)
    if out.spec.nobits or (nobits and out.inputs):
        out.type = SHT_NOBITS
    elif types == {SHT_INIT_ARRAY}:
        out.type = SHT_INIT_ARRAY
    else:
        out.type = SHT_PROGBITS
    if out.flags & SHF_MERGE:
        out.entsize = out.inputs[0].entsize


def _common_merge_flags(inputs: list) -> int:
    """SHF_MERGE/SHF_STRINGS survive when every input has them with one entry size (as ld)."""
    sections = [i for i in inputs if not isinstance(i, CommonBlock)]
    if not sections or len(sections) != len(inputs):
        return 0
    merge = SHF_MERGE | SHF_STRINGS
    flags = sections[0].flags & merge
    if any((s.flags & merge) != flags or s.entsize != sections[0].entsize for s in sections):
        return 0
    return flags


def check_overlaps(target: str, outputs: list[OutputSection]) -> None:
    spans = sorted(outputs, key=lambda o: o.vma)
    for a, b in zip(spans, spans[1:]):
        if a.vma + a.size > b.vma:
            raise LinkError(f"target {target}: sections {a.name} [{a.vma:#x}, {a.vma + a.size:#x}) and "
                            f"{b.name} [{b.vma:#x}, {b.vma + b.size:#x}) overlap in virtual memory")
    loaded = sorted((o for o in outputs if not o.is_nobits), key=lambda o: o.lma)
    for a, b in zip(loaded, loaded[1:]):
        if a.lma + a.size > b.lma:
            raise LinkError(f"target {target}: sections {a.name} [{a.lma:#x}, {a.lma + a.size:#x}) and "
                            f"{b.name} [{b.lma:#x}, {b.lma + b.size:#x}) overlap in load memory")
