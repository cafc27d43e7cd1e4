"""Chipset system control: port 0x92 (System Control Port A: fast A20 in
bit 1, fast reset in bit 0) and the PIIX reset control register 0xCF9.

Port 0x92 is a latch of its own, as in QEMU: reading it gives back what was
written, not the A20 line (the keyboard controller drives the same line
through its own latch; the last write wins)."""


class SystemControl:
    def __init__(self, board):
        self.board = board
        self.port_a = 0
        self.reset_control = 0

    def port_read(self, port: int, size: int) -> int:
        if port == 0x92:
            return self.port_a
        return self.reset_control

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFF
        if port == 0x92:
            self.port_a = value & 0x02
            self.board.set_a20(bool(value & 0x02))
            if value & 0x01:
                self.board.request_reset("port 0x92 fast reset")
        else:
            if value & 0x04 and not self.reset_control & 0x04:
                self.board.request_reset("port 0xCF9 reset")
            self.reset_control = value & 0x0A

    def register(self, ports, memory):
        ports.register(0x92, 1, self)
        ports.register(0xCF9, 1, self)
