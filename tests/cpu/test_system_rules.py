"""The 386's remaining system-level rules, from the Intel SDM's pseudo-code:
AAA/AAS on the whole of AX, the page-directory Accessed bit, segment-type
access rights (read-only data, code, execute-only), the LOCK prefix, and
ARPL, BOUND, VERR/VERW, LAR/LSL."""
import struct

from tests.cpu.bare import boot_sector, gate, gdt_entry, protected
from tests.cpu.test_paging import A, P, PD, PT, RW, US, paged, pde

IDTR = "\nidtr_ptr: .word 0x7ff\n.long 0x10000\n"
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
