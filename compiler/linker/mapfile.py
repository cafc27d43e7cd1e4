"""The map file: output sections, where each input landed, symbols by address."""
from __future__ import annotations

from .place import OutputSection
from .resolve import CommonBlock


def _input_name(item) -> str:
    if isinstance(item, CommonBlock):
        return f"{item.obj.name}:(COMMON {item.name})"
    return item.where()


def render_map(target: str, fmt: str, entry_name: str | None, entry: int, outputs: list[OutputSection],
               symbols: list[tuple[int, str, str, str]], discarded: list) -> str:
    """``symbols``: (address, binding letter, output section name, symbol name)."""
    lines = [f"Target {target} ({fmt})",
             f"Entry {entry_name or '(none)'} = {entry:#010x}", "",
             "Output sections", f"{'VMA':>10} {'LMA':>10} {'Size':>10} {'Align':>6}  Name / input"]
    for out in outputs:
        lma = f"{out.lma:#010x}" if out.is_alloc else ""
        lines.append(f"{out.vma:#010x} {lma:>10} {out.size:#010x} {out.align:>6}  {out.name}")
        for item in out.inputs:
            lines.append(f"{item.addr:#010x} {'':>10} {item.size:#010x} {item.align:>6}      {_input_name(item)}")
            for merged in getattr(item, "inputs", ()):       # the inputs folded into a merged section
                lines.append(f"{'':>10} {'':>10} {merged.size:#010x} {merged.align:>6}        from {merged.where()}")
    lines += _page_table(outputs)
    lines += ["", "Symbols by address", f"{'Address':>10}  B Section      Name"]
    for addr, bind, section, name in sorted(symbols, key=lambda s: (s[0], s[3])):
        lines.append(f"{addr:#010x}  {bind} {section:<12} {name}")
    if discarded:
        lines += ["", "Discarded (garbage collection)"]
        lines += [f"{item.size:#010x}  {_input_name(item)}" for item in discarded]
    return "\n".join(lines) + "\n"


PAGE = 0x1000


def _page_table(outputs: list[OutputSection]) -> list[str]:
    """Which output sections share each 4 KiB page: the seed found stores to a page
    that also holds executed code slow (self-modifying-code detection), so say so."""
    pages: dict[int, list[OutputSection]] = {}
    for out in outputs:
        if out.is_alloc and out.size:
            for page in range(out.vma & ~(PAGE - 1), out.vma + out.size, PAGE):
                pages.setdefault(page, []).append(out)
    lines = ["", "Pages (4 KiB, by VMA)"]
    for page, owners in sorted(pages.items()):
        code = any(o.flags & 0x4 for o in owners)
        written = any(o.flags & 0x1 for o in owners)
        note = "  ! code and writable data share this page" if code and written else ""
        lines.append(f"{page:#010x}  {' '.join(o.name for o in owners)}{note}")
    return lines
