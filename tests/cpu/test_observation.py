"""Observing a run must not change it: the same image and the same
--max-insns give the same emulated cycles (so the same rdtsc, timer
interrupts, serial output) whether the run is traced, watched, stopped by
write watches, single-stepped or paused on the way, under `tcg` (whose
write penalty depends on the recorded executed bytes and block starts).

The exact paths (tracing, stepping, the end of the instruction budget)
follow the block the regular loop would run, one instruction at a time."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.cpu.bare import boot_sector
from vm.machine import Machine

ROOT = Path(__file__).resolve().parents[2]
# 393,099 is in the kernel after timer interrupts (91,262 before a rep's items counted as
# instructions); 7,777 and 20,000 stop inside stage 2's HHDM check, one `repe cmpsl`
COUNTS = (100, 1_003, 7_777, 20_000, 393_099)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from compiler.build import build
    out = tmp_path_factory.mktemp("observed-kernel")
    return build(ROOT, opt=2, out_dir=out).disk_image.read_bytes()


@pytest.fixture(scope="module")
def breakpoints(image):
    """Physical addresses in the middle of the blocks a plain boot runs on the
    boot loader's pages (where the tcg write penalty counts block starts)
    and in the kernel: where a breakpoint would split a block."""
    m = Machine(timing="tcg", disk=image, serial=io.BytesIO())
    m.run(max_insns=COUNTS[-1])
    inside = sorted({b.phys[len(b.phys) // 2] for b in (f.block for f in m.cpu.blocks.values()) if len(b.phys) >= 3})
    boot = [p for p in inside if 0x7000 <= p < 0x9000]
    kernel = [p for p in inside if p >= 0x400000]
    assert boot and kernel
    return boot[::max(1, len(boot) // 4)] + kernel[::max(1, len(kernel) // 8)]


def run(image, n, observe=None):
    serial = io.BytesIO()
    m = Machine(timing="tcg", disk=image, serial=serial)
    if observe is not None:
        observe(m)
    r = m.run(max_insns=n, timeout=300)
    return r.reason, r.insns, r.cycles, serial.getvalue()


def traced(m):
    m.trace_to(io.StringIO())


def watched(m):
    m.watch_physical(0x2008, 4, io.StringIO())


def stopping_watch(m):
    """A gdb watchpoint on a stack slot and on the page tables: each write stops the CPU (run() goes on)."""
    def stop(paddr, size, value, eip):
        m.cpu.request_stop()
    m.memory.add_write_watch(0x2008, 4, stop)
    m.memory.add_write_watch(0x7BF0, 16, stop)


def stepping(m):
    """Single steps (gdb `stepi`) through stretches of the run, resuming at full speed between them."""
    original = m.run

    def run(max_insns=None, timeout=None, max_cycles=None):
        for first in (50, 990, 5_000, 19_990, 60_000):
            if max_insns is not None and first >= max_insns:
                break
            m.advance(max_insns=max_insns, pause_insns=first)
            for _ in range(25):
                m.advance(max_insns=max_insns, pause_insns=m.insns() + 1)
        return original(max_insns=max_insns, timeout=timeout, max_cycles=max_cycles)
    m.run = run


def pausing(m):
    """Pauses every 997 instructions (a debugger's slices, --max-insns margins in the middle of blocks)."""
    original = m.run

    def run(max_insns=None, timeout=None, max_cycles=None):
        while max_insns is None or m.insns() + 997 < max_insns:
            if m.advance(max_insns=max_insns, pause_insns=m.insns() + 997):
                break
        return original(max_insns=max_insns, timeout=timeout, max_cycles=max_cycles)
    m.run = run


def breaking(addresses):
    """gdb breakpoints: each hit stops the CPU (run() goes on)."""
    def observe(m):
        for phys in addresses:
            m.cpu.add_exec_hook(phys, lambda cpu: cpu.request_stop())
    return observe


def counting(addresses):
    """Exec hooks that only look (bench_boot's, a conditional breakpoint not taken)."""
    def observe(m):
        for phys in addresses:
            m.cpu.add_exec_hook(phys, lambda cpu: None)
    return observe


def read_watching(m):
    """Read watches (gdb rwatch/awatch) on the page tables and the boot stack stop the CPU."""
    def stop(paddr, size):
        m.cpu.request_stop()
    m.memory.add_read_watch(0x2008, 4, stop)
    m.memory.add_read_watch(0x7BF0, 16, stop)


def gdb_session(m):
    """The gdb stub driven by packets: write, read and access watchpoints on
    linear addresses (the page tables, the boot stack), a physical watch and
    monitor commands between the continues."""
    import socket
    from vm.gdbstub import GdbStub
    original = m.run

    def run(max_insns=None, timeout=None, max_cycles=None):
        stub = GdbStub(m, 0)
        stub.conn, other = socket.socketpair()
        stub.max_insns, stub.deadline = max_insns, None
        try:
            for packet in (b"Z2,2008,4", b"Z3,7bf0,10", b"Z4,7bf8,4", b"qRcmd," + b"watch-phys 0x2000 8".hex().encode()):
                assert stub.handle(packet) != ""
            for _ in range(400):
                for command in ("cycles", "insns", "info registers", "info mem", "info tlb", "xp/4x 0x2000",
                                "info pic"):
                    stub.handle(b"qRcmd," + command.encode().hex().encode())
                if stub.handle(b"c").startswith("W"):
                    break
        finally:
            stub.conn.close()
            other.close()
            stub.listener.close()
        return original(max_insns=max_insns, timeout=timeout, max_cycles=max_cycles)
    m.run = run


@pytest.mark.parametrize("n", COUNTS)
def test_tracing_watching_and_stepping_do_not_change_cycles(image, breakpoints, n):
    plain = run(image, n)
    assert plain[1] == n
    for observe in (traced, watched, stopping_watch, read_watching, gdb_session, stepping, pausing, breaking(breakpoints),
                    counting(breakpoints)):
        assert run(image, n, observe) == plain, getattr(observe, "__qualname__", observe)


def test_a_shorter_run_is_a_prefix_of_a_longer_one(image):
    """The cycle count after n instructions does not depend on where the run ends
    (the last instructions before --max-insns run exactly, with the regular blocks' state)."""
    serial = io.BytesIO()
    m = Machine(timing="tcg", disk=image, serial=serial)
    seen = {}
    for n in COUNTS:
        m.advance(max_insns=None, pause_insns=n)
        seen[n] = (m.insns(), m.cpu.cycles)
    for n in COUNTS[:-1]:
        assert run(image, n)[1:3] == seen[n]


def test_watch_stop_in_a_followed_call_resumes_at_the_call_target():
    # the hot block follows `call f` into f; a stop after the call's push must resume in f
    cpu = boot_sector("""
movw $0x6000, %sp
xorw %bx, %bx
movw $6, %cx
again:
call f
loop again
hlt
f: incw %bx
ret
""")
    pushes = []

    def watch(paddr, size, value, eip):
        pushes.append(eip)
        if len(pushes) == 4:
            cpu.request_stop()
    cpu.mem.add_write_watch(0x5FFE, 2, watch)
    assert cpu.run() == "stop"
    assert cpu.eip == 0x7C0E                    # f, not the instruction after the call
    assert cpu.run() == "hlt"
    assert cpu.ebx & 0xFFFF == 6 and len(pushes) == 6


LOOP = """
movw $0x6000, %sp
movw $40, %cx
movw $0x7e00, %di
again:
movw %cx, (%di)
addw $2, %di
movw %cx, code_page
rdtsc
addw %ax, %bx
outb %al, $0xe9
inb $0x61, %al
loop again
hlt
code_page: .word 0
"""


def test_stepping_a_hot_loop_charges_what_running_it_charges():
    whole = boot_sector(LOOP, timing="tcg")
    assert whole.run() == "hlt"
    for step_from in (0, 3, 17, 40, 101):
        cpu = boot_sector(LOOP, timing="tcg")
        if step_from:
            cpu.run(max_insns=step_from)
        while cpu.step() != "hlt":
            pass
        assert (cpu.insns, cpu.cycles, cpu.ebx, bytes(cpu.out.data)) == \
            (whole.insns, whole.cycles, whole.ebx, bytes(whole.out.data)), step_from
        cpu = boot_sector(LOOP, timing="tcg")
        cpu.trace = lambda c: None
        assert cpu.run() == "hlt"
        assert (cpu.insns, cpu.cycles, cpu.ebx) == (whole.insns, whole.cycles, whole.ebx)
