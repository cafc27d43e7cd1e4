"""`out` goes on within its block unless the device answered: it raised an
interrupt line or asked to stop (then the block ends right after the `out`,
so the interrupt or stop comes before the next instruction). Traced and
plain runs agree on where blocks end (stepper.py follows `block_cuts`)."""
from __future__ import annotations

from tests.cpu.asm import assemble
from tests.cpu.bare import boot_sector


class Answering:
    """A port device that, on its `after`-th write, raises the CPU's
    interrupt line, asks it to stop, or raises an error of its own."""

    def __init__(self, cpu, after, answer):
        self.cpu, self.after, self.answer, self.writes = cpu, after, answer, 0

    def port_read(self, port, size):
        return 0

    def port_write(self, port, size, value):
        self.writes += 1
        if self.writes == self.after:
            if self.answer == "irq":
                self.cpu.irq_pending = True
            elif self.answer == "error":
                raise RuntimeError("device error")
            else:
                self.cpu.request_stop()


def machine(text, after=0, answer="irq", timing="off", timed=True):
    """`timed` false: the device says it never reads the clock, so a hot
    trace writes to it inline (semantics.sem_out) instead of through POUT."""
    cpu = boot_sector(text, timing=timing)
    dev = Answering(cpu, after, answer)
    dev.timed = timed
    cpu.ports.register(0x80, 1, dev)
    return cpu, dev


def block_starts(cpu):
    """EIPs where the run loop looked a block up (every block translated)."""
    return sorted(fn.block.eips[0] for cache in (cpu.blocks, cpu.cold_blocks) for fn in cache.values())


def test_out_to_a_quiet_device_does_not_end_the_block():
    cpu = boot_sector("movb $0x41, %al\noutb %al, $0xe9\nmovb $0x42, %al\noutb %al, $0xe9\nmovb $7, %bl\nhlt")
    assert cpu.run(max_insns=100) == "hlt"
    assert bytes(cpu.out.data) == b"AB"
    assert block_starts(cpu) == [0x7C00]       # both outs and the hlt in one block


def test_out_that_raises_an_interrupt_line_ends_the_block_after_it():
    cpu, dev = machine("movb $1, %al\noutb %al, $0x80\nmovb $7, %bl\nhlt", after=1, answer="irq")
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.regs[3] & 0xFF == 7
    assert block_starts(cpu) == [0x7C00, 0x7C04]     # the block left right after the out


def test_out_whose_device_asks_to_stop_stops_before_the_next_instruction():
    cpu, dev = machine("movb $1, %al\noutb %al, $0x80\nmovb $7, %bl\nhlt", after=1, answer="stop")
    assert cpu.run(max_insns=100) == "stop"
    assert cpu.eip == 0x7C04 and cpu.regs[3] & 0xFF == 0       # the mov after the out has not run
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.regs[3] & 0xFF == 7


LOOP = """
sti
movw $40, %cx
1: movb %cl, %al
outb %al, $0x80
addb $3, %bl
outb %al, $0xe9
loop 1b
hlt
"""
HANDLER = 0x7E00          # real-mode handler of vector 0x20: note the lap (BL) it came in


class OneShotController:
    """An interrupt controller with one line: vector 0x20."""

    def __init__(self, cpu):
        self.cpu = cpu

    def acknowledge(self):
        self.cpu.irq_pending = False
        return 0x20


def run_loop(traced, answer, timed=True):
    cpu, dev = machine(LOOP, after=17, answer=answer, timing="tcg", timed=timed)
    cpu.intc = OneShotController(cpu)
    cpu.mem.write(HANDLER, assemble("movb %bl, %dh\niret", code16=True))
    cpu.mem.write(0x20 * 4, HANDLER.to_bytes(2, "little") + bytes(2))
    if traced:
        cpu.trace = lambda c: None       # every instruction through the exact paths
    outcomes = []      # (why each run ended, EFLAGS then: a trace stores its flags on leaving)
    while len(outcomes) < 10:
        outcomes.append((cpu.run(max_insns=1000), cpu.get_eflags()))
        if outcomes[-1][0] == "hlt":
            break
    return outcomes, cpu.cycles, cpu.insns, cpu.regs[2] >> 8 & 0xFF, cpu.regs[3] & 0xFF, bytes(cpu.out.data)


def test_traced_and_plain_runs_end_blocks_at_the_same_out():
    for answer in ("irq", "stop"):
        for timed in (True, False):
            plain, traced = run_loop(False, answer, timed), run_loop(True, answer, timed)
            assert plain == traced
            assert plain[0][-1][0] == "hlt" and plain[4] == 120 and len(plain[5]) == 40


def test_a_traces_inline_out_to_an_untimed_device_matches_the_call():
    """The same outcomes, cycles and instructions whether the loop's trace
    writes to the device inline (untimed) or calls POUT (timed)."""
    for answer in ("irq", "stop"):
        assert run_loop(False, answer, timed=False) == run_loop(False, answer, timed=True)
    cpu, _ = machine(LOOP, after=17, timed=False)
    cpu.intc = OneShotController(cpu)
    cpu.run(max_insns=1000)
    assert any("UNTIMED.get(128)" in fn.block.source for fn in cpu.blocks.values())


def test_an_interrupt_raised_by_an_out_comes_before_the_next_instruction():
    outcomes, cycles, insns, lap_bl, bl, out = run_loop(False, "irq")
    assert lap_bl == 16 * 3        # raised by the 17th lap's first out: before its addb


def test_an_error_in_a_traces_inline_out_leaves_the_registers_and_flags_of_that_out():
    """A loop of register instructions and port I/O keeps the registers and
    the flags record in locals; an exception out of a device still finds
    them in R and s.lf, as of the `out` that raised (lap 28: CX counted
    down from 40 to 13, BL = 0x10 + 0x30 = 0x40: no flag set by the `addb`,
    where the record of the lap that made the loop hot, 0x60 + 0x30, had
    PF, SF and OF)."""
    cpu, _ = machine("movw $40, %cx\n1: movb %cl, %al\naddb $0x30, %bl\noutb %al, $0x80\nloop 1b\nhlt",
                     after=28, answer="error", timed=False)
    try:
        cpu.run(max_insns=1000)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the device's error did not reach the caller")
    assert (cpu.regs[1] & 0xFFFF, cpu.regs[0] & 0xFF, cpu.regs[3] & 0xFF) == (13, 13, 0x40)
    assert cpu.get_eflags() & 0xFFF == 0x2
    assert any(fn.block.loop and "_R1" in fn.block.source for fn in cpu.blocks.values())
