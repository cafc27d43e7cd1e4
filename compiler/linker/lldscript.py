"""The build description's layout written as a GNU linker script for ld.lld.

Used by the differential test: ld.lld -O0 (no string merging, like ours)
with this script must produce the same loadable bytes and symbol
addresses as our linker with the same TargetLayout.
"""
from __future__ import annotations

from .layout import OutputSectionSpec, TargetLayout


def _statement(patterns: list[str], keep: bool) -> str:
    body = f"*({' '.join(patterns)})"
    return f"KEEP({body})" if keep else body


def _section(spec: OutputSectionSpec, first: bool, layout: TargetLayout) -> list[str]:
    lines = []
    if spec.vma is not None:
        lines.append(f"  . = {spec.vma:#x};")
    attrs = []
    if spec.lma is not None:
        attrs.append(f"AT({spec.lma:#x})")
    elif first and layout.lma is not None:
        attrs.append(f"AT(ADDR({spec.name}) + {layout.lma - layout.vma:#x})")
    if spec.align > 1:
        attrs.append(f"ALIGN({spec.align:#x})")
    kind = " (NOLOAD)" if spec.nobits else ""
    lines.append(f"  {spec.name}{kind} : {' '.join(attrs)} {{".replace("  :", " :").replace(":  {", ": {"))
    if spec.start_symbol:
        lines.append(f"    {spec.start_symbol} = .;")
    for statement in spec.inputs:
        lines.append(f"    {_statement(statement, spec.keep)}")
    if spec.end_symbol:
        lines.append(f"    {spec.end_symbol} = .;")
    lines.append("  }")
    return lines


def _symbol(name: str, value) -> str:
    if isinstance(value, int):
        return f"  {name} = {value:#x};"
    kind, section, delta = value
    expr = {"start": f"ADDR({section})", "end": f"ADDR({section}) + SIZEOF({section})",
            "load_start": f"LOADADDR({section})", "load_end": f"LOADADDR({section}) + SIZEOF({section})",
            "size": f"SIZEOF({section})"}[kind]
    if delta:
        expr += f" {'+' if delta > 0 else '-'} {abs(delta):#x}"
    return f"  {name} = {expr};"


def linker_script(layout: TargetLayout) -> str:
    lines = []
    if layout.entry:
        lines.append(f"ENTRY({layout.entry})")
    lines += ["SECTIONS", "{", f"  . = {layout.vma:#x};"]
    for i, spec in enumerate(layout.sections):
        lines += _section(spec, i == 0, layout)
    lines += [_symbol(name, value) for name, value in layout.symbols.items()]
    lines += ["}"]
    return "\n".join(lines) + "\n"


def lld_arguments(layout: TargetLayout, script_path: str, output: str, objects: list[str]) -> list[str]:
    # -O1 merges strings the way merge.py does; -O0 leaves them alone
    args = ["ld.lld", "-m", "elf_i386", "-O1" if layout.merge_sections else "-O0", "--no-rosegment",
            "-T", script_path, "-o", output]
    if layout.gc_sections:
        args.append("--gc-sections")
        args += [f"--undefined={name}" for name in layout.keep_symbols]   # gc roots, as ours
    if not layout.entry:
        args += ["-e", "0"]
    return args + objects
