"""Flags left in a block's locals (translate.py `defer_flags`) are stored
when the next instruction's memory access faults: the #PF handler sees the
EFLAGS of the instruction before, on cold blocks, hot traces and loops,
as it does when every instruction is a block of its own (traced)."""
import struct

import pytest

from tests.cpu.test_paging import PT, paged

ARITH = 0x8D5        # CF PF AF ZF SF OF

BODIES = {
    # 0xffffffff + 1: CF ZF PF AF
    "add then load": ("movl $0xffffffff, %eax\naddl $1, %eax\nmovl 0x1ff000, %ebx", 0x55),
    # dec keeps the CF of stc; 1 - 1: ZF PF
    "dec then store": ("stc\nmovl $1, %eax\ndecl %eax\nmovl %ebx, 0x1ff004", 0x45),
    # a loop: the load faults on its fourth lap, after the add of that lap
    "loop": ("""movl $0x1fc000, %esi
xorl %ecx, %ecx
1: addl $0x7fffffff, %ecx
movl (%esi), %eax
addl $0x1000, %esi
jmp 1b""", None),
    # the load is the lap's first instruction: on lap 49 (inside one call of
    # the hot loop) it faults before the lap set flags, so the handler sees
    # lap 48's last record (its dec, carrying the add's CF) (translate.py LAP_END)
    "loop, load first": ("""movl $0x1fc000, %esi
movl $100, %ecx
xorl %edx, %edx
1: movl (%esi), %eax
addl $0x100, %esi
addl $0x7fffffff, %edx
decl %ecx
jnz 1b
hlt""", None),
}




@pytest.mark.parametrize("name", sorted(BODIES))
def test_fault_sees_the_flags_before_it(name):
    body, expected = BODIES[name]
    results = []
    for traced in (False, True):
        cpu = paged(body)
        cpu.mem.write(PT + 4 * 0x1FF, struct.pack("<I", 0))
        if traced:
            cpu.trace = lambda c: None
        assert cpu.run(max_insns=10000) == "hlt"
        eflags = struct.unpack("<I", cpu.mem.read(cpu.esp + 8, 4))[0]     # EIP, CS, EFLAGS
        results.append((eflags & ARITH, cpu.esi, cpu.edi, cpu.ecx, cpu.cycles, cpu.insns))
    assert results[0] == results[1]
    if expected is not None:
        assert results[0][0] == expected
    elif name == "loop":
        assert results[0][3] == 4 * 0x7FFFFFFF & 0xFFFFFFFF     # four adds, the fourth lap faulted
    else:
        assert results[0][3] == 52                               # 48 laps, the 49th faulted
