"""The 386's remaining system-level rules, from the Intel SDM's pseudo-code:
AAA/AAS on the whole of AX, the page-directory Accessed bit, segment-type
access rights (read-only data, code, execute-only), the LOCK prefix, and
ARPL, BOUND, VERR/VERW, LAR/LSL."""
import struct

from tests.cpu.bare import boot_sector, gate, gdt_entry, protected
from tests.cpu.test_paging import A, P, PD, PT, RW, US, paged, pde

IDTR = "\nidtr_ptr: .word 0x7ff\n.long 0x10000\n"
GDT_BIG = "\ngdt_big: .word 0xff\n.long 0x500\n"
# a handler at 0x7C00+0x300 that pops the error code into EDI and stops
HANDLER = "\n.org 0x300\nhandler:\npopl %edi\nhlt\n"
NOCODE_HANDLER = "\n.org 0x380\nhandler2:\nmovl $0xEE, %edi\nhlt\n"


def with_handler(cpu, vector, offset=0x7C00 + 0x300):
    cpu.mem.write(0x10000 + vector * 8, gate(offset))


def last_vector(cpu):
    return cpu.recent_exceptions[-1][0]


# ---- AAA / AAS -----------------------------------------------------------------
def test_aas_borrows_from_the_whole_of_ax():
    # SDM: AX <- AX - 6; AH <- AH - 1; AL <- AL AND 0FH.  AX=0x0100, AF=1
    cpu = boot_sector("""
movw $0x0100, %ax
movb $0x08, %bl
subb $0x09, %bl     # sets AF (borrow from bit 4)
movw $0x0100, %ax
aas
pushf
popw %dx
hlt""")
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.eax & 0xFFFF == 0xFF0A
    assert cpu.edx & 0x11 == 0x11          # CF and AF set


def test_aaa_carries_into_the_whole_of_ax():
    cpu = boot_sector("""
movw $0x00FA, %ax
aaa
pushf
popw %dx
movw %ax, %bx
movw $0x01FF, %ax
aaa                 # AF still 1 from the first: AX + 0x106 carries into AH
hlt""")
    assert cpu.run(max_insns=100) == "hlt"
    # AL=0xFA (low nibble > 9): AX + 0x106 = 0x0200, AL AND 0FH
    assert cpu.ebx & 0xFFFF == 0x0200
    assert cpu.edx & 0x11 == 0x11
    assert cpu.eax & 0xFFFF == 0x0305


# ---- paging ---------------------------------------------------------------------
def _walk_fault_leaves_pde_unaccessed(pte_value):
    cpu = paged("movl $0x1234, 0x400000\n")
    # a second page table for 4-8 MiB whose entry faults
    pt2 = 0x202000
    cpu.mem.write(PD + 4, struct.pack("<I", pt2 | P | RW | US))
    cpu.mem.write(pt2, struct.pack("<I", pte_value))
    assert cpu.run(max_insns=1000) == "hlt"
    assert last_vector(cpu) == 14
    return cpu


def test_pde_accessed_bit_stays_clear_when_the_pte_is_not_present():
    cpu = _walk_fault_leaves_pde_unaccessed(0x400000)      # not present
    assert cpu.edi == 2 and cpu.esi == 0x400000            # write, not present, supervisor
    assert not pde(cpu, 1) & A
    assert pde(cpu, 0) & A                                 # the code's walk succeeded


def test_pde_accessed_bit_stays_clear_when_the_pte_forbids_the_access():
    cpu = paged("movl %cr0, %eax\norl $0x10000, %eax\nmovl %eax, %cr0\nmovl $0x1234, 0x400000\n")
    pt2 = 0x202000
    cpu.mem.write(PD + 4, struct.pack("<I", pt2 | P | RW | US))
    cpu.mem.write(pt2, struct.pack("<I", 0x400000 | P | US))   # read-only, CR0.WP=1
    assert cpu.run(max_insns=1000) == "hlt"
    assert last_vector(cpu) == 14 and cpu.edi == 3
    assert not pde(cpu, 1) & A
    assert not struct.unpack("<I", cpu.mem.read(pt2, 4))[0] & A


def test_pde_accessed_bit_is_set_when_the_walk_succeeds():
    cpu = paged("movl 0x400000, %eax\n")
    pt2 = 0x202000
    cpu.mem.write(PD + 4, struct.pack("<I", pt2 | P | RW | US))
    cpu.mem.write(pt2, struct.pack("<I", 0x400000 | P | RW | US))
    assert cpu.run(max_insns=1000) == "hlt"
    assert pde(cpu, 1) & A


