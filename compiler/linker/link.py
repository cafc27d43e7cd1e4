"""One link, start to end: read, resolve, place, collect garbage, relocate, write."""
from __future__ import annotations

from dataclasses import dataclass, field

from .elfwriter import OutSymbol, write_elf
from .errors import LinkError
from .flat import boot_sector, check_size, flat_image
from .gc import collect_garbage
from .layout import TargetLayout
from .mapfile import render_map
from .merge import piece_index
from .objfile import (SHF_EXECINSTR, SHF_MERGE, SHN_ABS, SHN_UNDEF, STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_FILE, STT_NOTYPE,
                      STT_OBJECT, STT_SECTION, InputObject, read_object,
                      section_headers)
from .place import OutputSection, assign_addresses, assign_inputs, merge_outputs, non_alloc_outputs
from .relocate import Relocator, build_contents
from .resolve import SymbolTable, resolve


@dataclass
class LinkResult:
    target: str
    format: str
    elf: bytes                                  # always produced (gdb wants symbols even for flat targets)
    load_address: int                           # lowest load address of the loadable bytes
    flat: bytes                                 # loadable bytes from load_address (boot sector: 512 bytes)
    entry: int
    symbols: dict[str, int]                     # global symbol -> address
    sections: list[OutputSection]
    map_text: str
    discarded: list = field(default_factory=list)

    def __repr__(self) -> str:
        # The sections hold every input object's bytes and relocations: the
        # generated repr of one link runs to gigabytes (pytest prints it).
        return (f"LinkResult(target={self.target!r}, format={self.format!r}, entry={self.entry:#x}, "
                f"load_address={self.load_address:#x}, flat={len(self.flat)} bytes, "
                f"elf={len(self.elf)} bytes, {len(self.sections)} sections, {len(self.symbols)} symbols)")

    @property
    def mem_end(self) -> int:
        """Highest load address + 1 of any allocated section, including .bss."""
        alloc = [o for o in self.sections if o.is_alloc and o.size]
        return max((o.lma + o.size for o in alloc), default=self.load_address)


def link(objects: list[tuple[str, bytes]], layout: TargetLayout, header_cache=None) -> LinkResult:
    """`header_cache`: optional `get(data) -> headers | None` / `put(data, headers)`
    keeping objects' section headers by content, so an unchanged object is
    not decoded with pyelftools again (the build passes the compile cache's)."""
    inputs = [_read_input(name, data, header_cache) for name, data in objects]
    symbols = resolve(inputs)
    defined_by_layout = _layout_symbol_names(layout)
    for name in defined_by_layout:
        symbols.define_linker_symbol(name)
    outputs = assign_inputs(layout, inputs, symbols)
    discarded = []
    if layout.gc_sections:
        roots = ([layout.entry] if layout.entry else []) + list(layout.keep_symbols)
        discarded = collect_garbage(inputs, outputs, symbols, roots)
    _check_undefined(inputs, symbols, layout)
    if layout.merge_sections:
        merge_outputs(outputs, layout.gc_sections)
    assign_addresses(layout, outputs)
    _assign_symbol_addresses(symbols, layout, outputs)
    debug = non_alloc_outputs(inputs, merge=layout.merge_sections)
    build_contents(outputs + debug)
    Relocator(symbols).apply(outputs + debug)
    entry = _entry_address(layout, symbols, outputs)
    load_address, flat = flat_image(outputs)
    if layout.format == "bootsector":
        flat = boot_sector(layout.name, outputs, flat)
    elif layout.max_size is not None:
        check_size(layout.name, outputs, len(flat), layout.max_size, "the flat binary")
    out_symbols = _output_symbols(inputs, symbols, outputs)
    elf = write_elf(outputs + debug, out_symbols, entry)
    address_of = {s.name: s.value for s in out_symbols if s.bind != STB_LOCAL and not s.undefined}
    map_text = render_map(layout.name, layout.format, layout.entry, entry, outputs + debug,
                          _map_symbols(out_symbols), discarded)
    return LinkResult(layout.name, layout.format, elf, load_address, flat, entry, address_of,
                      outputs, map_text, discarded)


