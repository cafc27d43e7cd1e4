"""CMOS RAM and the MC146818 real-time clock (ports 0x70/0x71).

The clock starts at a fixed, configurable date and advances with emulated
time (cycles / CPU_HZ seconds), so every run sees the same times. The
memory-size and equipment bytes are filled the way SeaBIOS/QEMU fill them.
Register B selects BCD or binary (24-hour mode is always used); register A's
update-in-progress bit is never set, so drivers' UIP waits finish at once.

Interrupts on IRQ8: periodic (register B PIE, rate from register A: 32768 >>
(rate - 1) Hz) and update-ended (UIE, once per emulated second). As on the
chip, register C latches the causes and the IRQ line stays high until the
guest reads C — a guest that never reads C gets a single interrupt.
"""

import datetime

from .clock import cycle_of_tick, ticks_at

REG_SECONDS, REG_MINUTES, REG_HOURS = 0x00, 0x02, 0x04
REG_WEEKDAY, REG_DAY, REG_MONTH, REG_YEAR = 0x06, 0x07, 0x08, 0x09
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
REG_CENTURY = 0x32
REG_CENTURY_PS2 = 0x37             # IBM PS/2's century byte; QEMU keeps both
REG_B_BINARY = 0x04
REG_B_PIE, REG_B_UIE = 0x40, 0x10
REG_C_IRQF, REG_C_PF, REG_C_UF = 0x80, 0x40, 0x10
RTC_IRQ = 8

DEFAULT_TIME = datetime.datetime(2026, 1, 1, 0, 0, 0)


def to_bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


class CMOS:
    def __init__(self, board, ram_size: int, start_time: datetime.datetime = DEFAULT_TIME, cpu_hz: int = 100_000_000,
                 disk_geometry=None):
        self.board = board
        self.start_time = start_time
        self.cpu_hz = cpu_hz
        self.index = 0
        self.nmi_disabled = False
        self.ram = bytearray(128)
        self.ram[REG_A] = 0x26           # 32.768 kHz time base, 1024 Hz rate
        self.ram[REG_B] = 0x02           # 24-hour, BCD
        self.ram[REG_D] = 0x80           # valid RAM and time
        self._fill_configuration(ram_size)
        if disk_geometry is not None:
            self._fill_disk(*disk_geometry)
        self.next_periodic = None     # tick (of periodic_hz) of the next periodic interrupt
        self.next_update = None       # second of the next update-ended interrupt

    def _fill_configuration(self, ram_size: int):
        """The bytes QEMU's pc machine sets (this machine has no floppy drive)."""
        r = self.ram
        r[0x10] = 0x00                   # no floppy drives
        r[0x12] = 0xF0                   # hard disk 0: type from 0x19
        r[0x14] = 0x06                   # equipment: VGA, FPU, no floppy
        r[0x15], r[0x16] = 640 & 0xFF, 640 >> 8
        ext_kib = min(max(ram_size - (1 << 20), 0) >> 10, 0xFFFF)
        r[0x17], r[0x18] = ext_kib & 0xFF, ext_kib >> 8
        r[0x30], r[0x31] = r[0x17], r[0x18]
        above_16m = min(max(ram_size - (16 << 20), 0) >> 16, 0xFFFF)
        r[0x34], r[0x35] = above_16m & 0xFF, above_16m >> 8
        r[0x19] = 0x2F                   # hard disk 0 is a user-defined type
        r[0x38] = 0x30                   # boot order: disk, floppy, CD (0x3D, 0x38)
        r[0x3D] = 0x12

    def _fill_disk(self, cylinders: int, heads: int, sectors: int):
        """Hard disk 0's geometry, as QEMU writes it for the BIOS."""
        r = self.ram
        r[0x1B], r[0x1C] = cylinders & 0xFF, cylinders >> 8
        r[0x1D] = heads
        r[0x1E] = r[0x1F] = 0xFF         # no write precompensation
        r[0x20] = 0xC0 | (0x08 if heads > 8 else 0)
        r[0x21], r[0x22] = cylinders & 0xFF, cylinders >> 8
        r[0x23] = sectors

    def now(self) -> datetime.datetime:
        seconds = self.board.cycles() // self.cpu_hz
        return self.start_time + datetime.timedelta(seconds=seconds)

    def _clock_register(self, reg: int):
        t = self.now()
        values = {REG_SECONDS: t.second, REG_MINUTES: t.minute, REG_HOURS: t.hour,
                  REG_WEEKDAY: t.isoweekday() % 7 + 1, REG_DAY: t.day, REG_MONTH: t.month,
                  REG_YEAR: t.year % 100, REG_CENTURY: t.year // 100, REG_CENTURY_PS2: t.year // 100}
        value = values.get(reg)
        if value is None:
            return None
        return value if self.ram[REG_B] & REG_B_BINARY else to_bcd(value)

    def read_register(self, reg: int) -> int:
        value = self._clock_register(reg)
        if value is not None:
            return value
        if reg == REG_C:
            value, self.ram[REG_C] = self.ram[REG_C], 0   # reading C acknowledges
            if value & REG_C_IRQF:
                self.board.set_irq(RTC_IRQ, False)
            return value
        return self.ram[reg]

    def port_read(self, port: int, size: int) -> int:
        if port == 0x70:
            return 0xFF
        return self.read_register(self.index)

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFF
        if port == 0x70:
            self.index = value & 0x7F
            self.nmi_disabled = bool(value & 0x80)
        elif self.index not in (REG_C, REG_D) and self._clock_register(self.index) is None:
            self.ram[self.index] = value & (0x7F if self.index == REG_A else 0xFF)
            if self.index in (REG_A, REG_B):
                self._schedule(self.board.cycles())
                self.board.events_changed()

    # ------------------------------------------------------------ interrupts
    def periodic_hz(self) -> int:
        rate = self.ram[REG_A] & 0x0F
        if rate == 0:
            return 0
        return 32768 >> ((rate if rate > 2 else rate + 7) - 1)    # rates 1, 2 are 256, 128 Hz

    def _schedule(self, cycles: int):
        hz = self.periodic_hz()
        on = self.ram[REG_B] & REG_B_PIE and hz
        self.next_periodic = ticks_at(cycles, hz, self.cpu_hz) + 1 if on else None
        uie = self.ram[REG_B] & REG_B_UIE
        self.next_update = cycles // self.cpu_hz + 1 if uie else None

    def next_event_cycle(self):
        events = []
        if self.next_periodic is not None:
            events.append(cycle_of_tick(self.next_periodic, self.periodic_hz(), self.cpu_hz))
        if self.next_update is not None:
            events.append(self.next_update * self.cpu_hz)
        return min(events) if events else None

    def advance(self, cycles: int):
        flags = 0
        if self.next_periodic is not None:
            hz = self.periodic_hz()
            if cycle_of_tick(self.next_periodic, hz, self.cpu_hz) <= cycles:
                flags |= REG_C_PF
                self.next_periodic = ticks_at(cycles, hz, self.cpu_hz) + 1
        if self.next_update is not None and self.next_update * self.cpu_hz <= cycles:
            flags |= REG_C_UF
            self.next_update = cycles // self.cpu_hz + 1
        if flags:
            self.ram[REG_C] |= flags | REG_C_IRQF
            self.board.set_irq(RTC_IRQ, True)

    def register(self, ports, memory):
        ports.register(0x70, 2, self)