# ---- segment types ------------------------------------------------------------------
# GDT 0x38: read-only data, 0x40: execute-only code, 0x48: readable code
def typed(body):
    cpu = protected("lidtl idtr_ptr\nlgdtl gdt_big\n" + body + "\nhlt\n" + IDTR + GDT_BIG + HANDLER)
    cpu.mem.write(0x500 + 0x38, gdt_entry(0, 0xFFFFF, 0x90) + gdt_entry(0, 0xFFFFF, 0x98)
                  + gdt_entry(0, 0xFFFFF, 0x9A))
    cpu.mem.write(0x503F, bytes([0x3F]))
    for vector in (12, 13):
        with_handler(cpu, vector)
    return cpu


def test_read_only_data_segment_reads_but_a_write_raises_gp0():
    cpu = typed("""
movl $0x11223344, 0x600
movw $0x38, %ax
movw %ax, %es
movl %es:0x600, %ebx
movl $0x55, %ecx
movl %ecx, %es:0x600
movl $0xBAD, %ebx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 0x11223344 and last_vector(cpu) == 13 and cpu.edi == 0
    assert cpu.mem.read(0x600, 4) == b"\x44\x33\x22\x11"


def test_read_only_data_segment_refuses_string_stores():
    cpu = typed("""
movw $0x38, %ax
movw %ax, %es
movl $0x700, %edi
movl $4, %ecx
movl $0xAB, %eax
rep stosb""")
    cpu.mem.write(0x700, b"\x01\x02\x03\x04")
    assert cpu.run(max_insns=1000) == "hlt"
    assert last_vector(cpu) == 13 and cpu.edi == 0
    assert cpu.mem.read(0x700, 4) == b"\x01\x02\x03\x04"


def test_readable_code_segment_in_ds_reads_but_writes_raise_gp0():
    cpu = typed("""
movl $0x5A5A, 0x600
movw $0x48, %ax
movw %ax, %ds
movl 0x600, %ebx
incl 0x600
movl $0xBAD, %ebx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 0x5A5A and last_vector(cpu) == 13 and cpu.edi == 0
    assert cpu.mem.read(0x600, 2) == b"\x5a\x5a"


def test_a_write_through_cs_raises_gp0():
    cpu = typed("""
movl $7, %cs:0x600
movl $0xBAD, %ebx""")
    cpu.regs[3] = 0
    assert cpu.run(max_insns=1000) == "hlt"
    assert last_vector(cpu) == 13 and cpu.edi == 0 and cpu.ebx == 0


def test_execute_only_code_runs_but_a_read_through_it_raises_gp0():
    cpu = typed("""
ljmpl $0x40, $xo
xo:
movl $1, %ebx
movl $bad, %esi
bad: movl %cs:0x600, %eax
movl $0xBAD, %ebx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 1 and last_vector(cpu) == 13 and cpu.edi == 0
    eip, cs = struct.unpack("<II", cpu.mem.read(cpu.esp, 8))
    assert cs == 0x40 and eip == cpu.esi          # the faulting read's CS:EIP


def test_an_execute_only_segment_cannot_be_loaded_into_ds():
    cpu = typed("movw $0x40, %ax\nmovw %ax, %ds")
    assert cpu.run(max_insns=1000) == "hlt"
    assert last_vector(cpu) == 13 and cpu.edi == 0x40


# ---- LOCK ----------------------------------------------------------------------------
def test_lock_on_a_memory_update_is_allowed():
    cpu = typed("movl $5, 0x600\nlock incl 0x600\nmovl $3, %eax\nlock xaddl %eax, 0x600\nmovl 0x600, %ebx")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 9 and cpu.eax == 6 and not cpu.recent_exceptions


def test_lock_on_a_register_destination_or_other_instruction_raises_ud():
    for text in (".byte 0xf0\nincl %eax", ".byte 0xf0\nmovl %eax, 0x600", ".byte 0xf0\ncmpl %eax, 0x600",
                 ".byte 0xf0\nnop"):
        cpu = typed("movl $1, %ebx\n" + text + "\nmovl $2, %ebx")
        cpu.mem.write(0x10000 + 6 * 8, gate(0x7C00 + 0x380))
        cpu.mem.write(0x7C00 + 0x380, bytes([0xB8 + 7]) + (0xEE).to_bytes(4, "little") + b"\xf4")
        assert cpu.run(max_insns=1000) == "hlt", text
        assert cpu.ebx == 1 and cpu.edi == 0xEE and last_vector(cpu) == 6, text
