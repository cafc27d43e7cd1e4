"""POST diagnostic port 0x80: every write is recorded with the cycle it
happened at (and reads give back the last value), for `-d post` /
`--post-codes` and for tests."""


class PostPort:
    def __init__(self, board):
        self.board = board
        self.codes = []            # (cycle, value)

    def port_read(self, port: int, size: int) -> int:
        return self.codes[-1][1] if self.codes else 0xFF

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFF
        self.codes.append((self.board.cycles(), value))
        self.board.log("post", f"POST code {value:#04x}")

    def register(self, ports):
        ports.register(0x80, 1, self)
