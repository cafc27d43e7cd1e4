"""The 80286 formats a 386 still runs (SDM vol. 3, 7.6 "16-bit task-state
segment", 5.8.3 call gates, 6.11 IDT descriptors; vol. 2 RET and IRET
pseudo-code): a task switch that loads and saves a 286 TSS (16-bit IP,
FLAGS, the eight word registers, ES/CS/SS/DS, LDT; nothing at or past
offset 0x2C), a 286 call gate's return with 16-bit pops (`lretw n` to an
outer level releases n bytes on both stacks), and a 286 interrupt gate's
16-bit frame and `iretw` back to ring 3.  Returning to an outer 32-bit
stack with 16-bit pops loads ESP with the popped SP (zero-extended): SS's
B bit, not the operand size, decides how much of ESP is loaded."""
import struct

from tests.cpu.bare import gate, gdt_entry, protected
from tests.cpu.test_call_gates import GP_HANDLER, IDT, call_gate
from tests.cpu.test_tasks import TSS_A, TSS_B, access, machine, tss

NT = 0x4000


# ---- 286 TSS ------------------------------------------------------------------------
def tss286_machine(body, task_b_tail, limit=0x2B):
    cpu = machine(body, task_b_tail)
    cpu.mem.write(0x500 + 0x40, gdt_entry(TSS_B, limit, 0x81, 0))      # available 286 TSS
    b = bytearray(b"\xee" * 0x68)                                        # 0x2C on: must stay untouched
    struct.pack_into("<H", b, 0, 0)
    struct.pack_into("<6H", b, 2, 0, 0, 0, 0, 0, 0)                       # SP0..SS2
    struct.pack_into("<HH", b, 0x0E, 0x7C00 + 0x400, 0x0002)             # IP, FLAGS
    struct.pack_into("<8H", b, 0x12, 0x0B0B, 0x0C0C, 0x0D0D, 0x0E0E, 0xF000, 0x0F0F, 0x1010, 0x2020)
    struct.pack_into("<5H", b, 0x22, 0x10, 0x08, 0x10, 0x10, 0)          # ES CS SS DS, LDT
    cpu.mem.write(TSS_B, bytes(b))
    return cpu


TASK_B_RECORDS = """
movl %ebx, 0x2000
movl %ecx, 0x2004
movl %edx, 0x2008
movl %eax, 0x200c
movl %esp, 0x2010
movl %esi, 0x2014
movw $0x1357, %si
movw $0x2468, %di
movw $0x1111, %bp
pushl $0x4242
iretl
"""


def test_a_call_to_a_286_tss_loads_the_word_fields_and_iret_saves_them_back():
    cpu = tss286_machine("movl $0x55AA55AA, %esi\nlcall $0x40, $0\nmovl %eax, %ebp\n", TASK_B_RECORDS)
    assert cpu.run(max_insns=2000) == "hlt"
    bx, flags_b, cr0_b, eax_b, esp_b, esi_b = struct.unpack("<6I", cpu.mem.read(0x2000, 24))
    # in B: TR, NT (nested), CR0.TS, the word registers from the 286 TSS
    assert bx & 0xFFFF == 0x40 and flags_b & NT and cr0_b & 8
    assert eax_b & 0xFFFF == 0x0B0B and esp_b & 0xFFFF == 0xF000 and esi_b & 0xFFFF == 0x1010
    # back in A along the back link; B saved in the 286 format, NT cleared in its FLAGS
    assert cpu.tr_sel == 0x28 and cpu.ebp == 0xA0A0 and cpu.esi == 0x55AA55AA
    assert tss(cpu, TSS_B, 0, 2) == 0x28
    ip, flags = struct.unpack("<HH", cpu.mem.read(TSS_B + 0x0E, 4))
    assert cpu.mem.read(ip - 1, 1) == b"\xcf" and not flags & NT       # just after the iretl
    ax, cx, dx, bx_, sp, bp, si, di = struct.unpack("<8H", cpu.mem.read(TSS_B + 0x12, 16))
    assert (bp, si, di) == (0x1111, 0x1357, 0x2468) and sp == 0xF000 - 4
    assert (ax, bx_) == (0x0B0B, 0x40)
    assert struct.unpack("<4H", cpu.mem.read(TSS_B + 0x22, 8)) == (0x10, 0x08, 0x10, 0x10)
    assert cpu.mem.read(TSS_B + 0x2C, 0x68 - 0x2C) == b"\xee" * (0x68 - 0x2C)
    # IRET cleared B's busy bit (a 286 TSS: type 3 -> 1); A is busy again
    assert access(cpu, 0x40) == 0x81 and access(cpu, 0x28) == 0x8B


def test_a_jump_from_a_386_task_to_a_286_tss_and_on_to_a_386_one_saves_each_in_its_format():
    cpu = tss286_machine("ljmp $0x40, $0\n", "movw $0x7777, %cx\nljmp $0x28, $0\n")
    # A is busy (it is the running task): make the jump back legal by marking it available
    cpu.mem.write(0x500 + 0x28, gdt_entry(TSS_A, 0x67, 0x89, 0))
    assert cpu.run(max_insns=2000) == "hlt"
    # B (286) saved: CX word and its IP; A (386) got back in: TR, busy bits
    assert struct.unpack("<H", cpu.mem.read(TSS_B + 0x14, 2))[0] == 0x7777
    assert cpu.tr_sel == 0x28 and access(cpu, 0x28) == 0x8B and access(cpu, 0x40) == 0x81
    assert cpu.eax == 0xA0A0 and tss(cpu, TSS_B, 0, 2) == 0


