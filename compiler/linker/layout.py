"""The layout of one link target: the linker-script part of build.toml.

``TargetLayout.from_dict`` turns one ``[targets.NAME]`` table into these
records (see docs/build-toml.md); ``flat_layout`` is the simple default
that ``link_objects`` uses for test programs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import LinkError

FORMATS = ("elf", "flat", "bootsector")


@dataclass
class OutputSectionSpec:
    name: str
    inputs: list[list[str]]          # input statements, each a list of patterns
    vma: int | None = None
    lma: int | None = None
    align: int = 1
    keep: bool = False
    start_symbol: str | None = None
    end_symbol: str | None = None
    nobits: bool = False


@dataclass
class TargetLayout:
    name: str = "a.out"
    format: str = "elf"
    entry: str | None = None
    vma: int = 0
    lma: int | None = None
    gc_sections: bool = False
    merge_sections: bool = True      # store identical mergeable strings/constants once (as ld -O1)
    keep_symbols: list[str] = field(default_factory=list)
    max_size: int | None = None
    sections: list[OutputSectionSpec] = field(default_factory=list)
    symbols: dict[str, object] = field(default_factory=dict)   # name -> int | expression text

    @classmethod
    def from_dict(cls, name: str, table: dict) -> "TargetLayout":
        return _parse_target(name, table)


def flat_layout(base: int = 0x100000, entry: str | None = None) -> TargetLayout:
    """Code, read-only data, constructors, data and bss, one after the other from ``base``."""
    def sec(name, inputs, **kw):
        return OutputSectionSpec(name=name, inputs=[s.split() for s in inputs], **kw)
    return TargetLayout(
        name="a.out", format="elf", entry=entry, vma=base,
        sections=[
            sec(".text", [".text.entry", ".text .text.*"]),
            sec(".rodata", [".rodata .rodata.*"]),
            sec(".init_array", [".init_array .init_array.* .ctors .ctors.*"], keep=True,
                start_symbol="__init_array_start", end_symbol="__init_array_end"),
            sec(".data", [".data .data.*"]),
            sec(".bss", [".bss .bss.* COMMON"], start_symbol="__bss_start", end_symbol="__bss_end"),
        ],
    )


# ---- parsing the TOML table -------------------------------------------------

_TARGET_KEYS = {"format", "modules", "follow_imports", "sources", "objects", "entry", "vma", "lma",
                "gc_sections", "merge_sections", "keep_symbols", "max_size", "sections", "symbols"}
_SECTION_KEYS = {"name", "inputs", "vma", "lma", "align", "keep", "start_symbol", "end_symbol", "type"}
_EXPR = re.compile(r"^\s*(start|end|load_start|load_end|size)\(\s*([^\s()]+)\s*\)\s*(?:([+-])\s*(\w+)\s*)?$")


def _fail(where: str, message: str):
    raise LinkError(f"build description: {where}: {message}")


MAX_SECTION_ALIGN = 0x200000


def _int(where, key, value, *, optional=True):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 0xFFFFFFFF:
        _fail(where, f"'{key}' must be an integer address or size in 0..0xFFFFFFFF, got {value!r}")
    return value


def _str_list(where, key, value):
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail(where, f"'{key}' must be a list of strings, got {value!r}")
    return value


def _check_keys(where: str, table, known: set) -> None:
    """`table` is a TOML table holding only `known` keys."""
    if not isinstance(table, dict):
        _fail(where, "must be a table")
    unknown = set(table) - known
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")


def _parse_target(name: str, table: dict) -> TargetLayout:
    where = f"[targets.{name}]"
    _check_keys(where, table, _TARGET_KEYS)
    fmt = table.get("format")
    if fmt not in FORMATS:
        _fail(where, f"'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")
    entry = table.get("entry")
    if entry is not None and not isinstance(entry, str):
        _fail(where, f"'entry' must be a symbol name, got {entry!r}")
    sections = table.get("sections")
    if not isinstance(sections, list) or not sections:
        _fail(where, "needs at least one [[targets.%s.sections]] entry" % name)
    layout = TargetLayout(
        name=name, format=fmt, entry=entry,
        vma=_int(where, "vma", table.get("vma", 0)),
        lma=_int(where, "lma", table.get("lma")),
        gc_sections=bool(table.get("gc_sections", False)),
        merge_sections=bool(table.get("merge_sections", True)),
        keep_symbols=_str_list(where, "keep_symbols", table.get("keep_symbols", [])),
        max_size=_int(where, "max_size", table.get("max_size")),
        sections=[_parse_section(f"{where} section {i + 1}", s) for i, s in enumerate(sections)],
        symbols=_parse_symbols(where, table.get("symbols", {})),
    )
    names = [s.name for s in layout.sections]
    for sec_name in names:
        if names.count(sec_name) > 1:
            _fail(where, f"output section {sec_name} is listed twice")
    for sym, value in layout.symbols.items():
        if isinstance(value, tuple) and value[1] not in names:
            _fail(where, f"symbol {sym} refers to output section {value[1]}, which this target does not have")
    return layout


def _parse_section(where: str, table: dict) -> OutputSectionSpec:
    _check_keys(where, table, _SECTION_KEYS)
    name = table.get("name")
    if not isinstance(name, str) or not name:
        _fail(where, "needs a 'name'")
    where = f"{where} ({name})"
    inputs = _str_list(where, "inputs", table.get("inputs"))
    statements = [s.split() for s in inputs]
    if any(not s for s in statements):
        _fail(where, "an input statement is empty")
    align = _int(where, "align", table.get("align", 1))
    if align == 0 or align & (align - 1):
        _fail(where, f"'align' must be a power of two, got {align}")
    if align > MAX_SECTION_ALIGN:
        # Padding to a huge alignment would be allocated and written into the ELF.
        _fail(where, f"'align' = {align:#x} is over the limit of {MAX_SECTION_ALIGN:#x} (2 MiB, a large page)")
    stype = table.get("type", "progbits")
    if stype not in ("progbits", "nobits"):
        _fail(where, f"'type' must be \"progbits\" or \"nobits\", got {stype!r}")
    for key in ("start_symbol", "end_symbol"):
        if table.get(key) is not None and not isinstance(table[key], str):
            _fail(where, f"'{key}' must be a symbol name")
    return OutputSectionSpec(
        name=name, inputs=statements, vma=_int(where, "vma", table.get("vma")),
        lma=_int(where, "lma", table.get("lma")), align=align, keep=bool(table.get("keep", False)),
        start_symbol=table.get("start_symbol"), end_symbol=table.get("end_symbol"),
        nobits=stype == "nobits")


def _parse_symbols(where: str, table) -> dict:
    if not isinstance(table, dict):
        _fail(where, "'symbols' must be a table of name = value")
    out = {}
    for name, value in table.items():
        if isinstance(value, int) and not isinstance(value, bool):
            out[name] = _int(where, f"symbols.{name}", value)
            continue
        match = _EXPR.match(value) if isinstance(value, str) else None
        if not match:
            _fail(where, f"symbol {name} = {value!r}: expected an integer or "
                         "start(SEC) / end(SEC) / load_start(SEC) / load_end(SEC) / size(SEC), optionally + N or - N")
        kind, section, sign, amount = match.groups()
        delta = 0
        if amount is not None:
            try:
                delta = int(amount, 0)
            except ValueError:
                _fail(where, f"symbol {name}: {amount!r} is not a number")
            delta = -delta if sign == "-" else delta
        out[name] = (kind, section, delta)
    return out
