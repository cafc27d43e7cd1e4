"""The 8254 programmable interval timer (ports 0x40-0x43) and port 0x61.

Time is the CPU's cycle counter converted to 1.193182 MHz ticks (see
clock.py), so the timer is deterministic. Channel 0's output drives IRQ0 on
its rising edges; modes 0 (interrupt on terminal count), 2 (rate generator),
3 (square wave) and 4 (software strobe) are modelled; 1 and 5 behave like 0
and 4 once triggered. Channel 2's gate and output are on port 0x61 (the
classic calibration loop), as is the refresh toggle bit 4.
"""

from .clock import PIT_HZ, cycle_of_tick, ticks_at

PERIODIC_MODES = (2, 3)


class Channel:
    def __init__(self, index: int):
        self.index = index
        self.mode = 0
        self.access = 3            # 1: low byte, 2: high byte, 3: low then high
        self.bcd = False
        self.reload = 0            # 0 counts as 65536
        self.load_tick = None      # tick the current count started, None if idle
        self.gate = index != 2     # channels 0 and 1 have their gate tied high
        self.write_low_next = True
        self.pending_low = 0
        self.read_low_next = True
        self.latched = []          # bytes latched for reading
        self.status_latched = None
        self.null_count = True
        self.next_edge = None      # tick of the next rising OUT edge (IRQ0 for ch 0)

    @property
    def period(self) -> int:
        return self.reload or 0x10000

    # ------------------------------------------------------------ counting
    def start(self, now: int):
        self.load_tick = now
        self.null_count = False
        n = self.period
        self.next_edge = now + (n + 1 if self.mode in (4, 5) else n)

    def count(self, now: int) -> int:
        if self.load_tick is None:
            return self.reload
        elapsed = now - self.load_tick
        n = self.period
        if self.mode in PERIODIC_MODES:
            step = 2 if self.mode == 3 else 1
            return (n - (elapsed * step) % n) & 0xFFFF
        return (n - elapsed) & 0xFFFF

    def output(self, now: int) -> bool:
        if self.load_tick is None:
            return self.mode != 0
        elapsed = now - self.load_tick
        n = self.period
        if self.mode == 2:
            return elapsed % n != n - 1
        if self.mode == 3:
            return elapsed % n < (n + 1) // 2
        if self.mode in (4, 5):
            return elapsed != n
        return elapsed >= n

    def edge_delivered(self, now: int):
        """Advance next_edge past `now` after its IRQ was raised."""
        if self.mode in PERIODIC_MODES:
            n = self.period
            self.next_edge = self.load_tick + n * ((now - self.load_tick) // n + 1)
        else:
            self.next_edge = None

    # ------------------------------------------------------------ ports
    def write_count(self, value: int, now: int):
        if self.access == 1:
            self._load(value, now)
        elif self.access == 2:
            self._load(value << 8, now)
        elif self.write_low_next:
            self.pending_low = value
            self.write_low_next = False
        else:
            self.write_low_next = True
            self._load(self.pending_low | value << 8, now)

    def _load(self, value: int, now: int):
        if self.bcd:
            value = _from_bcd(value)
        self.reload = value
        if self.gate:
            self.start(now)
        else:
            self.load_tick = None

    def set_control(self, mode: int, access: int, bcd: bool):
        self.mode = mode if mode < 6 else mode - 4     # 6 and 7 alias 2 and 3
        self.access = access
        self.bcd = bcd
        self.write_low_next = True
        self.read_low_next = True
        self.latched = []
        self.status_latched = None
        self.load_tick = None
        self.next_edge = None
        self.null_count = True

    def latch_count(self, now: int):
        if self.latched:
            return                 # a second latch before reading is ignored
        value = self.count(now)
        if self.access == 1:
            self.latched = [value & 0xFF]
        elif self.access == 2:
            self.latched = [value >> 8]
        else:
            self.latched = [value & 0xFF, value >> 8]

    def latch_status(self, now: int):
        if self.status_latched is None:
            self.status_latched = (self.output(now) << 7 | self.null_count << 6
                                   | self.access << 4 | self.mode << 1 | self.bcd)

    def read(self, now: int) -> int:
        if self.status_latched is not None:
            value, self.status_latched = self.status_latched, None
            return value
        if self.latched:
            return self.latched.pop(0)
        value = self.count(now)
        if self.access == 1:
            return value & 0xFF
        if self.access == 2:
            return value >> 8
        low_now = self.read_low_next
        self.read_low_next = not low_now
        return value & 0xFF if low_now else value >> 8

    def set_gate(self, level: bool, now: int):
        rising = level and not self.gate
        self.gate = level
        if rising and (self.mode in (1, 2, 3, 5) or self.load_tick is None):
            self.start(now)
        elif not level and self.mode in PERIODIC_MODES:
            self.load_tick = None
            self.next_edge = None


def _from_bcd(value: int) -> int:
    return sum(((value >> (4 * i)) & 0xF) * 10 ** i for i in range(4))


class PIT8254:
    """Three channels; channel 0 → IRQ0 through `board.pulse_irq`."""

    def __init__(self, board, cpu_hz: int):
        self.board = board
        self.cpu_hz = cpu_hz
        self.channels = [Channel(i) for i in range(3)]
        self.speaker_data = False

    def now(self) -> int:
        return ticks_at(self.board.cycles(), PIT_HZ, self.cpu_hz)

    # ------------------------------------------------------------ events
    def next_event_cycle(self):
        edge = self.channels[0].next_edge
        return None if edge is None else cycle_of_tick(edge, PIT_HZ, self.cpu_hz)

    def advance(self, cycles: int):
        channel = self.channels[0]
        now = ticks_at(cycles, PIT_HZ, self.cpu_hz)
        if channel.next_edge is not None and channel.next_edge <= now:
            channel.edge_delivered(now)
            self.board.pulse_irq(0)

    # ------------------------------------------------------------ ports
    def port_read(self, port: int, size: int) -> int:
        now = self.now()
        if port == 0x61:
            return self._read_port_b(now)
        if port == 0x43:
            return 0xFF
        return self.channels[port - 0x40].read(now)

    def port_write(self, port: int, size: int, value: int):
        value &= 0xFF
        now = self.now()
        if port == 0x61:
            self.speaker_data = bool(value & 2)
            self.channels[2].set_gate(bool(value & 1), now)
        elif port == 0x43:
            self._control(value, now)
        else:
            self.channels[port - 0x40].write_count(value, now)
        self.board.events_changed()

    def _control(self, value: int, now: int):
        select = value >> 6
        if select == 3:
            self._read_back(value, now)
            return
        channel = self.channels[select]
        access = (value >> 4) & 3
        if access == 0:
            channel.latch_count(now)
        else:
            channel.set_control((value >> 1) & 7, access, bool(value & 1))

    def _read_back(self, value: int, now: int):
        for index in range(3):
            if value & (2 << index):
                channel = self.channels[index]
                if not value & 0x20:
                    channel.latch_count(now)
                if not value & 0x10:
                    channel.latch_status(now)

    def _read_port_b(self, now: int) -> int:
        refresh = (now // 18) & 1          # toggles every ~15 µs, like DRAM refresh
        out2 = self.channels[2].output(now) if self.channels[2].gate else False
        return (out2 << 5) | (refresh << 4) | (self.speaker_data << 1) | self.channels[2].gate

    def register(self, ports, memory):
        ports.register(0x40, 4, self)
        ports.register(0x61, 1, self)
