"""Segment-type write protection for the stores that do not go through an
ordinary memory operand (SDM vol. 3, 5.7; the instruction pages' "#GP(0) If
the destination is located in a non-writable segment"): bit tests with a
register bit offset (BTS/BTR/BTC reach memory beyond the operand), POP to
an ESP-relative destination, and string stores (MOVS, STOS, non-rep and
rep).  Each raises #GP(0) through a read-only data segment or a code
segment, writes nothing, and leaves the registers and flags the
instruction would have changed as they were."""
import struct

from tests.cpu.test_system_rules import last_vector, typed

# GDT (typed()): 0x38 read-only data, 0x40 execute-only code, 0x48 readable code


def faulted_at(cpu, label_eip):
    """The #GP(0) reached the handler (its error code in EDI) with the
    faulting instruction's EIP pushed."""
    eip = struct.unpack("<I", cpu.mem.read(cpu.esp, 4))[0]
    return last_vector(cpu) == 13 and cpu.edi == 0 and eip == label_eip


def test_bit_test_and_modify_with_a_register_offset_faults_on_a_read_only_segment():
    for op in ("bts", "btr", "btc"):
        cpu = typed(f"""
movl $0xF0F0F0F0, 0x604
movw $0x38, %ax
movw %ax, %es
movl $35, %ecx          # bit 3 of the dword at 0x604
stc
movl $at, %esi
at: {op}l %ecx, %es:0x600
movl $0xBAD, %ebx""")
        assert cpu.run(max_insns=1000) == "hlt", op
        assert faulted_at(cpu, cpu.esi), op
        assert cpu.ebx != 0xBAD and cpu.mem.read(0x604, 4) == b"\xf0\xf0\xf0\xf0", op
        flags = struct.unpack("<I", cpu.mem.read(cpu.esp + 8, 4))[0]
        assert flags & 1, op                   # CF as before the instruction (the stc)


def test_bit_test_with_a_register_offset_reads_a_read_only_segment():
    cpu = typed("""
movl $0x00000008, 0x604
movw $0x38, %ax
movw %ax, %es
movl $35, %ecx
clc
btl %ecx, %es:0x600
setc %bl
movl $-29, %ecx         # negative offset: bit 3 of the dword at 0x600 - 4
btl %ecx, %es:0x604
setc %bh""")
    cpu.mem.write(0x600, struct.pack("<I", 0))
    cpu.regs[3] = 0
    assert cpu.run(max_insns=1000) == "hlt"
    assert not cpu.recent_exceptions[:-1] and cpu.ebx & 0xFFFF == 0x0001


def test_bit_test_and_set_with_a_register_offset_through_a_code_segment_faults():
    cpu = typed("""
movl $0, 0x608
movw $0x48, %ax
movw %ax, %ds           # readable code: reads work, writes do not
movl $64, %ecx
movl $at, %esi
at: btsl %ecx, 0x600
movl $0xBAD, %ebx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert faulted_at(cpu, cpu.esi) and cpu.mem.read(0x608, 4) == bytes(4)


def test_bit_test_with_a_register_offset_through_an_execute_only_segment_faults():
    cpu = typed("""
ljmpl $0x40, $xo
xo:
movl $33, %ecx
movl $at, %esi
at: btl %ecx, %cs:0x600
movl $0xBAD, %ebx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert faulted_at(cpu, cpu.esi) and cpu.ebx != 0xBAD


def test_pop_to_an_esp_relative_destination_in_a_read_only_segment_faults():
    cpu = typed("""
movw $0x38, %ax
movw %ax, %es
pushl $0x1234
pushl $0x5678
movl %esp, %ebp
movl $at, %esi
at: popl %es:4(%esp)
movl $0xBAD, %ebx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert faulted_at(cpu, cpu.esi)
    # the handler's frame (EIP, CS, EFLAGS, error code popped) sits below the two
    # values: ESP was not changed by the faulting pop
    assert cpu.esp + 12 == cpu.ebp
    assert struct.unpack("<II", cpu.mem.read(cpu.ebp, 8)) == (0x5678, 0x1234)


def test_string_stores_through_a_read_only_es_fault_before_anything_changes():
    for insn in ("stosl", "movsb", "rep movsl", "movsw"):
        cpu = typed(f"""
movl $0x11111111, 0x700
movw $0x38, %ax
movw %ax, %es
movl $0x800, %esi
movl $0x700, %edi
movl $2, %ecx
movl $0xAB, %eax
movl $at, %ebp
at: {insn}""")
        cpu.mem.write(0x800, b"\x99" * 8)
        assert cpu.run(max_insns=1000) == "hlt", insn
        assert faulted_at(cpu, cpu.ebp), insn
        assert cpu.mem.read(0x700, 4) == b"\x11" * 4, insn
        assert (cpu.esi, cpu.ecx) == (0x800, 2), insn       # EDI is the handler's error code


def test_a_string_store_through_a_writable_es_with_a_read_only_ds_source_works():
    cpu = typed("""
movw $0x38, %ax
movw %ax, %ds            # the source may be read-only: only ES is written
movl $0x800, %esi
movl $0x700, %edi
movl $2, %ecx
cld
rep movsl
movl $0x600D, %ebx""")
    cpu.mem.write(0x800, b"\x5a" * 8)
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 0x600D and cpu.mem.read(0x700, 8) == b"\x5a" * 8
