"""A far transfer's target offset against the new code segment's limit, and
RETF's conforming-segment rule (SDM vol. 2 JMP, CALL, RET, IRET, INT n
pseudo-code: "IF tempEIP not within code segment limit THEN #GP(0)";
RET: a conforming return segment's DPL must not exceed the selector's
RPL).  The transfer itself faults: the pushed CS:EIP is the transferring
instruction's, the stack is as it was, CS is unchanged."""
import struct

from tests.cpu.bare import gate, gdt_entry, protected
from tests.cpu.test_call_gates import call_gate

IDT = "\nidtr_ptr: .word 0x7ff\n.long 0x10000\ngdt_big: .word 0xff\n.long 0x500\n"
HANDLER = "\n.org 0x300\nhandler:\npopl %edi\nhlt\n"
SHORT_CODE = 0x38        # code, base 0, byte limit 0x7FFF: offsets 0x8000 and up are outside


def machine(body):
    cpu = protected("lidtl idtr_ptr\nlgdtl gdt_big\nmovl %esp, %ebp\n" + body + "\nhlt\n" + IDT + HANDLER)
    cpu.mem.write(0x500 + SHORT_CODE, gdt_entry(0, 0x7FFF, 0x9A, 0x4)
                  + gdt_entry(0, 0xFFFFF, 0xFE)                                    # 0x40 conforming, DPL 3
                  + call_gate(0x8000, SHORT_CODE, 0x8C, 0))                        # 0x48 gate past the limit
    for vector in (11, 13):
        cpu.mem.write(0x10000 + vector * 8, gate(0x7C00 + 0x300))
    cpu.mem.write(0x10000 + 0x30 * 8, gate(0x8000, SHORT_CODE, 0x8E))             # handler past the limit
    return cpu


def faulted_at_label(cpu, code=0):
    """#GP(code) raised by the instruction at `at` (its address in ESI), the
    stack back where it was (EBP) under the exception frame."""
    eip, cs = struct.unpack("<II", cpu.mem.read(cpu.esp, 8))
    return (cpu.recent_exceptions[-1][:2] == (13, code) and cpu.edi == code and eip == cpu.esi
            and cs == 0x08 and cpu.esp + 12 == cpu.ebp)


def test_far_jmp_and_call_past_the_target_limit_fault_at_the_instruction():
    for insn in ("ljmp $0x38, $0x8000", "lcall $0x38, $0x8000", "ljmp $0x48, $0", "lcall $0x48, $0"):
        cpu = machine(f"movl $at, %esi\nat: {insn}")
        assert cpu.run(max_insns=1000) == "hlt", insn
        assert faulted_at_label(cpu), insn


def test_a_far_jmp_to_the_last_byte_inside_the_limit_is_taken():
    cpu = machine("ljmp $0x38, $inside\n.org 0x200\ninside:\nmovl %cs, %ebx\nhlt")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == SHORT_CODE and not cpu.recent_exceptions


def test_retf_and_iret_past_the_target_limit_fault_at_the_instruction():
    for text in ("pushl $0x38\npushl $0x8000\nmovl %esp, %ebp\nmovl $at, %esi\nat: lret",
                 "pushfl\npushl $0x38\npushl $0x8000\nmovl %esp, %ebp\nmovl $at, %esi\nat: iretl"):
        cpu = machine(text)
        assert cpu.run(max_insns=1000) == "hlt", text
        assert faulted_at_label(cpu), text


def test_int_through_a_gate_whose_offset_is_past_the_limit_raises_gp0():
    cpu = machine("movl $at, %esi\nat: int $0x30")
    assert cpu.run(max_insns=1000) == "hlt"
    assert faulted_at_label(cpu)


def test_retf_to_a_conforming_segment_above_the_selector_rpl_raises_gp_with_it():
    cpu = machine("pushl $0x40\npushl $back\nmovl %esp, %ebp\nmovl $at, %esi\nat: lret\nback:\nmovl $0xBAD, %ebx")
    assert cpu.run(max_insns=1000) == "hlt"
    assert faulted_at_label(cpu, 0x40) and cpu.ebx != 0xBAD
