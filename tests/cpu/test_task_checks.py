"""The checks on a task switch's incoming state, in the order of the SDM's
table 7-1 (vol. 3, 7.3): after the commit point (the old task saved, TR
naming the new one, its busy bit set, CR0.TS set) each bad segment raises
its exception in the new task's context, with the new selectors visible;
and IRET's back link must name a busy TSS (#TS(back link) before anything
changes)."""
import struct

from tests.cpu.bare import gate, gdt_entry
from tests.cpu.test_tasks import TSS_A, TSS_B, access, machine, tss

ES_, CS_, SS_, DS_, FS_, GS_ = range(6)
# extra GDT entries: 0x30 code not present, 0x38 per test, 0x50 an LDT descriptor per test
NOT_PRESENT_CODE = gdt_entry(0, 0xFFFFF, 0x1A)


def incoming(**fields):
    """Task A jumps to B after B's TSS gets `fields` (es cs ss ds fs gs ldt
    as selectors) and the GDT entries `gdt` ({selector: descriptor}); #TS,
    #NP, #SS and #GP go to the interrupt-gate handler that pops the error
    code into EDI.  Returns (vector, error code) after checking the commit."""
    gdt = fields.pop("gdt", {})
    cpu = machine("ljmp $0x40, $0\n")
    for sel, desc in gdt.items():
        cpu.mem.write(0x500 + sel, desc)
    offsets = dict(es=0x48, cs=0x4C, ss=0x50, ds=0x54, fs=0x58, gs=0x5C, ldt=0x60)
    for name, sel in fields.items():
        cpu.mem.write(TSS_B + offsets[name], struct.pack("<H", sel))
    for vector in (10, 11, 12, 13):
        cpu.mem.write(0x10000 + vector * 8, gate(0x7C00 + 0x600))
    assert cpu.run(max_insns=2000) == "hlt"
    vector, code = cpu.recent_exceptions[-1][:2]
    assert cpu.edi == code
    # past the commit point: the fault is the new task's
    assert cpu.tr_sel == 0x40 and access(cpu, 0x40) == 0x8B and access(cpu, 0x28) == 0x89
    assert cpu.cr[0] & 8 and tss(cpu, TSS_A, 0x28) == 0xA0A0
    incoming.cpu = cpu
    return vector, code


def test_a_bad_ldt_selector_raises_ts_with_it():
    assert incoming(ldt=0x0C) == (10, 0x08 | 4)                          # TI=1: not in the GDT
    assert incoming(ldt=0x10) == (10, 0x10)                              # not an LDT
    assert incoming(ldt=0x100) == (10, 0x100)                            # past the GDT limit


def test_a_not_present_ldt_raises_ts_not_np():
    assert incoming(ldt=0x50, gdt={0x50: gdt_entry(0x4000, 0xF, 0x02, 0)}) == (10, 0x50)


def test_the_code_selector_is_checked_before_the_ldt_present_bit():
    not_present_ldt = {0x50: gdt_entry(0x4000, 0xF, 0x02, 0)}
    assert incoming(ldt=0x50, cs=0x0B, gdt=not_present_ldt) == (10, 0x08)     # RPL 3, DPL 0


def test_the_stack_is_checked_before_the_code_present_bit():
    assert incoming(cs=0x30, gdt={0x30: NOT_PRESENT_CODE}) == (11, 0x30)
    assert incoming(cs=0x30, ss=0x38, gdt={0x30: NOT_PRESENT_CODE,
                                           0x38: gdt_entry(0, 0xFFFFF, 0x90)}) == (10, 0x38)  # read-only


def test_a_not_present_stack_raises_ss_before_its_dpl_is_checked():
    assert incoming(ss=0x38, gdt={0x38: gdt_entry(0, 0xFFFFF, 0x12)}) == (12, 0x38)
    assert incoming(ss=0x38, gdt={0x38: gdt_entry(0, 0xFFFFF, 0x32)}) == (12, 0x38)    # DPL 1 too
    assert incoming(ss=0x38, gdt={0x38: gdt_entry(0, 0xFFFFF, 0xB2)}) == (10, 0x38)    # present, DPL 1


