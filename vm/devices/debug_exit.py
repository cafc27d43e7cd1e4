"""QEMU's isa-debug-exit device at port 0xF4 (iosize 4): a write of value v
ends the run with exit status (v << 1) | 1, as
`-device isa-debug-exit,iobase=0xf4,iosize=0x04` does."""


class DebugExit:
    def __init__(self, board):
        self.board = board

    def port_read(self, port: int, size: int) -> int:
        return 0xFFFFFFFF >> (32 - 8 * size)

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFFFFFFFF >> (32 - 8 * size)
        self.board.request_exit("debug-exit", (value << 1) | 1)

    def register(self, ports, memory):
        ports.register(0xF4, 4, self)
