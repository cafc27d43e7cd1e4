"""Issue 20: --max-insns, --max-cycles and --timeout hold inside long `rep`
runs and exception loops under every timing profile, and a guest that can
only fault ends in a report.

Choices (README, "Limits"): every item of a rep counts as one instruction,
as QEMU counts them under icount, so --max-insns stops a rep between items
(ECX then says how far it got, EIP is still the rep); a long rep goes back
to the run loop every REP_CHUNK items, at points set by ECX alone, so the
limits are looked at without changing the run's emulated time. A guest
that takes EXCEPTION_LOOP exceptions in a row without retiring an
instruction ends as a triple fault (exit 4) whose report says
"exception loop"."""
import io

import pytest
from guest_asm import PROTECTED_MODE, program

from vm.cpu.interrupts import EXCEPTION_LOOP
from vm.machine import Machine

PROFILES = ("off", "kvm", "tcg")
# 4 GiB of stores from 1 MiB up: far past the end of RAM, item by item there
HUGE_REP = PROTECTED_MODE + "mov $0xfffffff0,%ecx; mov $0x100000,%edi; rep stosb; jmp ."
# reps of 5,000 items in a loop, with instructions before and after in the same block
REP_LOOP = PROTECTED_MODE + "1: mov $5000,%ecx; mov $0x100000,%edi; nop; nop; rep stosb; inc %ebx; jmp 1b"
IDT = """
    lidt idt_desc
    jmp start
    .p2align 3
idt: .fill 13, 8, 0
    .word handler, 0x08, 0x8e00, 0
idt_desc: .word 14*8-1
    .long idt
"""
# the #GP handler's first instruction raises #GP again: no instruction ever retires
FAULT_FOREVER = PROTECTED_MODE + IDT + """
start: mov $0x1234, %ax
    mov %ax, %ds
handler: mov %ax, %ds
"""
# the #GP handler returns to the faulting instruction, which faults again
RETURN_FOREVER = PROTECTED_MODE + IDT + """
start: mov $0x1234, %ax
    mov %ax, %ds
handler: add $4, %esp
    iret
"""
BEFORE_REP = 18      # instructions of HUGE_REP before its rep


def run(source, timing, **limits):
    m = Machine(ram_size=16 << 20, timing=timing, disk=program(source), serial=io.BytesIO())
    return m, m.run(**limits)


@pytest.mark.parametrize("timing, cycles", [("off", 100_000), ("kvm", 810_068), ("tcg", 1_790_643)])
def test_max_insns_stops_a_huge_rep_between_items(timing, cycles):
    m, r = run(HUGE_REP, timing, max_insns=100_000)
    assert (r.reason, r.exit_code, r.insns) == ("insn-limit", 8, 100_000), r.report
    assert m.cpu.regs[1] == 0xFFFFFFF0 - (100_000 - BEFORE_REP)      # ECX: the items left
    assert r.cycles == cycles


@pytest.mark.parametrize("timing, cycles, insns", [("off", 3_000_066, 3_000_066), ("kvm", 3_317_736, 1_048_834),
                                                  ("tcg", 3_002_503, 221_186)])
def test_max_cycles_stops_a_huge_rep(timing, cycles, insns):
    m, r = run(HUGE_REP, timing, max_cycles=3_000_000)
    assert (r.reason, r.exit_code) == ("cycle-limit", 8), r.report
    assert (r.cycles, r.insns) == (cycles, insns)


@pytest.mark.parametrize("timing", PROFILES)
def test_timeout_stops_a_huge_rep(timing):
    m, r = run(HUGE_REP, timing, timeout=0.3)
    assert (r.reason, r.exit_code) == ("timeout", 10), r.report


@pytest.mark.parametrize("timing", PROFILES)
@pytest.mark.parametrize("n", [1, 17, 100, 1_003, 5_000, 12_345, 77_777])
def test_every_limit_inside_reps_is_exact_and_the_same_under_every_profile(timing, n):
    m, r = run(REP_LOOP, timing, max_insns=n)
    assert r.insns == n
    off, _ = run(REP_LOOP, "off", max_insns=n)
    assert (m.cpu.regs, m.cpu.eip) == (off.cpu.regs, off.cpu.eip)


def test_a_run_paused_inside_a_rep_goes_on_as_if_it_had_not_stopped():
    whole, r = run(REP_LOOP, "tcg", max_insns=77_777)
    m = Machine(ram_size=16 << 20, timing="tcg", disk=program(REP_LOOP), serial=io.BytesIO())
    for pause in (1_003, 5_000, 5_001, 12_345):
        assert not m.advance(max_insns=77_777, pause_insns=pause)
        assert m.insns() == pause
    assert m.run(max_insns=77_777).reason == "insn-limit"
    assert (m.cpu.cycles, m.cpu.regs, m.cpu.eip) == (whole.cpu.cycles, whole.cpu.regs, whole.cpu.eip)


@pytest.mark.parametrize("timing", PROFILES)
def test_a_guest_that_can_only_fault_ends_as_an_exception_loop(timing):
    m, r = run(FAULT_FOREVER, timing, max_insns=100_000)
    assert (r.reason, r.exit_code) == ("triple-fault", 4), r.report
    assert r.report.startswith(f"kpy vm: triple-fault: triple fault: exception loop: {EXCEPTION_LOOP} "
                               "exceptions in a row, the last #GP(0x1234)"), r.report
    assert r.insns == 19


@pytest.mark.parametrize("timing, limits, reason", [
    ("off", dict(max_insns=5_000), "insn-limit"), ("kvm", dict(max_insns=5_000), "insn-limit"),
    ("tcg", dict(max_insns=5_000), "insn-limit"), ("tcg", dict(max_cycles=1_000_000), "cycle-limit"),
    ("off", dict(timeout=0.3), "timeout"),
])
def test_a_handler_that_returns_to_the_fault_forever_ends_on_the_limits(timing, limits, reason):
    m, r = run(RETURN_FOREVER, timing, **limits)
    assert r.reason == reason, r.report
    if "max_insns" in limits:
        assert r.insns == limits["max_insns"]


@pytest.mark.parametrize("source", [RETURN_FOREVER, REP_LOOP])
def test_the_run_loops_turns_do_not_change_the_run(source):
    """Exception loops and long reps give the machine turns to look at the
    clock; a run with --timeout (time slices) has the same emulated time."""
    plain, r = run(source, "tcg", max_insns=3_000)
    sliced, s = run(source, "tcg", max_insns=3_000, timeout=600)
    assert (r.cycles, plain.cpu.regs, plain.cpu.eip) == (s.cycles, sliced.cpu.regs, sliced.cpu.eip)
