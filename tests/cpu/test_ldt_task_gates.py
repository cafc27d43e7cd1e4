"""Task gates in the LDT (SDM vol. 2, JMP and CALL pseudo-code, TASK-GATE;
vol. 3, 7.3): a far JMP or CALL whose selector names a task gate in the
current LDT switches to the task whose TSS (in the GDT) the gate names, and
the checks come in the SDM's order: the gate's DPL against CPL and RPL
(#GP(gate selector)), the gate present (#NP(gate selector)), the TSS
selector global and inside the GDT, its descriptor an available TSS
(#GP(TSS selector)), present (#NP(TSS selector)), then its limit
(#TS(TSS selector)).  A failed check leaves the task as it was."""
import struct

from tests.cpu.bare import gate, gdt_entry
from tests.cpu.test_tasks import TSS_A, TSS_B, access, machine, tss

LDT = 0x4000
LOAD_LDT = "movw $0x50, %ax\nlldt %ax\n"
IN_LDT = 0x0C          # LDT index 1, RPL 0


def ldt_machine(body, task_b_tail="hlt", gate_desc=None):
    """test_tasks.machine with an LDT (GDT 0x50, at 0x4000, limit 0x1F)
    whose entry 1 (selector 0x0C) is `gate_desc` (a DPL-0 task gate to TSS
    B by default); #NP and #TS also go to the handler that pops the error
    code into EDI."""
    cpu = machine(LOAD_LDT + body, task_b_tail)
    cpu.mem.write(0x500 + 0x50, gdt_entry(LDT, 0x1F, 0x82, 0))
    cpu.mem.write(LDT, bytes(8) + (gate(0, 0x40, 0x85) if gate_desc is None else gate_desc))
    cpu.mem.write(TSS_A + 0x60, struct.pack("<H", 0x50))      # A's LDT field: its LDT comes back with it
    for vector in (10, 11):
        cpu.mem.write(0x10000 + vector * 8, gate(0x7C00 + 0x600))
    return cpu


def test_jmp_through_an_ldt_task_gate_switches_to_the_gdt_tss_it_names():
    cpu = ldt_machine("ljmp $0x0C, $0\n")
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.tr_sel == 0x40 and cpu.ebx & 0xFFFF == 0x40 and cpu.eax == 0xB0B
    assert access(cpu, 0x28) == 0x89 and access(cpu, 0x40) == 0x8B
    assert tss(cpu, TSS_B, 0, 2) == 0 and not cpu.ecx & 0x4000 and cpu.edx & 8
    assert cpu.ldtr_sel == 0                                   # B's TSS names no LDT


def test_call_through_an_ldt_task_gate_nests_and_iret_restores_the_ldt_from_the_tss():
    cpu = ldt_machine("lcall $0x0C, $0\nmovl %eax, %esi\nsldt %bp\n", "iretl")
    assert cpu.run(max_insns=2000) == "hlt"
    assert tss(cpu, TSS_B, 0, 2) == 0x28 and cpu.tr_sel == 0x28
    assert cpu.esi == 0x50 and cpu.ebp & 0xFFFF == 0x50        # A's EAX (the lldt operand) came back and cpu.ldtr_sel == 0x50
    assert access(cpu, 0x28) == 0x8B and access(cpu, 0x40) == 0x89
    assert not cpu.get_eflags() & 0x4000


def refused(gate_desc=None, selector=IN_LDT, setup=None):
    """Run `ljmp selector` (and, separately, `lcall`); both must fault to
    the handler without leaving task A.  Returns (vector, error code)."""
    results = set()
    for insn in ("ljmp", "lcall"):
        cpu = ldt_machine(f"{insn} ${selector:#x}, $0\n", gate_desc=gate_desc)
        if setup:
            setup(cpu)
        assert cpu.run(max_insns=2000) == "hlt", insn
        assert cpu.tr_sel == 0x28 and access(cpu, 0x28) == 0x8B, insn
        assert cpu.eip == 0x7C00 + 0x600 + 2, insn            # stopped in the handler
        vector = cpu.recent_exceptions[-1][0]
        assert cpu.recent_exceptions[-1][1] == cpu.edi, insn
        results.add((vector, cpu.edi))
    assert len(results) == 1
    return results.pop()


def test_an_ldt_task_gate_below_the_selector_rpl_raises_gp_with_the_gate_selector():
    assert refused(selector=IN_LDT | 3) == (13, 0x0C)


def test_a_not_present_ldt_task_gate_raises_np_with_the_gate_selector():
    assert refused(gate(0, 0x40, 0x05)) == (11, 0x0C)


def test_the_gate_dpl_is_checked_before_its_present_bit():
    assert refused(gate(0, 0x40, 0x05), selector=IN_LDT | 3) == (13, 0x0C)


def test_an_ldt_task_gate_must_name_a_tss_in_the_gdt():
    assert refused(gate(0, 0x44, 0x85)) == (13, 0x44)          # TI=1: a local TSS selector
    assert refused(gate(0, 0x10, 0x85)) == (13, 0x10)          # a data segment
    assert refused(gate(0, 0x100, 0x85)) == (13, 0x100)        # past the GDT limit (0xFF)


def test_an_ldt_task_gate_to_a_busy_tss_raises_gp_with_the_tss_selector():
    assert refused(gate(0, 0x28, 0x85)) == (13, 0x28)          # task A itself


def test_a_not_present_tss_raises_np_but_busy_is_checked_first():
    def not_present(cpu):
        cpu.mem.write(0x500 + 0x40 + 5, bytes([0x09]))

    def busy_and_not_present(cpu):
        cpu.mem.write(0x500 + 0x40 + 5, bytes([0x0B]))
    assert refused(setup=not_present) == (11, 0x40)
    assert refused(setup=busy_and_not_present) == (13, 0x40)


def test_a_tss_below_the_minimum_limit_raises_ts_before_anything_is_saved():
    def short(cpu):
        cpu.mem.write(0x500 + 0x40, gdt_entry(TSS_B, 0x66, 0x89, 0))
    assert refused(setup=short) == (10, 0x40)


def test_a_selector_past_the_ldt_limit_raises_gp_with_it():
    assert refused(selector=0x24) == (13, 0x24)