def _read_input(name: str, data: bytes, header_cache) -> InputObject:
    headers = header_cache.get(data) if header_cache is not None else None
    if headers is not None:
        return read_object(name, data, headers)
    headers = section_headers(name, data)
    obj = read_object(name, data, headers)
    if header_cache is not None:
        header_cache.put(data, headers)     # only an object that read without error
    return obj


def _layout_symbol_names(layout: TargetLayout) -> list[str]:
    names = []
    for spec in layout.sections:
        names += [n for n in (spec.start_symbol, spec.end_symbol) if n]
    names += list(layout.symbols)
    return names


def _check_undefined(inputs: list[InputObject], symbols: SymbolTable, layout: TargetLayout) -> None:
    # name -> {(object, function or section): [first site, count]}
    missing: dict[str, dict] = {}
    for obj in inputs:
        for sec in obj.sections:
            if sec is None or not sec.live or not sec.is_alloc or not sec.relocs:
                continue
            for offset, _type, symidx in sec.relocs:
                sym = obj.symbols[symidx]
                if sym.bind == STB_LOCAL or sym.shndx != SHN_UNDEF or sym.bind == STB_WEAK:
                    continue
                if symbols.globals[sym.name].is_defined:
                    continue
                func = obj.function_at(sec, offset)
                kind = "function" if sec.flags & SHF_EXECINSTR else "object"
                key = (obj.name, f"{kind} {func}" if func else f"section {sec.name}")
                refs = missing.setdefault(sym.name, {})
                refs.setdefault(key, [f"{sec.name}+{offset:#x}", 0])[1] += 1
    entry = symbols.globals.get(layout.entry) if layout.entry else None
    if layout.entry and (entry is None or not entry.is_defined):
        missing.setdefault(layout.entry, {})[("the entry point of target " + layout.name, "")] = ["", 0]
    if missing:
        raise LinkError("\n".join(_undefined_message(name, refs) for name, refs in missing.items()))


def _undefined_message(name: str, refs: dict) -> str:
    lines = [f"undefined symbol: {name}"]
    for (obj, where), (site, count) in refs.items():
        if not count:
            lines.append(f"  referenced by {obj}")
            continue
        more = f", and {count - 1} more time{'s' if count > 2 else ''}" if count > 1 else ""
        lines.append(f"  referenced by {obj}: {where} ({site}{more})")
    return "\n".join(lines)


def _section_symbol_value(kind: str, out: OutputSection) -> int:
    return {"start": out.vma, "end": out.vma + out.size, "load_start": out.lma,
            "load_end": out.lma + out.size, "size": out.size}[kind]


def _assign_symbol_addresses(symbols: SymbolTable, layout: TargetLayout, outputs: list[OutputSection]) -> None:
    by_name = {o.name: o for o in outputs}
    def define(name, addr, section=None):
        entry = symbols.globals[name]
        entry.addr, entry.layout_section = addr & 0xFFFFFFFF, section

    for out in outputs:
        if out.spec.start_symbol:
            define(out.spec.start_symbol, out.vma, out)
        if out.spec.end_symbol:
            define(out.spec.end_symbol, out.vma + out.size, out)
    for name, value in layout.symbols.items():
        if isinstance(value, int):
            define(name, value)
        else:
            kind, section, delta = value
            relative = by_name[section] if kind in ("start", "end") else None
            define(name, _section_symbol_value(kind, by_name[section]) + delta, relative)
    for entry in symbols.globals.values():
        if entry.linker_defined:
            continue
        if entry.common is not None:
            entry.addr = entry.common.addr if entry.common.live else None
        elif entry.definition is not None:
            d = entry.definition
            if d.section is None:
                entry.addr = d.value
            elif d.section.live and d.section.out is not None:
                entry.addr = d.section.address_of(d.value)
            else:
                entry.addr = None
        else:
            entry.addr = 0              # weak undefined


