"""VGA text mode: memory 0xB8000-0xBFFFF as an MMIO window, the CRTC
cursor/start-address registers (0x3D4/0x3D5), and the screen as text.

The memory is a plain byte array the guest reads and writes (through MMIO,
so the timing profile can charge what the seed measured); `screen_text()`
renders the visible 80x25 page for `--vga-dump`. The BIOS teletype writes
through `teletype()` so int 10h output lands here too.
"""

BASE = 0xB8000
SIZE = 0x8000
COLUMNS, ROWS = 80, 25
DEFAULT_ATTRIBUTE = 0x07


class VGAText:
    timed = False      # nothing here depends on when the guest reads or writes

    def __init__(self):
        self.memory = bytearray(SIZE)
        self.window = (self.memory, BASE)   # plain memory: rep movs/stos may copy it in bulk
        self.crtc_index = 0
        self.crtc = bytearray(0x19)
        self.misc_output = 0x67
        self.clear()

    # ------------------------------------------------------------ MMIO
    def mmio_read(self, addr: int, size: int) -> int:
        offset = addr - BASE
        return int.from_bytes(self.memory[offset:offset + size], "little")

    def mmio_write(self, addr: int, size: int, value: int):
        offset = addr - BASE
        self.memory[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    # ------------------------------------------------------------ CRTC ports
    def port_read(self, port: int, size: int) -> int:
        if port == 0x3D4:
            return self.crtc_index
        if port == 0x3D5:
            return self.crtc[self.crtc_index] if self.crtc_index < len(self.crtc) else 0xFF
        if port == 0x3CC:
            return self.misc_output
        if port == 0x3DA:
            return 0x09                  # input status: in retrace, so waits end
        return 0xFF

    def port_write(self, port: int, size: int, value: int):
        if port == 0x3D4:
            self.crtc_index = value & 0xFF
            if size == 2:                # outw: index and data in one write
                self.port_write(0x3D5, 1, value >> 8)
        elif port == 0x3D5 and self.crtc_index < len(self.crtc):
            self.crtc[self.crtc_index] = value & 0xFF

    def register(self, ports, memory):
        ports.register(0x3D4, 2, self)
        ports.register(0x3DA, 1, self)
        ports.register(0x3CC, 1, self)
        memory.add_mmio(BASE, SIZE, self)

    # ------------------------------------------------------------ cursor
    @property
    def cursor(self) -> int:
        return self.crtc[0x0E] << 8 | self.crtc[0x0F]

    @cursor.setter
    def cursor(self, position: int):
        self.crtc[0x0E], self.crtc[0x0F] = (position >> 8) & 0xFF, position & 0xFF

    @property
    def start_address(self) -> int:
        return self.crtc[0x0C] << 8 | self.crtc[0x0D]

    # ------------------------------------------------------------ BIOS output
    def clear(self, attribute: int = DEFAULT_ATTRIBUTE):
        for cell in range(COLUMNS * ROWS):
            self.memory[2 * cell] = 0x20
            self.memory[2 * cell + 1] = attribute
        self.cursor = 0

    def put_cell(self, position: int, char: int, attribute: int = DEFAULT_ATTRIBUTE):
        self.memory[2 * position] = char & 0xFF
        self.memory[2 * position + 1] = attribute

    def teletype(self, char: int, attribute: int = None):
        """int 10h AH=0Eh: write with cursor movement, CR/LF/BS/BEL, scrolling;
        the cell keeps its attribute unless one is given (AH=13h)."""
        pos = self.cursor
        if char == 0x0D:
            pos -= pos % COLUMNS
        elif char == 0x0A:
            pos += COLUMNS
        elif char == 0x08:
            pos = max(pos - 1, pos - pos % COLUMNS)
        elif char != 0x07:
            self.put_cell(pos, char, self.memory[2 * pos + 1] if attribute is None else attribute)
            pos += 1
        if pos >= COLUMNS * ROWS:
            self.scroll_up()
            pos -= COLUMNS
        self.cursor = pos

    def scroll_up(self, attribute: int = DEFAULT_ATTRIBUTE):
        row_bytes = 2 * COLUMNS
        self.memory[0:row_bytes * (ROWS - 1)] = self.memory[row_bytes:row_bytes * ROWS]
        for col in range(COLUMNS):
            self.put_cell((ROWS - 1) * COLUMNS + col, 0x20, attribute)

    # ------------------------------------------------------------ dump
    def screen_text(self) -> str:
        """The visible page as text, trailing blanks and empty rows removed."""
        start = 2 * self.start_address
        lines = []
        for row in range(ROWS):
            cells = self.memory[start + 2 * COLUMNS * row:start + 2 * COLUMNS * (row + 1):2]
            lines.append(bytes(cells).decode("cp437").rstrip(" \0"))
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + ("\n" if lines else "")
