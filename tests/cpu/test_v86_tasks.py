"""V86 tasks (SDM vol. 3, 20.2.5 "Entering virtual-8086 mode" by a task
switch, 7.3): a JMP to a 386 TSS whose EFLAGS image has VM=1 starts the
task in virtual-8086 mode with real-mode-style segments (base = selector x
16) at CPL 3; an INT through a task gate leaves it with its V86 state saved
in its TSS (VM=1 in the EFLAGS field), and IRET with NT=1 goes back into
it; an interrupt through an interrupt gate leaves on the ring-0 stack its
own TSS names."""
import struct

from tests.cpu.bare import gate, gdt_entry, protected
from tests.cpu.test_v86 import TAIL      # the IDT/GDT pointers, the V86 code at 0x400, the handlers

TSS_A, TSS_B = 0x1000, 0x1100
VM, IOPL3, NT = 0x20000, 0x3000, 0x4000
HEAD = """
lidtl idtr_ptr
lgdtl gdt_big
movw $0x28, %ax
ltr %ax
"""
V86_SELECTORS = dict(es=0x0200, cs=0x0800, ss=0x0700, ds=0x0100, fs=0x0300, gs=0x0400)


def machine(task_a, v86_code, eflags=VM | IOPL3 | 0x2):
    """Task A (TR 0x28) runs `task_a`; 0x40 is the V86 task B (TSS at
    0x1100, CS:IP 0800:0000 = the V86 code, SS:SP 0700:0FF0, ring-0 stack
    0x10:0x80000); IDT 0x31 is a DPL-3 task gate to A, 0x30 a DPL-3
    interrupt gate to `handler`, 13 goes to `gp`."""
    cpu = protected(HEAD + task_a + TAIL.format(v86=v86_code))
    cpu.mem.write(0x500 + 0x28, gdt_entry(TSS_A, 0x67, 0x89, 0) + bytes(16) + gdt_entry(TSS_B, 0x67, 0x89, 0))
    b = bytearray(0x68)
    struct.pack_into("<II", b, 0x04, 0x80000, 0x10)                          # ESP0, SS0
    struct.pack_into("<II", b, 0x20, 0, eflags)                              # EIP, EFLAGS
    struct.pack_into("<8I", b, 0x28, 0, 0, 0, 0, 0x0FF0, 0, 0, 0)            # EAX .. EDI
    struct.pack_into("<6I", b, 0x48, *(V86_SELECTORS[s] for s in ("es", "cs", "ss", "ds", "fs", "gs")))
    cpu.mem.write(TSS_B, bytes(b))
    cpu.mem.write(0x10000 + 0x31 * 8, gate(0, 0x28, 0xE5))
    cpu.mem.write(0x10000 + 0x30 * 8, gate(0x7C00 + 0x600, kind=0xEE))
    cpu.mem.write(0x10000 + 13 * 8, gate(0x7C00 + 0x680))
    return cpu


def tss(cpu, base, offset, n=1):
    values = struct.unpack(f"<{n}I", cpu.mem.read(base + offset, 4 * n))
    return values[0] if n == 1 else list(values)


def access(cpu, sel):
    return cpu.mem.read(0x500 + sel + 5, 1)[0]


PING_PONG_A = """
ljmp $0x40, $0
back:
str %ax
movl %eax, 0x3000
pushfl
popl 0x3004
movl %cr0, %eax
movl %eax, 0x3008
clts
iretl
back2:
pushfl
popl 0x300c
hlt
"""
PING_PONG_V86 = """
movw %cs, %ax
movw %ss, %bx
movw %fs, %cx
movw %gs, %dx
movw $0x5678, 0x10
movw $0x9ABC, %es:0x10
int $0x31
movw $0x4321, %si
movw 0x10, %di
second:
int $0x31
"""


