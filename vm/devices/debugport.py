"""SeaBIOS's debug log port 0x402 (QEMU: `-device isa-debugcon,iobase=0x402`).

The same device as the 0xE9 debug console (vm.devices.debugcon): SeaBIOS
reads the port first and logs only when it reads back 0xE9. The bytes are
kept in `written`; each complete line also goes to the machine's `-d
firmware` log, so the firmware's progress shows beside the other log items.
"""

from .debugcon import DebugConsole

SEABIOS_LOG_PORT = 0x402


class FirmwareLog(DebugConsole):
    port = SEABIOS_LOG_PORT

    def __init__(self, board, output=None):
        super().__init__(output)
        self.board = board
        self._line = bytearray()

    def port_write(self, port: int, size: int, value: int):
        super().port_write(port, size, value)
        byte = value & 0xFF
        if byte == 0x0A:
            self.flush()
        elif byte != 0x0D:
            self._line.append(byte)

    def flush(self):
        """Log the pending partial line (at the end of a run, too)."""
        if self._line:
            self.board.log("firmware", self._line.decode("latin-1"))
            self._line.clear()

    def lines(self) -> list:
        return bytes(self.written).decode("latin-1").splitlines()
