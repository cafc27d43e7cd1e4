"""The Bochs/QEMU debug console, port 0xE9: bytes written go to a host
stream; reading returns 0xE9, the value guests use to detect the port."""


from . import write_to_host


class DebugConsole:
    timed = False      # its ports do not depend on when they are accessed (no clock reads)

    port = 0xE9

    def __init__(self, output=None):
        self.output = output
        self.written = bytearray()

    def port_read(self, port: int, size: int) -> int:
        return 0xE9     # QEMU's isa-debugcon reads back 0xE9 at any iobase

    def port_write(self, port: int, size: int, value: int):
        byte = value & 0xFF
        self.written.append(byte)
        self.output = write_to_host(self.output, byte)

    def register(self, ports, memory):
        ports.register(self.port, 1, self)
