"""A double fault through a task gate (SDM vol. 3, 6.15 "#DF": "the only way
to recover from a stack fault is a task gate"): a ring-0 stack overflow
whose #SS cannot be pushed on the same stack double-faults, and the #DF task
runs on its own stack, sees the error code 0 and its back link, and finds
the overflowed task's state saved in its TSS (what a kernel's #DF report
prints)."""
import struct

from tests.cpu.bare import gate, gdt_entry
from tests.cpu.test_tasks import TSS_A, TSS_B, machine, tss

OVERFLOW = """
movw $0x38, %ax
movw %ax, %ss            # base 0x60000, limit 0xFFF
movl $4, %esp
pushl $0x11
movl $at, %esi
at: pushl $0x22          # offset 0xFFFFFFFC: #SS(0); its delivery pushes there again
"""


def test_a_stack_overflow_double_faults_into_a_task_with_its_own_stack():
    cpu = machine(OVERFLOW, "popl %edi\nmovl %esp, %ebp\nhlt")
    cpu.mem.write(0x500 + 0x38, gdt_entry(0x60000, 0xFFF, 0x92, 0x4))
    cpu.mem.write(0x10000 + 12 * 8, gate(0x7C00 + 0x600))        # #SS: an interrupt gate (same stack)
    cpu.mem.write(0x10000 + 8 * 8, gate(0, 0x40, 0x85))          # #DF: a task gate to TSS B
    assert cpu.run(max_insns=2000) == "hlt"
    assert [e[:2] for e in cpu.recent_exceptions] == [(12, 0), (8, 0)]
    # in the #DF task: its own stack (ESP 0x70000 after popping the error code 0), nested
    assert cpu.tr_sel == 0x40 and cpu.edi == 0 and cpu.ebp == 0x70000
    assert cpu.get_eflags() & 0x4000 and tss(cpu, TSS_B, 0, 2) == 0x28
    # the overflowed task, saved: SS:ESP at the overflow, EIP of the faulting push
    assert tss(cpu, TSS_A, 0x38) == 0 and tss(cpu, TSS_A, 0x50, 2) == 0x38
    assert tss(cpu, TSS_A, 0x20) == tss(cpu, TSS_A, 0x40)                 # A's ESI holds `at`
    assert struct.unpack("<I", cpu.mem.read(0x60000, 4))[0] == 0x11
