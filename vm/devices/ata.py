"""The primary IDE channel of QEMU's PIIX3 with one ATA hard disk (PIO only).

Command block 0x1F0-0x1F7, control block 0x3F6 (device control / alternate
status) and 0x3F7, IRQ 14. The disk is the machine's boot image (the same
`vm.bios.disk.Disk` the built-in BIOS serves through int 13h), the master
device; there is no slave. Transfers complete at once: BSY is never seen,
DRQ is set as soon as a command has data. What SeaBIOS (src/hw/ata.c) does
with it: a register check (0x55/0xAA in the count and sector registers), a
soft reset, IDENTIFY PACKET DEVICE (aborted: this is no ATAPI device), then
IDENTIFY DEVICE, and READ SECTORS / READ SECTORS EXT with `rep insw`.

The slave is absent the way QEMU shows it: while it is selected the status
and error registers read 0 and commands to it are ignored, but the other
registers read back what was written (both devices latch every write).
The secondary channel (0x170) is not there at all: its ports float (0xFF).
"""

import struct

from vm.bios.disk import HEADS, SECTOR, SECTORS_PER_TRACK

COMMAND_BASE = 0x1F0
CONTROL_PORT = 0x3F6
IRQ = 14

STAT_BSY, STAT_RDY, STAT_SKC, STAT_DRQ, STAT_ERR = 0x80, 0x40, 0x10, 0x08, 0x01
ERR_ABRT, ERR_IDNF = 0x04, 0x10
DC_NIEN, DC_SRST, DC_HOB = 0x02, 0x04, 0x80
SEL_LBA, SEL_DEV1 = 0x40, 0x10
MAX_MULTIPLE = 16                       # sectors per DRQ block in READ/WRITE MULTIPLE (QEMU's)
LBA28_LIMIT = 0x0FFFFFFF

READS = {0x20: (False, False), 0x21: (False, False), 0x24: (True, False),
         0xC4: (False, True), 0x29: (True, True)}                 # command: (lba48, multiple)
WRITES = {0x30: (False, False), 0x31: (False, False), 0x34: (True, False),
          0xC5: (False, True), 0x39: (True, True)}
VERIFIES = {0x40: False, 0x41: False, 0x42: True}
NO_DATA = (0x10, 0x70, 0xE0, 0xE1, 0xE2, 0xE3, 0xE5, 0xE6, 0xE7, 0xEA, 0xEF)   # recalibrate, seek, power, flush, set features


def ata_string(text: str, words: int) -> bytes:
    """IDENTIFY strings: space-padded, each word's two characters swapped."""
    raw = text.encode().ljust(2 * words)[:2 * words]
    return bytes(raw[i ^ 1] for i in range(len(raw)))


