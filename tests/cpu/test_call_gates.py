"""Far CALL/JMP through 386 and 286 call gates, the inner stack switch with
parameter copy, and RETF back out with DS/ES/FS/GS re-validated (SDM vol. 2,
CALL, JMP and RET pseudo-code)."""
import struct

from tests.cpu.bare import gate, gdt_entry, protected

TSS = 0x1000
IDT = "\nidtr_ptr: .word 0x7ff\n.long 0x10000\ngdt_big: .word 0xff\n.long 0x500\n"
# ring 0 sets up the TSS (SS0:ESP0 = 0x10:0x80000) and irets to ring 3 at `ring3`
TO_RING3 = """
lidtl idtr_ptr
lgdtl gdt_big
movw $0x28, %ax
ltr %ax
pushl $0x23
pushl $0x70000
pushfl
pushl $0x1B
pushl $ring3
iretl
"""
# a #GP handler (ring 0): error code to EDI, stop
GP_HANDLER = "\n.org 0x600\ngp:\npopl %edi\nhlt\n"


def call_gate(offset, selector, kind, count):
    return (int.from_bytes(gate(offset, selector, kind), "little") | count << 32).to_bytes(8, "little")


def ring3_machine(body):
    cpu = protected(TO_RING3 + body + IDT + GP_HANDLER)
    cpu.mem.write(0x500 + 0x28, gdt_entry(TSS, 0x67, 0x89, 0))
    cpu.mem.write(TSS + 4, struct.pack("<II", 0x80000, 0x10))
    cpu.mem.write(0x10000 + 13 * 8, gate(0x7C00 + 0x600))
    return cpu


def words(cpu, addr, n, size=4):
    return list(struct.unpack(f"<{n}{'I' if size == 4 else 'H'}", cpu.mem.read(addr, n * size)))


def test_call_through_a_386_gate_switches_to_the_inner_stack_and_copies_dwords():
    cpu = ring3_machine("""
ring3:
pushl $0x1111
pushl $0x2222
movw $0x23, %ax
movw %ax, %fs            # DPL 3: kept
lcall $0x43, $0
after:
movl %esp, %esi
movl %cs, %ecx
movl %ds, %edx
movl %es, %eax
shll $16, %eax
movw %fs, %ax
hlt                      # ring 3: #GP(0) to the handler
.org 0x400
inner:
movl %esp, %ebp
movl %cs, %ebx
movw $0x10, %ax
movw %ax, %ds            # DPL-0 data segments: nulled on the way out
movw %ax, %es
movl %esp, %esi          # keep the frame: the final #GP reuses this stack
movl $0x2000, %edi
movl $6, %ecx
rep movsl
lret $8
""")
    cpu.mem.write(0x500 + 0x40, call_gate(0x7C00 + 0x400, 0x08, 0xEC, 2))
    assert cpu.run(max_insns=2000) == "hlt"
    ebp = cpu.ebp
    assert ebp == 0x80000 - 24 and cpu.ebx == 0x08
    eip, cs, p0, p1, esp3, ss3 = words(cpu, 0x2000, 6)
    assert (cs, p0, p1, esp3, ss3) == (0x1B, 0x2222, 0x1111, 0x70000 - 8, 0x23)
    assert 0x7C00 < eip < 0x7C00 + 0x400
    # back in ring 3: parameters released, CS RPL 3, DS nulled
    assert cpu.esi == 0x70000 and cpu.ecx & 0xFFFF == 0x1B and cpu.edx & 0xFFFF == 0
    assert cpu.eax == 0x23                       # ES nulled, FS kept
    assert cpu.edi == 0 and cpu.cpl == 0        # the hlt's #GP(0) reached the ring-0 handler


def test_call_through_a_286_gate_pushes_words_and_uses_the_low_16_offset_bits():
    cpu = ring3_machine("""
ring3:
pushw $0x3333
pushw $0x4444
pushw $0x5555
lcall $0x43, $0
hlt
.org 0x400
inner:
movl %esp, %ebp
hlt
""")
    # offset 0xABCD7C00+0x400: a 286 gate keeps only 0x8000
    cpu.mem.write(0x500 + 0x40, call_gate(0xABCD0000 | (0x7C00 + 0x400), 0x08, 0xE4, 3))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.eip == 0x7C00 + 0x400 + 3          # after the movl; hlt at CPL 0
    ip, cs, p0, p1, p2, sp3, ss3 = words(cpu, cpu.ebp, 7, size=2)
    assert (cs, p0, p1, p2, sp3, ss3) == (0x1B, 0x5555, 0x4444, 0x3333, (0x70000 - 6) & 0xFFFF, 0x23)
    assert cpu.ebp == 0x80000 - 14


def test_a_gate_whose_dpl_is_below_cpl_raises_gp_with_the_gate_selector():
    cpu = ring3_machine("ring3:\nlcall $0x43, $0\n")
    cpu.mem.write(0x500 + 0x40, call_gate(0x7C00 + 0x400, 0x08, 0x8C, 0))    # DPL 0
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.edi == 0x40


def test_jmp_through_a_gate_to_a_more_privileged_segment_raises_gp_with_the_code_selector():
    cpu = ring3_machine("ring3:\nljmp $0x43, $0\n")
    cpu.mem.write(0x500 + 0x40, call_gate(0x7C00 + 0x400, 0x08, 0xEC, 0))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.edi == 0x08


def test_jmp_and_call_through_a_gate_at_the_same_level():
    cpu = protected("""
lgdtl gdt_big
ljmp $0x40, $0
.org 0x200
target:
movl %cs, %ebx
movl $0x90000, %esp
lcall $0x48, $0
hlt
.org 0x300
target2:
movl %esp, %esi
hlt
""" + IDT)
    cpu.mem.write(0x500 + 0x40, call_gate(0x7C00 + 0x200, 0x08, 0x8C, 0)
                  + call_gate(0x7C00 + 0x300, 0x08, 0x84, 5))     # 286 gate, count ignored
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.ebx == 0x08 and cpu.esi == 0x90000 - 4
    assert words(cpu, cpu.esi, 2, size=2)[1] == 0x08
