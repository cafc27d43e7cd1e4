"""The 8042 keyboard controller (ports 0x60/0x64), as much as boot code
uses: status, the output port (A20 gate in bit 1, reset in bit 0) through
commands 0xD0/0xD1, A20 shortcuts 0xDD/0xDF, self test 0xAA, pulse reset
0xFE, the command byte 0x20/0x60; the keyboard acks its commands and answers
reset (0xFF) and identify (0xF2). No key is ever pressed. The output port
is a latch (initially 0xCF: reset high, A20 on), as in QEMU."""

STATUS_OUTPUT_FULL = 0x01
STATUS_SYSTEM = 0x04
STATUS_COMMAND = 0x08
# what the keyboard sends after its 0xFA ack: reset -> self test passed
# (SeaBIOS waits for it, else its ps2 init times out), identify -> MF2
KEYBOARD_REPLIES = {0xFF: [0xAA], 0xF2: [0xAB, 0x83]}


class KeyboardController:
    def __init__(self, board):
        self.board = board
        self.output = []           # bytes waiting in the output buffer
        self.pending_command = None
        self.command_byte = 0x61
        self.output_port = 0xCF
        self.last_was_command = False

    def port_read(self, port: int, size: int) -> int:
        if port == 0x64:
            return (STATUS_OUTPUT_FULL if self.output else 0) | STATUS_SYSTEM | (
                STATUS_COMMAND if self.last_was_command else 0)
        return self.output.pop(0) if self.output else 0x00

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFF
        if port == 0x64:
            self.last_was_command = True
            self._command(value)
            return
        self.last_was_command = False
        command, self.pending_command = self.pending_command, None
        if command == 0xD1:
            self.output_port = value
            self.board.set_a20(bool(value & 0x02))
            if not value & 0x01:
                self.board.request_reset("keyboard controller output port")
        elif command == 0x60:
            self.command_byte = value
        elif command is None:
            self.output.append(0xFA)          # the keyboard acknowledges any command
            self.output += KEYBOARD_REPLIES.get(value, [])

    def _command(self, command: int):
        if command in (0xD1, 0x60):
            self.pending_command = command
        elif command == 0xD0:
            self.output.append(self.output_port)
        elif command == 0x20:
            self.output.append(self.command_byte)
        elif command == 0xAA:
            self.output.append(0x55)
        elif command == 0xAB:
            self.output.append(0x00)
        elif command in (0xDD, 0xDF):
            self.output_port = self.output_port & ~0x02 | (command & 0x02)
            self.board.set_a20(bool(command & 0x02))
        elif command & 0xF0 == 0xF0 and not command & 0x01:
            self.board.request_reset("keyboard controller pulse")

    def register(self, ports, memory):
        ports.register(0x60, 1, self)
        ports.register(0x64, 1, self)