def test_a_286_tss_below_its_minimum_limit_raises_ts():
    cpu = tss286_machine("ljmp $0x40, $0\n", "hlt", limit=0x2A)
    cpu.mem.write(0x10000 + 10 * 8, gate(0x7C00 + 0x600))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.recent_exceptions[-1][:2] == (10, 0x40) and cpu.tr_sel == 0x28


# ---- 286 call gate and interrupt gate returns ------------------------------------------
TO_RING3_LOW = """
lidtl idtr_ptr
lgdtl gdt_big
movw $0x28, %ax
ltr %ax
pushl $0x23
pushl $0xF000
pushfl
pushl $0x1B
pushl $ring3
iretl
"""


def ring3_low_stack(body):
    """Ring 3 with SS:ESP = 0x23:0xF000, ring-0 stack 0x10:0x80000."""
    cpu = protected(TO_RING3_LOW + body + IDT + GP_HANDLER)
    cpu.mem.write(0x500 + 0x28, gdt_entry(0x1000, 0x67, 0x89, 0))
    cpu.mem.write(0x1000 + 4, struct.pack("<II", 0x80000, 0x10))
    cpu.mem.write(0x10000 + 13 * 8, gate(0x7C00 + 0x600))
    return cpu


def test_retf_n_through_a_286_call_gate_pops_words_and_releases_both_stacks():
    cpu = ring3_low_stack("""
ring3:
pushw $0x3333
pushw $0x4444
lcall $0x43, $0
after:
movl %esp, %esi
movl %cs, %ecx
movl %ds, %edx
movl %ss, %ebx
hlt                      # ring 3: #GP(0) to the ring-0 handler
.org 0x400
inner:
movl %esp, %ebp
movw $0x10, %ax
movw %ax, %ds            # DPL 0: nulled by the return to ring 3
movw %ax, %es
movl %esp, %esi
movl $0x2000, %edi
movl $6, %ecx
rep movsw
lretw $4
""")
    cpu.mem.write(0x500 + 0x40, call_gate(0x7C00 + 0x400, 0x08, 0xE4, 2))
    assert cpu.run(max_insns=2000) == "hlt"
    ip, cs, p0, p1, sp3, ss3 = struct.unpack("<6H", cpu.mem.read(0x2000, 12))
    assert (cs, p0, p1, sp3, ss3) == (0x1B, 0x4444, 0x3333, 0xF000 - 4, 0x23)
    assert cpu.ebp == 0x80000 - 12
    # back at `after`: 16-bit pops of IP, CS; 4 bytes released inside and out; SP from the stack
    assert cpu.esi == 0xF000 and cpu.ecx & 0xFFFF == 0x1B and cpu.ebx & 0xFFFF == 0x23
    assert cpu.edx & 0xFFFF == 0 and cpu.edi == 0 and cpu.cpl == 0


def test_a_286_interrupt_gate_pushes_a_word_frame_and_iretw_returns_to_ring3():
    cpu = ring3_low_stack("""
ring3:
int $0x32
after:
movl %esp, %esi
movl %cs, %edx
hlt                      # #GP(0) through the 286 gate at vector 13 below
.org 0x400
handler32:
movl (%esp), %eax        # IP, CS
movl 4(%esp), %ebx       # FLAGS, SP
movw 8(%esp), %cx        # SS
movl %esp, %ebp
iretw
.org 0x500
gp286:
movl %esp, %edi
hlt
""")
    # offset bits 16-31 of a 286 gate are ignored: 0xABCD is never used
    cpu.mem.write(0x10000 + 0x32 * 8, gate(0xABCD0000 | (0x7C00 + 0x400), kind=0xE6))
    cpu.mem.write(0x10000 + 13 * 8, gate(0xABCD0000 | (0x7C00 + 0x500), kind=0x86))
    cpu.regs[1] = 0
    assert cpu.run(max_insns=2000) == "hlt"
    ip, cs = cpu.eax & 0xFFFF, cpu.eax >> 16
    flags, sp = cpu.ebx & 0xFFFF, cpu.ebx >> 16
    assert (cs, sp, cpu.ecx & 0xFFFF) == (0x1B, 0xF000, 0x23) and flags & 2
    assert cpu.ebp == 0x80000 - 10
    assert cpu.esi == 0xF000 and cpu.edx & 0xFFFF == 0x1B          # iretw: ESP from the popped SP
    # the #GP from ring 3's hlt through the 286 gate: error code, IP, CS, FLAGS, SP, SS as words
    assert cpu.edi == 0x80000 - 12 and cpu.eip == 0x7C00 + 0x500 + 3
    code, gp_ip, gp_cs, _, gp_sp, gp_ss = struct.unpack("<6H", cpu.mem.read(cpu.edi, 12))
    assert (code, gp_cs, gp_sp, gp_ss) == (0, 0x1B, 0xF000, 0x23)
    assert cpu.mem.read(gp_ip, 1) == b"\xf4" and gp_ip == ip + 4