def test_a_jump_to_a_tss_with_vm_set_runs_the_task_in_v86_mode_and_task_gates_switch_out_and_back():
    cpu = machine(PING_PONG_A, PING_PONG_V86)
    assert cpu.run(max_insns=2000) == "hlt"
    assert not cpu.recent_exceptions                     # no fault on the way
    # real-mode-style segments in the V86 task: the stores went to selector x 16
    assert cpu.mem.read(0x1010, 2) == b"\x78\x56" and cpu.mem.read(0x2010, 2) == b"\xbc\x9a"
    # task A after the first INT: TR, NT (a nested switch), CR0.TS
    tr, flags_a, cr0_a = struct.unpack("<3I", cpu.mem.read(0x3000, 12))
    assert tr & 0xFFFF == 0x28 and flags_a & NT and cr0_a & 8
    # the V86 state saved in B's TSS at the second INT: EIP after it, EFLAGS with VM
    eip, eflags = tss(cpu, TSS_B, 0x20, 2)
    eax, ecx, edx, ebx, esp, ebp, esi, edi = tss(cpu, TSS_B, 0x28, 8)
    es, cs, ss, ds, fs, gs = tss(cpu, TSS_B, 0x48, 6)
    assert eflags & (VM | IOPL3) == VM | IOPL3 and not eflags & NT
    assert cpu.mem.read(0x8000 + eip - 2, 2) == b"\xcd\x31"               # just after `int $0x31`
    assert (eax, ebx, ecx, edx) == (0x0800, 0x0700, 0x0300, 0x0400)       # CS, SS, FS, GS as V86 saw them
    assert (esi, edi, esp) == (0x4321, 0x5678, 0x0FF0)                   # the IRET went back into V86
    assert (es, cs, ss, ds, fs, gs) == tuple(V86_SELECTORS[s] for s in ("es", "cs", "ss", "ds", "fs", "gs"))
    # back in A: ring 0, TR 0x28, nested again; B stayed busy, A's back link names B
    assert cpu.tr_sel == 0x28 and cpu.cpl == 0 and not cpu.fl & VM
    assert struct.unpack("<I", cpu.mem.read(0x300C, 4))[0] & NT
    assert access(cpu, 0x28) == 0x8B and access(cpu, 0x40) == 0x8B
    assert tss(cpu, TSS_A, 0) & 0xFFFF == 0x40


def test_an_interrupt_gate_out_of_a_v86_task_uses_the_ring0_stack_of_that_task():
    cpu = machine("ljmp $0x40, $0\n", "movw $0x77, %ax\nint $0x30\n")
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.tr_sel == 0x40 and cpu.cpl == 0 and cpu.eax & 0xFFFF == 0x77
    assert cpu.ebp == 0x80000 - 36                       # B's ESP0, 9 dwords
    eip, cs, eflags, esp, ss, es, ds, fs, gs = struct.unpack("<9I", cpu.mem.read(cpu.ebp, 36))
    assert (cs, esp, ss, es, ds, fs, gs) == (0x0800, 0x0FF0, 0x0700, 0x0200, 0x0100, 0x0300, 0x0400)
    assert eflags & VM and eip == 5
    assert [cpu.get_seg(i) for i in (0, 3, 4, 5)] == [0, 0, 0, 0]


def test_a_v86_task_below_iopl_3_faults_on_int_to_its_ring0_handler():
    cpu = machine("ljmp $0x40, $0\n", "nop\nint $0x31\n", eflags=VM | 0x2)
    assert cpu.run(max_insns=2000) == "hlt"
    # INT n in V86 with IOPL < 3: #GP(0) through the IDT (an interrupt gate, on B's ring-0 stack)
    assert cpu.tr_sel == 0x40 and cpu.edi == 0 and cpu.recent_exceptions[-1][:2] == (13, 0)
    assert cpu.esp == 0x80000 - 36 and struct.unpack("<I", cpu.mem.read(cpu.esp, 4))[0] == 1