def test_the_stack_rpl_is_checked_after_the_code_present_bit():
    assert incoming(ss=0x13) == (10, 0x10)
    assert incoming(ss=0x13, cs=0x30, gdt={0x30: NOT_PRESENT_CODE}) == (11, 0x30)
    assert incoming(ss=0) == (10, 0)


def test_data_segments_are_checked_for_type_then_presence_then_privilege():
    assert incoming(ds=0x38, gdt={0x38: gdt_entry(0, 0xFFFFF, 0x98)}) == (10, 0x38)    # execute-only
    assert incoming(ds=0x3B, gdt={0x38: gdt_entry(0, 0xFFFFF, 0x12)}) == (11, 0x38)    # not present
    assert incoming(ds=0x13) == (10, 0x10)                                             # RPL 3 > DPL 0
    assert incoming(fs=0x100) == (10, 0x100)


def test_after_a_fault_on_a_data_segment_the_new_task_shows_its_selectors():
    assert incoming(ds=0x3B, gs=0x20, gdt={0x38: gdt_entry(0, 0xFFFFF, 0x12)}) == (11, 0x38)
    cpu = incoming.cpu
    assert cpu.get_seg(DS_) == 0x3B and cpu.get_seg(GS_) == 0x20
    assert cpu.get_seg(ES_) == 0x10 and cpu.get_seg(SS_) == 0x10
    eip, cs = struct.unpack("<II", cpu.mem.read(cpu.esp, 8))
    assert (eip, cs) == (0x7C00 + 0x400, 0x08) and cpu.esp == 0x70000 - 12     # B's CS:EIP, B's stack


def iret_with_nt(back_link_access):
    cpu = machine("movw $0x40, 0x%x\npushfl\norl $0x4000, (%%esp)\npopfl\niretl\n" % TSS_A)
    cpu.mem.write(0x500 + 0x40 + 5, bytes([back_link_access]))
    cpu.mem.write(0x10000 + 10 * 8, gate(0x7C00 + 0x600))
    assert cpu.run(max_insns=2000) == "hlt"
    return cpu


def test_iret_with_nt_to_an_available_tss_raises_ts_with_the_back_link_and_changes_nothing():
    cpu = iret_with_nt(0x89)
    assert cpu.recent_exceptions[-1][:2] == (10, 0x40) and cpu.edi == 0x40
    assert cpu.tr_sel == 0x28 and access(cpu, 0x28) == 0x8B and access(cpu, 0x40) == 0x89
    assert not cpu.cr[0] & 8


def test_iret_with_nt_to_a_busy_tss_frees_the_old_task_and_keeps_the_new_one_busy():
    cpu = iret_with_nt(0x8B)
    assert not cpu.recent_exceptions and cpu.tr_sel == 0x40 and cpu.ebx & 0xFFFF == 0x40
    assert access(cpu, 0x28) == 0x89 and access(cpu, 0x40) == 0x8B
    assert tss(cpu, TSS_A, 0x24) & 0x4000 == 0               # A saved with NT cleared
    assert not cpu.ecx & 0x4000 and cpu.edx & 8               # B's own NT; CR0.TS set


def test_cr0_ts_after_a_task_switch_makes_wait_raise_nm_until_clts():
    # CR0.MP=1 (bit 1): WAIT checks TS.  Task B runs fwait (#NM, no error code), then clts, then fwait again
    cpu = machine("movl %cr0, %eax\norl $2, %eax\nmovl %eax, %cr0\nljmp $0x40, $0\n",
                  "movl $first, %esi\nfirst: fwait\nclts\nfwait\nmovl $0x600D, %ebp\nhlt")
    cpu.mem.write(0x10000 + 7 * 8, gate(0x7C00 + 0x700))
    cpu.mem.write(0x7C00 + 0x700, bytes([0x8B, 0x3C, 0x24, 0x83, 0xC7, 0x01, 0x89, 0x3C, 0x24, 0xCF]))
    # the #NM handler: movl (%esp), %edi; addl $1, %edi; movl %edi, (%esp); iretl (skips the fwait)
    cpu.regs[5] = 0
    assert cpu.run(max_insns=2000) == "hlt"
    assert [e[:2] for e in cpu.recent_exceptions] == [(7, None)]          # the second fwait ran
    assert cpu.edi == cpu.esi + 1                                         # #NM at the first fwait
    assert cpu.ebp == 0x600D and not cpu.cr[0] & 8
