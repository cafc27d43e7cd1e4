"""A looping block's RAM accesses written out inline (CPython only).

A translated block reads and writes guest memory through the accessors of
mmu.make_accessors (rd8/16/32, wr8/16/32): a fast-TLB lookup, then an
index into RAM, or the slow path. On CPython a call is most of what an
access costs, so a loop's block gets the accessors' fast path written into
its own lines, and calls the accessor only when it misses:

    R[0] = (W32[(_mo | _ma & 4095) >> 2]
            if not (_ma := ADDR) & 3 and (_mo := RTG(_ma >> 12)) is not None
            else rd32(_ma))

That is the accessor's own test (an aligned word never crosses a page),
so the result, every slow path and every cycle are the same; a memory
loop ran 1.34x faster on CPython. Only loops get it: a longer source costs
more to compile than a block that runs a few times saves. PyPy inlines the
accessors itself and keeps the plain calls.

The names the lines use (mmu.make_accessors): RTG/WTG, the fast TLBs' `get`;
RAM, W16 and W32, guest RAM as bytes, halves and words.
"""
from __future__ import annotations

import re

NAMES = ("RTG", "WTG", "RAM", "W16", "W32")

_READ = re.compile(r"\brd(8|16|32)\(")
_WRITE = re.compile(r"^( *)if wr(8|16|32)\((.*)\): _w = 1$")
_LITERAL = re.compile(r"^\(*(\d+)\)*$")
_CALL = re.compile(r"[\w\])]\(")
_VIEW = {8: ("RAM", 0), 16: ("W16", 1), 32: ("W32", 2)}     # view, log2 of the access size


def inline_ram_accesses(lines, starts):
    """`lines` with every rdN/wrN call whose address has no call of its own
    written out; `starts` ((line index, insn index), translate._emit) is
    moved along with the lines a write adds."""
    out = []
    moved = []       # the new index of each old line
    for line in lines:
        moved.append(len(out))
        if line.lstrip().startswith("#"):
            out.append(line)
            continue
        store = _inline_write(line) if "wr" in line else None
        if store is not None:
            out.extend(store)
        else:
            out.append(_inline_reads(line) if "rd" in line else line)
    starts[:] = [(moved[idx], n) for idx, n in starts]
    return out


def _inline_reads(line):
    parts = []
    pos = 0
    for m in _READ.finditer(line):
        if m.start() < pos:          # inside the address of a read already done
            continue
        end = _closing(line, m.end())
        address = line[m.end():end]
        parts.append(line[pos:m.start()])
        parts.append(_read(int(m.group(1)), address) or line[m.start():end + 1])
        pos = end + 1
    parts.append(line[pos:])
    return "".join(parts)


def _read(bits, address):
    """The inline expression for rd<bits>(address), or None to keep the call."""
    if _CALL.search(address):
        return None
    view, shift = _VIEW[bits]
    literal = _LITERAL.match(address)
    if literal:
        a = int(literal.group(1))
        if a & ((1 << shift) - 1):
            return None              # unaligned: the accessor handles it
        index = f"_mo | {a & 0xFFF}"
        return f"({_indexed(view, index, shift)} if (_mo := RTG({a >> 12})) is not None else rd{bits}({a}))"
    aligned = f"not (_ma := {address}) & {(1 << shift) - 1} and " if shift else ""
    page = "_ma >> 12" if shift else f"(_ma := {address}) >> 12"
    return (f"({_indexed(view, '_mo | _ma & 4095', shift)} if {aligned}(_mo := RTG({page})) is not None "
            f"else rd{bits}(_ma))")


def _inline_write(line):
    """The lines for `if wrN(address, value): _w = 1`, or None to keep it."""
    m = _WRITE.match(line)
    if m is None or _CALL.search(m.group(3)):
        return None
    indent, bits = m.group(1), int(m.group(2))
    address, value = _split_arguments(m.group(3))
    view, shift = _VIEW[bits]
    literal = _LITERAL.match(address)
    if literal:
        a = int(literal.group(1))
        if a & ((1 << shift) - 1):
            return None
        lines, test, index, address = [], f"(_mo := WTG({a >> 12})) is not None", f"_mo | {a & 0xFFF}", str(a)
    else:
        aligned = f"not _ma & {(1 << shift) - 1} and " if shift else ""
        lines = [f"{indent}_ma = {address}"]
        test, index, address = f"{aligned}(_mo := WTG(_ma >> 12)) is not None", "_mo | _ma & 4095", "_ma"
    return lines + [f"{indent}if {test}: {_indexed(view, index, shift)} = {value}",
                    f"{indent}elif wr{bits}({address}, {value}): _w = 1"]


def _indexed(view, index, shift):
    return f"{view}[{index}]" if not shift else f"{view}[({index}) >> {shift}]"


def _closing(line, start):
    """The index of the parenthesis that closes the one opened before `start`."""
    depth = 1
    i = start
    while True:
        c = line[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if not depth:
                return i
        i += 1


def _split_arguments(text):
    """(first, rest) of a call's two arguments, split at the top-level comma."""
    depth = 0
    for i, c in enumerate(text):
        if c == "(" or c == "[":
            depth += 1
        elif c == ")" or c == "]":
            depth -= 1
        elif c == "," and not depth:
            return text[:i].strip(), text[i + 1:].strip()
    raise ValueError(f"not two arguments: {text}")