def _entry_address(layout: TargetLayout, symbols: SymbolTable, outputs: list[OutputSection]) -> int:
    if layout.entry:
        entry = symbols.globals[layout.entry]
        if entry.addr is None:       # defined in a section the layout does not place (or gc removed)
            where = entry.definition.section.name if entry.definition and entry.definition.section else "?"
            raise LinkError(f"target {layout.name}: the entry point {layout.entry} is in section {where!r}, "
                            "which is not in the output")
        return entry.addr
    for name in ("_start", "_entry"):
        entry = symbols.globals.get(name)
        if entry is not None and entry.is_defined and entry.addr is not None:
            return entry.addr
    text = next((o for o in outputs if o.size and o.flags & 0x4), None)
    return text.vma if text else layout.vma


def _section_of(section: OutputSection | None, outputs) -> OutputSection | None:
    """The output section a symbol is relative to, if it is written to the ELF (empty ones are not)."""
    return section if section is not None and section.size else None


def _output_symbols(inputs: list[InputObject], symbols: SymbolTable, outputs: list[OutputSection]) -> list[OutSymbol]:
    result: list[OutSymbol] = []
    for obj in inputs:
        result.append(OutSymbol(obj.source_file or obj.name, 0, 0, STT_FILE, STB_LOCAL, None))
        for sym in obj.symbols:
            if sym.bind != STB_LOCAL or sym.type in (STT_SECTION, STT_FILE) or not sym.name:
                continue
            if sym.section is None:
                if sym.shndx == SHN_ABS:
                    result.append(OutSymbol(sym.name, sym.value, sym.size, sym.type, STB_LOCAL, None))
                continue
            sec = sym.section
            if not sec.live or sec.out is None or not sec.is_alloc or not _piece_live(sec, sym.value):
                continue
            if sym.name.startswith(".L") and sec.flags & SHF_MERGE:
                continue    # kept by the assembler only for relocations into a mergeable section (as ld.lld)
            result.append(OutSymbol(sym.name, sec.address_of(sym.value), sym.size, sym.type, STB_LOCAL,
                                    _section_of(sec.out, outputs)))
    for name, entry in symbols.globals.items():
        result.append(_global_out_symbol(name, entry, outputs))
    return [s for s in result if s is not None]


def _piece_live(sec, offset: int) -> bool:
    """False for a symbol in a merged piece that garbage collection dropped (ld.lld omits it)."""
    if sec.merged is None or sec.pieces is None:
        return True
    return sec.pieces.live[piece_index(sec.pieces, offset)]


def _global_out_symbol(name, entry, outputs) -> OutSymbol | None:
    if entry.linker_defined:
        return OutSymbol(name, entry.addr, 0, STT_NOTYPE, STB_GLOBAL, _section_of(entry.layout_section, outputs))
    if entry.common is not None:
        if entry.addr is None:
            return None
        return OutSymbol(name, entry.addr, entry.common.size, STT_OBJECT, STB_GLOBAL, entry.common.out)
    d = entry.definition
    if d is None:
        return OutSymbol(name, 0, 0, STT_NOTYPE, STB_WEAK, None, undefined=True)
    if entry.addr is None or (d.section is not None and not _piece_live(d.section, d.value)):
        return None
    section = None if d.section is None else _section_of(d.section.out, outputs)
    return OutSymbol(name, entry.addr, d.size, d.type, d.bind, section)


def _map_symbols(out_symbols: list[OutSymbol]) -> list[tuple[int, str, str, str]]:
    rows = []
    for s in out_symbols:
        if s.type == STT_FILE or s.undefined:
            continue
        bind = {STB_LOCAL: "l", STB_GLOBAL: "g", STB_WEAK: "w"}.get(s.bind, "?")
        rows.append((s.value, bind, s.section.name if s.section else "*ABS*", s.name))
    return rows


def link_objects(objects: list[tuple[str, bytes]], base: int = 0x100000, entry: str | None = None) -> bytes:
    """Link with the simple flat layout (.text, .rodata, .init_array, .data, .bss from ``base``)."""
    from .layout import flat_layout
    return link(objects, flat_layout(base, entry)).elf


__all__ = ["link", "link_objects", "LinkResult", "LinkError"]
