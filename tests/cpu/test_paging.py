"""Paging: A/D bits, 4 MiB pages, the TLB (stale until invlpg), #PF with CR2 and error code."""
import struct

from tests.cpu.bare import gate, protected

PD, PT = 0x200000, 0x201000
P, RW, US, A, D, PS = 1, 2, 4, 0x20, 0x40, 0x80

ENABLE_PAGING = """
lidtl idtr_ptr
movl $0x200000, %eax
movl %eax, %cr3
movl %cr4, %eax
orl $0x10, %eax
movl %eax, %cr4
movl %cr0, %eax
orl $0x80010000, %eax
movl %eax, %cr0
"""
TAIL = """
idtr_ptr: .word 0x7ff
.long 0x10000
.org 0x400
pf_handler:
popl %edi
movl %cr2, %esi
hlt
"""


def paged(body, ram=16 << 20):
    """Identity-map the low 4 MiB with 4 KiB pages (user, writable) and run `body`."""
    cpu = protected(ENABLE_PAGING + body + "\nhlt\n" + TAIL, ram=ram)
    mem = cpu.mem
    mem.write(PD, struct.pack("<I", PT | P | RW | US))
    mem.write(PT, b"".join(struct.pack("<I", (i << 12) | P | RW | US) for i in range(1024)))
    mem.write(0x10000 + 14 * 8, gate(0x7C00 + 0x400))
    return cpu


def pte(cpu, page):
    return struct.unpack("<I", cpu.mem.read(PT + 4 * page, 4))[0]


def pde(cpu, index):
    return struct.unpack("<I", cpu.mem.read(PD + 4 * index, 4))[0]


def test_accessed_and_dirty_bits_are_set_exactly_when_hardware_sets_them():
    cpu = paged("movl 0x150000, %eax\nmovl %eax, 0x160000")
    # clear A/D everywhere: the walker must set them on use only
    for page in range(512):
        cpu.mem.write(PT + 4 * page, struct.pack("<I", (page << 12) | P | RW | US))
    assert cpu.run(max_insns=1000) == "hlt"
    assert pde(cpu, 0) & A
    assert pte(cpu, 0x150) & (A | D) == A          # read: accessed, not dirty
    assert pte(cpu, 0x160) & (A | D) == A | D      # written: both
    assert pte(cpu, 0x170) & (A | D) == 0          # untouched
    assert pte(cpu, 0x7) & (A | D) == A            # the code page: fetched, never written


def test_4mib_pages_translate_and_get_dirty():
    cpu = paged("movl $0xCAFEF00D, 0x400123\nmovl 0x400123, %ebx")
    cpu.mem.write(PD + 4, struct.pack("<I", 0x800000 | P | RW | PS))
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.ebx == 0xCAFEF00D
    assert cpu.mem.read(0x800123, 4) == struct.pack("<I", 0xCAFEF00D)
    assert pde(cpu, 1) & (A | D) == A | D


def test_stale_tlb_entry_is_used_until_invlpg():
    body = """
movl 0x180000, %eax          # fills the TLB: page 0x180 -> 0x180000
movl $0x190007, 0x201600     # PTE 0x180 now points at 0x190000 (no flush)
movl 0x180000, %ebx          # stale entry: still the old page
invlpg 0x180000
movl 0x180000, %ecx          # now the new mapping
"""
    cpu = paged(body)
    cpu.mem.write(0x180000, struct.pack("<I", 0x11111111))
    cpu.mem.write(0x190000, struct.pack("<I", 0x22222222))
    assert cpu.run(max_insns=1000) == "hlt"
    assert (cpu.eax, cpu.ebx, cpu.ecx) == (0x11111111, 0x11111111, 0x22222222)


def test_cr3_write_flushes_the_tlb():
    body = """
movl 0x180000, %eax
movl $0x190007, 0x201600
movl %cr3, %edx
movl %edx, %cr3
movl 0x180000, %ebx
"""
    cpu = paged(body)
    cpu.mem.write(0x180000, struct.pack("<I", 0x11111111))
    cpu.mem.write(0x190000, struct.pack("<I", 0x22222222))
    assert cpu.run(max_insns=1000) == "hlt"
    assert (cpu.eax, cpu.ebx) == (0x11111111, 0x22222222)


def test_page_fault_not_present_read_and_write():
    cpu = paged("movl 0x1ff123, %eax")
    cpu.mem.write(PT + 4 * 0x1FF, struct.pack("<I", 0))
    assert cpu.run(max_insns=1000) == "hlt"
    assert (cpu.esi, cpu.edi) == (0x1FF123, 0)
    cpu = paged("movl %eax, 0x1ff124")
    cpu.mem.write(PT + 4 * 0x1FF, struct.pack("<I", 0))
    assert cpu.run(max_insns=1000) == "hlt"
    assert (cpu.esi, cpu.edi) == (0x1FF124, 2)


def test_page_fault_on_write_to_read_only_page_with_cr0_wp():
    cpu = paged("movl %eax, 0x1fe000")
    cpu.mem.write(PT + 4 * 0x1FE, struct.pack("<I", 0x1FE000 | P | US))
    assert cpu.run(max_insns=1000) == "hlt"
    assert (cpu.esi, cpu.edi) == (0x1FE000, 3)
    assert cpu.cr[2] == 0x1FE000


def test_page_fault_eip_is_the_faulting_instruction():
    cpu = paged("nop\nmovl 0x1ff000, %eax\nnop")
    cpu.mem.write(PT + 4 * 0x1FF, struct.pack("<I", 0))
    assert cpu.run(max_insns=1000) == "hlt"
    faulting = [e for v, c, e, _ in cpu.recent_exceptions if v == 14]
    code = cpu.mem.read(faulting[0], 5)
    assert code[0] == 0xA1      # mov moffs32, %eax
