"""Stores to a page that holds executed code go, after the first, through
the page's store handler (mmu.py, `stlb`) without a page walk. The handler
must do what the walked path does: the same bytes in memory, the same
`tcg` code-page charges, and a store onto executed bytes still ends the
block and is seen by the next lap."""
from __future__ import annotations

import pytest

from vm.cpu.mmu import MMU
from vm.flat import FlatMachine
from tests.cpu.asm import assemble_with_labels

BASE = 0x100000
DATA = BASE + 0x800          # beside the code, on its page

# every size, aligned and not, to the code's page; a load of each; an
# `movl $imm` whose immediate the loop itself overwrites (the next lap adds
# the new value); and a dword straddling into the next page
PROGRAM = f"""
start:
movl 4(%esp), %ecx
xorl %eax, %eax
1: movb %cl, {DATA:#x}
movw %cx, {DATA + 3:#x}
movw %cx, {DATA + 6:#x}
movl %ecx, {DATA + 17:#x}
movl %ecx, {DATA + 12:#x}
pushl %ecx
popl %edx
addl {DATA + 12:#x}, %eax
addl {DATA + 17:#x}, %eax
movzwl {DATA + 3:#x}, %edx
addl %edx, %eax
movzbl {DATA:#x}, %edx
addl %edx, %eax
patched: movl $0, %edx
addl %edx, %eax
movl %ecx, patched + 1
decl %ecx
jnz 1b
movl $0x12345678, {BASE + 0xFFE:#x}
addl {BASE + 0xFFE:#x}, %eax
ret
"""


def run(timing, stack_on_code_page=True):
    code, labels = assemble_with_labels(PROGRAM, base=BASE)
    fm = FlatMachine.from_code(code, timing=timing)
    if stack_on_code_page:
        fm.stack_top = BASE + 0xF00   # push/pop on the code's page too, as the seed's boot stack
    result = fm.call("start", 300)
    return result, fm.cpu.cycles, fm.read(BASE, 0x1004), fm.cpu.stlb


def walked_only(monkeypatch):
    """Every handler passes the store to the walked path (what stores to a
    code page did before handlers)."""
    monkeypatch.setattr(MMU, "_code_page_store", lambda cpu, lbase, page:
                        lambda off, size, value: cpu.walked_write(lbase | off, size, value, None))


def expected_result(laps):
    total = 0
    previous_imm = 0
    for n in range(laps, 0, -1):
        total += n + n + (n & 0xFFFF) + (n & 0xFF) + previous_imm
        previous_imm = n
    return (total + 0x12345678) & 0xFFFFFFFF


@pytest.mark.parametrize("timing", ["tcg", "off"])
def test_handler_matches_the_walked_path(timing, monkeypatch):
    fast = run(timing)
    assert fast[0] == expected_result(300)
    assert fast[3], "no store handler was made for the code page"
    walked_only(monkeypatch)
    slow = run(timing)
    assert fast[:3] == slow[:3]


def test_code_page_stores_are_charged():
    """Under `tcg` a store beside executed code costs more than one to a page
    without code (the seed's slow boot stack)."""
    _, on_code, memory, _ = run("tcg")
    assert memory[DATA - BASE] == 1                      # the last lap's byte
    assert memory[0xFFE:0x1002] == (0x12345678).to_bytes(4, "little")
    elsewhere = run("tcg", stack_on_code_page=False)[1]
    assert on_code > elsewhere
