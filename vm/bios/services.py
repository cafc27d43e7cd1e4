"""The smaller BIOS services: int 10h video, 11h equipment, 12h memory
size, 15h system (E820, E801, 88h, A20), 16h keyboard (no key is ever
pressed), 1Ah time of day.

Absent on purpose, answered as a BIOS without them (Ralf Brown's list):
VBE (int 10h AH=4Fh: AX is left as it was, so AX != 004Fh) and APM
(int 15h AH=53h: CF=1, AH=86h). SeaBIOS on QEMU has both; GRUB probes them
and does without."""

from ..devices import write_to_host
from .call import BiosCall, BiosFault
from .e820 import encode_entry, high_tables_base, memory_map

SMAP = 0x534D4150
BDA_EQUIPMENT, BDA_BASE_MEMORY, BDA_TICKS = 0x410, 0x413, 0x46C
BDA_CURSOR = 0x450
UNSUPPORTED = 0x86
APM = 0x53
VBE = 0x4F


class VideoServices:
    """int 10h in text mode 3, drawing into the VGA text memory; teletype
    output is also copied to `echo` (a host stream, for `--teletype`)."""

    def __init__(self, vga, log, echo=None):
        self.vga = vga
        self.log = log
        self.echo = echo

    def _teletype(self, char: int, attribute: int = None):
        self.vga.teletype(char, attribute)
        self.echo = write_to_host(self.echo, char)

    def handle(self, call: BiosCall):
        function = call.ah
        if function == 0x0E:
            self._teletype(call.al)
        elif function == 0x00:
            self.vga.clear()
        elif function == 0x02:
            self.vga.cursor = _screen_position(call.dh, call.dl)
        elif function == 0x03:
            call.dh, call.dl = divmod(self.vga.cursor, 80)
            call.cx = 0x0607
        elif function in (0x09, 0x0A):
            attribute = call.bl if function == 0x09 else None
            for i in range(call.cx):
                pos = self.vga.cursor + i
                if pos < 80 * 25:
                    self.vga.put_cell(pos, call.al, attribute if attribute is not None else self.vga.memory[2 * pos + 1])
        elif function == 0x0F:
            call.al, call.ah, call.bh = 0x03, 80, 0
        elif function == 0x13:
            self._write_string(call)
        elif function == 0x12 and call.bl == 0x10:
            call.bh, call.bl, call.cx = 0, 3, 0x0009      # colour, 256 KiB, EGA switches
        elif function == VBE:
            pass                           # no VBE: AX stays 4Fxxh, not 004Fh (GRUB's multiboot probes it)
        elif function not in (0x01, 0x05, 0x06, 0x07, 0x08, 0x10, 0x11, 0x12, 0x1A):
            self.log("guest_errors", f"int 10h: unsupported function AH={function:#04x}")
        call.write16(BDA_CURSOR, (self.vga.cursor // 80) << 8 | self.vga.cursor % 80)

    def _write_string(self, call: BiosCall):
        text = call.read(call.linear(call.seg(0), call.bp), call.cx * (2 if call.al & 2 else 1))
        self.vga.cursor = _screen_position(call.dh, call.dl)
        step = 2 if call.al & 2 else 1
        for i in range(0, len(text), step):
            self._teletype(text[i], text[i + 1] if step == 2 else call.bl)


def _screen_position(row: int, col: int) -> int:
    """A guest-chosen cursor, kept on the 80x25 screen (the teletype writes
    VGA memory at the cursor, so an off-screen one would index past it)."""
    return min(row, 24) * 80 + min(col, 79)


class SystemServices:
    """int 15h: memory maps and the A20 gate."""

    def __init__(self, board, ram_size: int):
        self.board = board
        self.ram_size = ram_size
        self.entries = memory_map(ram_size)
        self.usable_top = high_tables_base(ram_size)    # what SeaBIOS counts as RAM

    def handle(self, call: BiosCall):
        eax = call.cpu.eax
        if eax & 0xFFFF == 0xE820 and eax >> 16 == 0:
            return self._e820(call)
        function = call.ah
        if call.ax == 0xE801:
            low = min(max(self.usable_top - (1 << 20), 0) >> 10, 15 << 10)
            high = max(self.usable_top - (16 << 20), 0) >> 16
            call.ax, call.bx, call.cx, call.dx = low, high, low, high
            call.set_carry(False)
        elif function == 0x88:
            call.ax = min(max(self.usable_top - (1 << 20), 0) >> 10, 63 << 10)
            call.set_carry(False)
        elif function == 0x24:
            self._a20(call)
        elif function == 0x86:
            call.succeed()                 # wait: emulated time has nothing to wait for
        elif function == APM:
            call.fail(UNSUPPORTED)         # every APM call: 86h "APM not present" (GRUB's lsapm probes it)
        else:
            self.board.log("guest_errors", f"int 15h: unsupported function AX={call.ax:#06x}")
            call.fail(UNSUPPORTED)

    def _e820(self, call: BiosCall):
        index = call.cpu.ebx
        if call.cpu.edx != SMAP or call.cpu.ecx < 20 or index >= len(self.entries):
            return call.fail(UNSUPPORTED)
        call.write(call.linear(call.seg(0), call.di), encode_entry(*self.entries[index]))
        call.cpu.eax = SMAP
        call.cpu.ecx = 20
        call.cpu.ebx = 0 if index + 1 == len(self.entries) else index + 1
        call.set_carry(False)

    def _a20(self, call: BiosCall):
        """Through port 0x92 as SeaBIOS does: written only when the bit changes."""
        sub = call.al
        port_a = self.board.system_control.port_read(0x92, 1)
        if sub in (0, 1):
            wanted = port_a & ~0x02 | (sub << 1)
            if wanted != port_a:
                self.board.system_control.port_write(0x92, 1, wanted)
            call.succeed()
        elif sub == 2:
            call.al = (port_a >> 1) & 1
            call.succeed()
        elif sub == 3:
            call.bx = 0x0003               # keyboard controller and port 0x92
            call.succeed()
        else:
            call.fail(UNSUPPORTED)


class KeyboardServices:
    """int 16h with an empty keyboard buffer."""

    def handle(self, call: BiosCall):
        function = call.ah
        if function in (0x01, 0x11):
            call.ax = 0
            call.set_zero(True)            # ZF=1: no keystroke available
        elif function in (0x00, 0x10):
            call.ax = 0                    # a real BIOS would wait forever
        elif function in (0x02, 0x12):
            call.al = 0                    # shift flags
        elif function == 0x05:
            call.al = 1                    # buffer full: nowhere to put it


class TimeServices:
    """int 1Ah: BIOS tick count and the RTC through CMOS."""

    def __init__(self, cmos):
        self.cmos = cmos

    def handle(self, call: BiosCall):
        function = call.ah
        if function == 0x00:
            ticks = int.from_bytes(call.read(BDA_TICKS, 4), "little")
            call.cx, call.dx = ticks >> 16, ticks & 0xFFFF
            call.al = call.read(BDA_TICKS + 4, 1)[0]
            call.write(BDA_TICKS + 4, b"\x00")
        elif function == 0x02:
            call.ch, call.cl, call.dh = (self._bcd(r) for r in (0x04, 0x02, 0x00))
            call.dl = 0
            call.set_carry(False)
        elif function == 0x04:
            call.ch, call.cl, call.dh, call.dl = (self._bcd(r) for r in (0x32, 0x09, 0x08, 0x07))
            call.set_carry(False)
        else:
            call.set_carry(True)

    def _bcd(self, register: int) -> int:
        value = self.cmos.read_register(register)
        if self.cmos.ram[0x0B] & 0x04:
            value = (value // 10) << 4 | value % 10
        return value


def equipment(call: BiosCall):
    call.ax = call.read16(BDA_EQUIPMENT)


def memory_size(call: BiosCall):
    call.ax = call.read16(BDA_BASE_MEMORY)


__all__ = ["VideoServices", "SystemServices", "KeyboardServices", "TimeServices",
           "equipment", "memory_size", "BiosFault"]
