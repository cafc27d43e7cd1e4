"""Hardware task switching (SDM vol. 3, 7.3): CALL/JMP to a TSS or through a
task gate, an exception through a task gate, IRET with NT=1; busy bits,
back link, NT, CR0.TS and TR after each switch."""
import struct

from tests.cpu.bare import gate, gdt_entry, protected

TSS_A, TSS_B = 0x1000, 0x1100
HEAD = """
lidtl idtr_ptr
lgdtl gdt_big
movw $0x28, %ax
ltr %ax
movl $0xA0A0, %eax
"""
TAIL = "\nidtr_ptr: .word 0x7ff\n.long 0x10000\ngdt_big: .word 0xff\n.long 0x500\n" \
       "\n.org 0x600\ngp:\npopl %edi\nhlt\n"
TASK_B = """
.org 0x400
task_b:
str %bx
pushfl
popl %ecx
movl %cr0, %edx
"""


def machine(body, task_b_tail="hlt"):
    cpu = protected(HEAD + body + "\nhlt\n" + TASK_B + task_b_tail + TAIL)
    cpu.mem.write(0x500 + 0x28, gdt_entry(TSS_A, 0x67, 0x89, 0) + bytes(8) + bytes(8)
                  + gdt_entry(TSS_B, 0x67, 0x89, 0) + gate(0, 0x40, 0x85))   # 0x40 TSS B, 0x48 task gate
    b = bytearray(0x68)
    struct.pack_into("<II", b, 0x20, 0x7C00 + 0x400, 0x2)                   # EIP, EFLAGS
    struct.pack_into("<8I", b, 0x28, 0xB0B, 0, 0, 0, 0x70000, 0, 0, 0)       # EAX .. EDI
    struct.pack_into("<6I", b, 0x48, 0x10, 0x08, 0x10, 0x10, 0x10, 0x10)     # ES CS SS DS FS GS
    cpu.mem.write(TSS_B, bytes(b))
    cpu.mem.write(0x10000 + 13 * 8, gate(0x7C00 + 0x600))
    return cpu


def access(cpu, sel):
    return cpu.mem.read(0x500 + sel + 5, 1)[0]


def tss(cpu, base, offset, size=4):
    return int.from_bytes(cpu.mem.read(base + offset, size), "little")


def test_call_to_a_tss_nests_the_task_and_iret_returns_along_the_back_link():
    cpu = machine("lcall $0x40, $0\nback:\nmovl %eax, %esi\nmovl %ebx, %ebp\npushfl\npopl %edi\n",
                  "movl %ebx, 0x2000\nmovl %ecx, 0x2004\nmovl %edx, 0x2008\nmovl %eax, 0x200c\niretl")
    cpu.regs[3] = 0
    assert cpu.run(max_insns=2000) == "hlt"
    bx, flags_b, cr0_b, eax_b = struct.unpack("<4I", cpu.mem.read(0x2000, 16))
    assert bx & 0xFFFF == 0x40 and flags_b & 0x4000 and cr0_b & 8 and eax_b == 0xB0B
    assert tss(cpu, TSS_B, 0, 2) == 0x28                         # back link
    assert cpu.tr_sel == 0x28 and access(cpu, 0x28) == 0x8B and access(cpu, 0x40) == 0x89
    assert cpu.esi == 0xA0A0 and not cpu.edi & 0x4000            # A's state back, NT clear
    assert tss(cpu, TSS_B, 0x24) & 0x4000 == 0                   # B saved with NT cleared
    assert tss(cpu, TSS_A, 0x20) > 0x7C00 and cpu.cr[0] & 8


def test_jmp_through_a_task_gate_moves_the_busy_bit_and_leaves_no_link():
    cpu = machine("ljmp $0x48, $0\n")
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.tr_sel == 0x40 and cpu.ebx & 0xFFFF == 0x40 and cpu.eax == 0xB0B
    assert access(cpu, 0x28) == 0x89 and access(cpu, 0x40) == 0x8B
    assert not cpu.ecx & 0x4000 and tss(cpu, TSS_B, 0, 2) == 0 and cpu.edx & 8
    assert tss(cpu, TSS_A, 0x28) == 0xA0A0                       # A's EAX saved


def test_an_exception_through_a_task_gate_pushes_its_error_code_on_the_new_task_stack():
    cpu = machine("fault: movl $1, %cs:0x600\n", "popl %edi\nhlt")
    cpu.mem.write(0x10000 + 13 * 8, gate(0, 0x40, 0x85))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.tr_sel == 0x40 and cpu.edi == 0 and cpu.esp == 0x70000
    assert cpu.ecx & 0x4000 and tss(cpu, TSS_B, 0, 2) == 0x28
    eip_a = tss(cpu, TSS_A, 0x20)
    assert cpu.mem.read(eip_a, 1) == b"\x2e"                    # the faulting instruction (cs: prefix)


def test_calling_a_busy_tss_raises_gp_with_its_selector():
    cpu = machine("lcall $0x28, $0\n")
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.edi == 0x28 and cpu.tr_sel == 0x28


def test_a_bad_code_selector_in_the_new_tss_raises_ts():
    cpu = machine("ljmp $0x40, $0\n")
    cpu.mem.write(TSS_B + 0x4C, struct.pack("<I", 0x10))          # CS = a data segment
    cpu.mem.write(0x10000 + 10 * 8, gate(0x7C00 + 0x600))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.recent_exceptions[-1][:2] == (10, 0x10) and cpu.edi == 0x10
