"""Port I/O as translated blocks call it: `PIN(port, size, into)` for `in`
and `POUT(port, size, value, into)` for `out` (true when the block must end after it).

`into` is the static cycles of the block's instructions before this one
(the translator knows it): a device that reads the clock sees the count as
of the accessing instruction, as System.port_in/port_out arrange by
searching the running block's line table, without the search.  A device
that never reads the clock (PortBus.untimed, e.g. the UART) costs one dict
lookup and the `io` charge.  Anything but the always-allowed case (real
mode, or CPL 0 outside V86) takes System's path with its I/O permission
checks.

A hot trace does the untimed case itself (semantics.sem_in/sem_out: the
same test, charge and block cut inline, two Python calls fewer for each
access of a polled UART) and calls PIN/POUT for every other case.  Whoever
observes charges (vm.profiler) empties the trace's port table
(CPU.observe_charges), so every access then comes here and is charged
through `CPU.charge`.
"""
from __future__ import annotations

import sys

from .flags import VM
from ..jit_hints import keep_out_of_traces

MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF)   # by access size in bytes
# when an access takes System's checked path (protected mode at CPL > 0 or in
# V86), as a trace with inline port I/O computes it once, on entry, into local
# `_io` (CREGS: the CPU's cr, VM = 0x20000); pin and pout below test the same.
# Once is enough: no instruction changes it without ending the block (CPL and
# VM change by far transfers, interrupts, IRET and task switches; a CR0 write
# runs at CPL 0 outside V86, where the test is false before and after it)
CHECKED_IO = "CREGS[0] & 1 and (s.cpl or s.fl & 0x20000)"


def make_port_accessors(cpu):
    ports = cpu.ports
    untimed = ports.untimed      # PortBus fills this dict in place
    cr, mem = cpu.cr, cpu.mem
    # CPython: add the io charge in place unless a subscriber replaced
    # CPU.charge on the instance (CPU.observe_charges, which makes these
    # accessors again). PyPy: always call charge (its JIT inlines the call);
    # never touch the CPU's __dict__ there, which turns every attribute of it
    # into a dict entry (the UART loop fell from ~40 to 13 MIPS)
    charged = sys.implementation.name == "pypy" or "charge" in cpu.__dict__

    def pin(port, size, into):
        if cr[0] & 1 and (cpu.cpl or cpu.fl & VM):
            return cpu.port_in(port, size)       # the I/O permission checks
        dev = untimed.get(port)
        if charged:
            cpu.charge("io", cpu.io_cost)
        else:
            cpu.cycles += cpu.io_cost       # what CPU.charge does, without the call
        if dev is not None:
            return dev.port_read(port, size) & MASK[size]
        return timed_read(cpu, port, size, into)

    def write(port, size, value, into):
        if cr[0] & 1 and (cpu.cpl or cpu.fl & VM):
            return cpu.port_out(port, size, value)
        dev = untimed.get(port)
        if charged:
            cpu.charge("io", cpu.io_cost)
        else:
            cpu.cycles += cpu.io_cost       # what CPU.charge does, without the call
        if dev is not None:
            dev.port_write(port, size, value & MASK[size])
            return
        timed_write(cpu, port, size, value, into)

    def pout(port, size, value, into):
        """1 when the block must end after this `out`: the device raised an
        interrupt line or asked to stop (so that is taken before the next
        instruction), or the memory map or executed bytes changed (PAM, A20)
        under the running block. It is counted in `block_cuts`, which the
        exact paths (stepper.py) follow. The decision depends on the
        machine's state only, never on how the run is observed."""
        # semantics.sem_out makes the same decision inline (a trace's untimed `out`)
        irq, stop, generation = cpu._irq, cpu.stop_requested, mem.generation
        write(port, size, value, into)
        if cpu._irq and not irq or cpu.stop_requested and not stop or mem.generation != generation:
            cpu.block_cuts += 1
            return 1
        return 0

    return {"PIN": pin, "POUT": pout}


def timed_read(cpu, port, size, into):
    """`in` from a device that reads the clock (or from no device)."""
    dev = cpu.ports.devices.get(port)
    if dev is None:
        return MASK[size]
    cpu.cycles += into              # the device sees the count as of this instruction
    try:
        return dev.port_read(port, size) & MASK[size]
    finally:
        cpu.cycles -= into


def timed_write(cpu, port, size, value, into):
    dev = cpu.ports.devices.get(port)
    if dev is None:
        return
    cpu.cycles += into
    try:
        dev.port_write(port, size, value & MASK[size])
    finally:
        cpu.cycles -= into


# PyPy: the devices that read the clock (PIT, PIC, CMOS...) are called from
# the traces, not inlined: inlined, they made `pin` and `pout` the longest
# functions of too-long traces, and the JIT then stopped inlining those for
# every port of the run (jit_hints.py)
keep_out_of_traces(timed_read, timed_write)