def identify_data(sectors: int) -> bytes:
    """IDENTIFY DEVICE words as QEMU's ide_identify fills them for its
    "QEMU HARDDISK" (ATA-7, LBA48, 16-sector multiple)."""
    cylinders = min(max(sectors // (HEADS * SECTORS_PER_TRACK), 2), 16383)
    words = [0] * 256
    chs = min(cylinders * HEADS * SECTORS_PER_TRACK, sectors)
    values = {0: 0x0040, 1: cylinders, 3: HEADS, 4: SECTOR * SECTORS_PER_TRACK, 5: SECTOR,
              6: SECTORS_PER_TRACK, 20: 3, 21: 512, 22: 4, 47: 0x8000 | MAX_MULTIPLE, 48: 1,
              49: (1 << 11) | (1 << 9) | (1 << 8), 51: 0x200, 52: 0x200, 53: 1 | 2 | 4,
              54: cylinders, 55: HEADS, 56: SECTORS_PER_TRACK, 57: chs & 0xFFFF, 58: chs >> 16,
              60: min(sectors, LBA28_LIMIT) & 0xFFFF, 61: min(sectors, LBA28_LIMIT) >> 16,
              62: 0x07, 63: 0x07, 64: 0x03, 65: 120, 66: 120, 67: 120, 68: 120,
              80: 0xF0, 81: 0x16, 82: (1 << 14) | (1 << 5) | 1, 83: (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10),
              84: 1 << 14, 85: (1 << 14) | (1 << 5) | 1, 86: (1 << 13) | (1 << 12) | (1 << 10), 87: 1 << 14,
              88: 0x3F | (1 << 13), 93: 1 | (1 << 14) | 0x2000,
              100: sectors & 0xFFFF, 101: (sectors >> 16) & 0xFFFF, 102: (sectors >> 32) & 0xFFFF,
              103: sectors >> 48}
    for index, value in values.items():
        words[index] = value
    data = bytearray(struct.pack("<256H", *words))
    data[20:40] = ata_string("QM00001", 10)
    data[46:54] = ata_string("2.5+", 4)
    data[54:94] = ata_string("QEMU HARDDISK", 20)
    return bytes(data)


class AtaChannel:
    """The task-file registers, the data buffer and the command engine."""
    timed = False                # completion is immediate: no access depends on the clock

    def __init__(self, board, disk):
        self.board = board
        self.disk = disk
        self.identify = identify_data(disk.sectors)
        self.control = 0
        self.multiple = 0                    # SET MULTIPLE MODE's block size (0: off)
        self.buffer = b""
        self.pos = 0
        self.pending = None                  # ("read"|"write", next lba, sectors left, block size)
        self.irq_line = False
        self._signature()

    # ---------------------------------------------------------------- state
    def reset(self):
        """Power-on state (a machine reset): interrupts enabled, no multiple mode."""
        self.control, self.multiple = 0, 0
        self.select = 0xA0
        self._set_irq(False)
        self._signature()

    def _signature(self):
        """The registers after reset or power-on: an ATA device's signature."""
        self.feature = self.error = 0x01     # diagnostic code: no error
        self.count, self.sector, self.cyl_low, self.cyl_high = 1, 1, 0, 0
        self.hob = [0, 0, 0, 0, 0]           # previous count, sector, cyl_low, cyl_high, feature
        self.select = getattr(self, "select", 0xA0)   # QEMU keeps the device register
        self.status = STAT_RDY | STAT_SKC
        self.buffer, self.pos, self.pending = b"", 0, None

    def _slave(self) -> bool:
        return bool(self.select & SEL_DEV1)

    def _set_irq(self, level: bool):
        level = level and not self.control & DC_NIEN
        if level != self.irq_line:
            self.irq_line = level
            self.board.set_irq(IRQ, level)

    def _done(self, status=STAT_RDY | STAT_SKC, error=None):
        self.status = status
        if error is not None:
            self.error = error
        self._set_irq(True)

    def _abort(self, error=ERR_ABRT):
        self.buffer, self.pos, self.pending = b"", 0, None
        self._done(STAT_RDY | STAT_ERR, error)

    # ---------------------------------------------------------------- ports
    def port_read(self, port: int, size: int) -> int:
        if port == COMMAND_BASE:
            return self._read_data(size)
        if port == CONTROL_PORT:
            return 0 if self._slave() else self.status
        if port == CONTROL_PORT + 1:            # drive address register: not modelled, floats
            return 0xFF
        reg = port - COMMAND_BASE
        if reg == 7:
            self._set_irq(False)               # reading the status acknowledges the interrupt
            return 0 if self._slave() else self.status
        if reg == 1:
            return 0 if self._slave() else self.error
        if reg == 6:
            return self.select
        if self.control & DC_HOB:
            return self.hob[reg - 2]
        return (self.count, self.sector, self.cyl_low, self.cyl_high)[reg - 2]

    def port_write(self, port: int, size: int, value: int):
        if port == COMMAND_BASE:
            return self._write_data(size, value)
        if port == CONTROL_PORT:
            return self._device_control(value & 0xFF)
        if port == CONTROL_PORT + 1:
            return
        reg, value = port - COMMAND_BASE, value & 0xFF
        self.control &= ~DC_HOB                   # a task-file write clears HOB
        if reg == 1:
            self.hob[4], self.feature = self.feature, value
        elif 2 <= reg <= 5:
            names = ("count", "sector", "cyl_low", "cyl_high")
            self.hob[reg - 2] = getattr(self, names[reg - 2])
            setattr(self, names[reg - 2], value)
        elif reg == 6:
            self.select = value | 0xA0
        elif reg == 7:
            self._command(value)

    def _device_control(self, value: int):
        was_reset = self.control & DC_SRST
        self.control = value
        if value & DC_SRST:
            self.status = STAT_BSY | STAT_SKC
        elif was_reset:
            self._signature()
        if value & DC_NIEN and self.irq_line:
            self.irq_line = False
            self.board.set_irq(IRQ, False)

    # ---------------------------------------------------------------- data port
    def _read_data(self, size: int) -> int:
        if self.pending is None or self.pending[0] != "read" or self.pos >= len(self.buffer):
            return 0xFFFFFFFF if size == 4 else 0xFFFF
        value = int.from_bytes(self.buffer[self.pos:self.pos + size], "little")
        self.pos += size
        if self.pos >= len(self.buffer):
            self._next_read_block()
        return value

    def _write_data(self, size: int, value: int):
        if self.pending is None or self.pending[0] != "write":
            return
        self.buffer[self.pos:self.pos + size] = value.to_bytes(size, "little")[:len(self.buffer) - self.pos]
        self.pos += size
        if self.pos >= len(self.buffer):
            _, lba, left, block = self.pending
            n = len(self.buffer) // SECTOR
            self.disk.write(lba, bytes(self.buffer))
            self._start_block("write", lba + n, left - n, block)

    # ---------------------------------------------------------------- commands
    def _command(self, command: int):
        if self._slave():
            return                       # no device 1: QEMU ignores its commands
        self._set_irq(False)
        self.buffer, self.pos, self.pending = b"", 0, None
        if command == 0xEC:              # IDENTIFY DEVICE
            self.buffer, self.pending = self.identify, ("read", None, 1, 1)
            return self._done(STAT_RDY | STAT_SKC | STAT_DRQ)
        if command in READS or command in WRITES:
            lba48, multiple = READS.get(command) or WRITES[command]
            return self._transfer("read" if command in READS else "write", lba48, multiple)
        if command in VERIFIES:
            lba, count = self._address(VERIFIES[command])
            return self._abort(ERR_IDNF) if lba + count > self.disk.sectors else self._done()
        if command == 0xC6:              # SET MULTIPLE MODE
            if self.count > MAX_MULTIPLE or self.count & (self.count - 1):
                return self._abort()
            self.multiple = self.count
            return self._done()
        if command in (0xF8, 0x27):      # READ NATIVE MAX ADDRESS (EXT)
            self._set_address(self.disk.sectors - 1, command == 0x27)
            return self._done()
        if command == 0x91 or command in NO_DATA:   # INITIALIZE DEVICE PARAMETERS and friends
            return self._done()
        if command == 0x90:              # EXECUTE DEVICE DIAGNOSTIC
            self._signature()
            return self._done()
        self.board.log("guest_errors", f"ATA: command {command:#04x} not supported, aborted")
        self._abort()                    # IDENTIFY PACKET (0xA1), DEVICE RESET, PACKET: not ATAPI

    def _address(self, lba48: bool):
        """(first LBA, sector count) from the task file: LBA28/LBA48 or CHS."""
        if lba48:
            lba = (self.hob[3] << 40 | self.hob[2] << 32 | self.hob[1] << 24
                   | self.cyl_high << 16 | self.cyl_low << 8 | self.sector)
            return lba, (self.hob[0] << 8 | self.count) or 65536
        count = self.count or 256
        if self.select & SEL_LBA:
            return (self.select & 0xF) << 24 | self.cyl_high << 16 | self.cyl_low << 8 | self.sector, count
        cylinder, head = self.cyl_high << 8 | self.cyl_low, self.select & 0xF
        if self.sector == 0:
            return self.disk.sectors, count          # no sector 0 in CHS: out of range
        return (cylinder * HEADS + head) * SECTORS_PER_TRACK + self.sector - 1, count

    def _set_address(self, lba: int, lba48: bool):
        self.sector, self.cyl_low, self.cyl_high = lba & 0xFF, (lba >> 8) & 0xFF, (lba >> 16) & 0xFF
        if lba48:
            self.hob[1:4] = [(lba >> 24) & 0xFF, (lba >> 32) & 0xFF, (lba >> 40) & 0xFF]
        else:
            self.select = self.select & 0xF0 | (lba >> 24) & 0xF

    def _transfer(self, kind: str, lba48: bool, multiple: bool):
        if multiple and not self.multiple:
            return self._abort()         # READ/WRITE MULTIPLE before SET MULTIPLE MODE
        lba, count = self._address(lba48)
        if lba + count > self.disk.sectors:
            return self._abort(ERR_IDNF)
        self._start_block(kind, lba, count, self.multiple if multiple else 1)

    def _start_block(self, kind: str, lba: int, left: int, block: int):
        """The next DRQ block of a transfer, or its end."""
        if left <= 0:
            self.buffer, self.pos, self.pending = b"", 0, None
            return self._done()
        n = min(block, left)
        self.pending = (kind, lba, left, block)
        self.pos = 0
        self.buffer = self.disk.read(lba, n) if kind == "read" else bytearray(n * SECTOR)
        self._done(STAT_RDY | STAT_SKC | STAT_DRQ)

    def _next_read_block(self):
        _, lba, left, block = self.pending
        if lba is None:                  # IDENTIFY's one block
            self.buffer, self.pos, self.pending = b"", 0, None
            return self._done()
        n = len(self.buffer) // SECTOR
        self._start_block("read", lba + n, left - n, block)

    def register(self, ports, memory):
        ports.register(COMMAND_BASE, 8, self)
        ports.register(CONTROL_PORT, 2, self)
