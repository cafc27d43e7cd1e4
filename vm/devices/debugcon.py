"""The Bochs/QEMU debug console, port 0xE9: bytes written go to a host
stream; reading returns 0xE9, the value guests use to detect the port."""


class DebugConsole:
    timed = False      # its ports do not depend on when they are accessed (no clock reads)

    def __init__(self, output=None):
        self.output = output
        self.written = bytearray()

    def port_read(self, port: int, size: int) -> int:
        return 0xE9

    def port_write(self, port: int, size: int, value: int):
        byte = value & 0xFF
        self.written.append(byte)
        if self.output is not None:
            try:
                self.output.write(bytes((byte,)))
            except (OSError, ValueError):     # closed pipe or file: the guest goes on
                self.output = None

    def register(self, ports):
        ports.register(0xE9, 1, self)
