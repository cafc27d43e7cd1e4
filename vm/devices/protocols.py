"""The contracts between the machine and its devices (vm/machine.py builds
the devices from a list; these say what it and the devices rely on).

Every device registers itself on the buses; a timed device also tells the
machine when its next event is due and is advanced to that cycle (the run
loop never polls a device that has no events). Devices reach the rest of
the machine only through the `Board`.
"""
from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable


@runtime_checkable
class Device(Protocol):
    def register(self, ports, memory) -> None:
        """Claim port ranges (ports.register(base, count, self)) and MMIO
        windows (memory.add_mmio(base, size, self)). A port device then has
        port_read(port, size) / port_write(port, size, value); an MMIO device
        mmio_read(addr, size) / mmio_write(addr, size, value), and a class
        attribute `timed = False` when its result never depends on the
        cycle count (its accesses then skip the exact paths). An untimed
        device whose memory is plain bytes may also offer `window =
        (buffer, base address)`: the CPU then reads and writes the buffer
        itself (rep copies in bulk, single accesses without a call).
        An access must not read or change the CPU's registers or flags: a
        hot trace may hold them in locals around it (it may request a stop,
        which ends the block first)."""


@runtime_checkable
class TimedDevice(Device, Protocol):
    def next_event_cycle(self) -> Optional[int]:
        """The emulated cycle of the next event (an interrupt edge, a clock
        tick), or None; ask the board `events_changed()` when it moves."""

    def advance(self, cycles: int) -> None:
        """Bring the device's state up to `cycles` (the event is due)."""


class Board(Protocol):
    """What the machine offers its devices (vm/machine.py, Machine)."""
    cycles: int                                   # the CPU's cycle count now

    def set_irq(self, irq: int, level: bool) -> None: ...
    def pulse_irq(self, irq: int) -> None: ...
    def events_changed(self) -> None: ...         # a timed device's next event moved
    def request_exit(self, reason: str, exit_code, message: str = "") -> None: ...
    def request_reset(self, why: str) -> None: ...
    def set_a20(self, enabled: bool) -> None: ...
    def log(self, category: str, message: str) -> None: ...
