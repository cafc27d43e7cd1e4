"""POST diagnostic port 0x80: writes are recorded with the cycle they
happened at (and reads give back the last value), for `-d post` /
`--post-codes` and for tests. Kernels also write 0x80 as an I/O delay, so
only the last RECORDED writes are kept; `count` says how many there were."""

from collections import deque

RECORDED = 4096


class PostPort:
    def __init__(self, board):
        self.board = board
        self.codes = deque(maxlen=RECORDED)    # (cycle, value)
        self.count = 0

    def port_read(self, port: int, size: int) -> int:
        return self.codes[-1][1] if self.codes else 0xFF

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFF
        self.codes.append((self.board.cycles(), value))
        self.count += 1
        self.board.log("post", f"POST code {value:#04x}")

    def register(self, ports, memory):
        ports.register(0x80, 1, self)
