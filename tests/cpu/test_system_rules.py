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


# ---- ARPL, BOUND, VERR/VERW, LAR/LSL --------------------------------------------------
def flags_zf(reg_value):
    return bool(reg_value & 0x40)


def test_arpl_raises_the_rpl_and_sets_zf_and_writes_nothing_otherwise():
    cpu = typed("""
movw $0x0010, %ax
movw $0x0023, %bx
arpl %bx, %ax          # 0 < 3: AX.RPL <- 3, ZF=1
pushf
popl %ecx
movw $0x002B, 0x600
arpl %bx, 0x600        # 3 == 3: ZF=0, no write
pushf
popl %edx""")
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.eax & 0xFFFF == 0x0013 and flags_zf(cpu.ecx)
    assert not flags_zf(cpu.edx) and cpu.mem.read(0x600, 2) == b"\x2b\x00"


def test_arpl_is_undefined_in_real_mode():
    cpu = boot_sector("movw $0x4000, %sp\nmovw $0, 0x18\nmovw $h, 0x18\narpl %bx, %ax\nmovw $1, %dx\nhlt\nh: movw $6, %dx\nhlt")
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.edx & 0xFFFF == 6


def test_bound_inside_passes_and_outside_raises_br_at_the_instruction():
    cpu = typed("""
movl $-5, 0x600
movl $10, 0x604
movl $-5, %eax
bound %eax, 0x600
movl $10, %eax
bound %eax, 0x600
movl $1, %ebx
movl $11, %eax
movl $br, %esi
br: bound %eax, 0x600
movl $0xBAD, %ebx""")
    cpu.mem.write(0x10000 + 5 * 8, gate(0x7C00 + 0x380))
    cpu.mem.write(0x7C00 + 0x380, b"\x5f\xf4")     # popl %edi (the return EIP: no error code); hlt
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 1 and last_vector(cpu) == 5 and cpu.edi == cpu.esi


def test_verr_and_verw_report_readability_and_writability():
    # 0x10 data rw, 0x38 read-only data, 0x40 execute-only code, 0x48 readable code, 0x18 ring-3 code
    body = "xorl %esi, %esi\n"
    for n, (op, sel) in enumerate([("verr", 0x10), ("verw", 0x10), ("verr", 0x38), ("verw", 0x38),
                                   ("verr", 0x40), ("verr", 0x48), ("verw", 0x48), ("verr", 0x00),
                                   ("verr", 0x1F8), ("verw", 0x20)]):
        body += f"movw ${sel}, %ax\n{op} %ax\njnz 1f\norl ${1 << n}, %esi\n1:\n"
    cpu = typed(body)
    assert cpu.run(max_insns=2000) == "hlt"
    assert not cpu.recent_exceptions
    # readable: 0x10, 0x38, 0x48; writable: 0x10 and ring-3 data 0x20 (DPL 3 >= CPL 0);
    # not: execute-only code, null, past the GDT limit, writes to code or read-only data
    assert cpu.esi == 1 << 0 | 1 << 1 | 1 << 2 | 1 << 5 | 1 << 9


def test_lar_and_lsl_return_rights_and_byte_limits():
    cpu = typed("""
movl $0x28, %eax
movl $0xFFFFFFFF, %ebx
larl %eax, %ebx
pushf
popl %ecx
movl $0x38, %eax
larl %eax, %edx
lsll %eax, %esi
movl $0x58, %eax
lsll %eax, %edi
movl $0xAAAA, %ebp
lsll %eax, %ebp      # an interrupt gate at 0x60 would be refused; 0x58 is a small segment
movl $0x60, %eax
movl $0x7777, %ebp
lsll %eax, %ebp
pushf
popl %eax""")
    cpu.mem.write(0x500 + 0x28, gdt_entry(0x1000, 0x67, 0x89, 0))       # 386 TSS, byte limit
    cpu.mem.write(0x500 + 0x58, gdt_entry(0, 0x123, 0x92, 0x4))         # byte-granular data
    cpu.mem.write(0x500 + 0x60, gate(0, kind=0x8E))                       # interrupt gate: no limit
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 0x00008900 and flags_zf(cpu.ecx)
    assert cpu.edx == 0x00CF9000 and cpu.esi == 0xFFFFFFFF
    assert cpu.edi == 0x123 and cpu.ebp == 0x7777 and not flags_zf(cpu.eax)
