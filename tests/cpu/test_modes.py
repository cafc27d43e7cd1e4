"""Real mode, the switch to protected mode, interrupts in both modes."""
from tests.cpu.bare import boot_sector, gate, protected


def test_real_mode_data_segment_bases_apply_to_loads_and_stores():
    cpu = boot_sector("""
mov $0x1000, %ax
mov %ax, %ds
mov $0x2000, %ax
mov %ax, %es
jmp 1f
1: movw $0x1234, 0x10
movb $0x4b, %es:320
mov 0x20, %bx
hlt""")
    cpu.mem.write(0x10020, b"\x78\x56")
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.mem.read(0x10010, 2) == b"\x34\x12"
    assert cpu.mem.read(0x20140, 1) == b"\x4b"
    assert cpu.mem.read(0x10, 2) == b"\x00\x00"
    assert cpu.ebx & 0xFFFF == 0x5678


def test_real_mode_int_and_iret_through_the_ivt():
    cpu = boot_sector("""
movw $handler, 0x80
movw $0, 0x82
movw $5, %bx
int $0x20
movw %bx, %cx
hlt
handler:
addw $10, %bx
iret""")
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.ecx & 0xFFFF == 15


def test_switch_to_protected_mode_and_run_32bit_code():
    cpu = protected("""
movl $0x12345678, %eax
movl %eax, 0x100000
movl 0x100000, %ebx
hlt""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 0x12345678
    assert cpu.cr[0] & 1
    assert cpu.get_seg(1) == 0x08 and cpu.code32


def test_protected_mode_int_and_iret_through_the_idt():
    cpu = protected("""
lidtl idtr_ptr
movl $7, %ebx
int $0x30
movl %ebx, %ecx
hlt
idtr_ptr: .word 0x7ff
.long 0x10000
""" + "\n.org 0x200\nhandler: addl $100, %ebx\niretl\n")
    cpu.mem.write(0x10000 + 0x30 * 8, gate(0x7C00 + 0x200))
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ecx == 107


def test_rdtsc_counts_cycles():
    cpu = protected("rdtsc\nmovl %eax, %esi\nnop\nnop\nrdtsc\nsubl %esi, %eax\nhlt")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.eax == 4        # timing "off": one cycle per instruction


def test_instruction_limit_is_exact_even_for_a_self_loop():
    cpu = boot_sector("1: jmp 1b")
    assert cpu.run(max_insns=5000) == "insn-limit"
    assert cpu.insns == 5000
    assert cpu.run(max_insns=1) == "insn-limit"
    assert cpu.insns == 5001


def test_trap_flag_single_steps_with_a_debug_trap_after_each_instruction():
    cpu = boot_sector("""
movw $handler, 0x04
movw $0, 0x06
pushfw
popw %ax
orw $0x100, %ax
pushw %ax
popfw
nop
nop
nop
pushfw
popw %ax
andw $0xfeff, %ax
pushw %ax
popfw
hlt
handler:
incw 0x600
iret""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.mem.read(0x600, 2) == (8).to_bytes(2, "little")
