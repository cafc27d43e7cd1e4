"""The I/O port bus: devices claim port ranges; unclaimed ports read all-ones."""
from __future__ import annotations


class PortBus:
    def __init__(self):
        self.devices: dict[int, object] = {}
        # the ports of devices that never read the clock (`timed = False`):
        # the CPU's port I/O fast path looks here only
        self.untimed: dict[int, object] = {}

    def register(self, first: int, count: int, dev) -> None:
        """dev.port_read(port, size) -> int and dev.port_write(port, size, value)."""
        for port in range(first, first + count):
            self.devices[port & 0xFFFF] = dev
            if getattr(dev, "timed", True):
                self.untimed.pop(port & 0xFFFF, None)
            else:
                self.untimed[port & 0xFFFF] = dev

    def read(self, port: int, size: int) -> int:
        dev = self.devices.get(port & 0xFFFF)
        mask = (1 << (8 * size)) - 1
        if dev is None:
            return mask
        return dev.port_read(port & 0xFFFF, size) & mask

    def write(self, port: int, size: int, value: int) -> None:
        dev = self.devices.get(port & 0xFFFF)
        if dev is not None:
            dev.port_write(port & 0xFFFF, size, value & ((1 << (8 * size)) - 1))
