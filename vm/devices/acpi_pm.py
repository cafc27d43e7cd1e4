"""The PIIX4 ACPI power-management block at 0x600, as QEMU's -machine pc has it.

PM1a event block 0x600 (status, enable), PM1a control 0x604, the PM timer
0x608 (24-bit, 3.579545 MHz, from emulated cycles), and the APM/SMI command
port 0xB2 through which the OS switches ACPI mode on (SCI_EN). Writing
SLP_EN with SLP_TYP 0 (the value the DSDT's \\_S5_ package gives, so 0x2000)
powers the machine off; SLP_TYP 1 (\\_S3_) is a suspend we do not model and
is reported as a guest error.
"""

from .clock import ACPI_PM_TIMER_HZ, ticks_at

PM_BASE = 0x600
PM1_CNT = PM_BASE + 4
PM_TMR = PM_BASE + 8
SMI_CMD = 0xB2
ACPI_ENABLE, ACPI_DISABLE = 0xF1, 0xF0
SLP_EN = 1 << 13
SCI_EN = 1
S5_SLP_TYP = 0


class AcpiPM:
    def __init__(self, board, cpu_hz: int):
        self.board = board
        self.cpu_hz = cpu_hz
        self.pm1_status = 0
        self.pm1_enable = 0
        self.pm1_control = 0

    def port_read(self, port: int, size: int) -> int:
        if port == SMI_CMD:
            return 0
        if PM_TMR <= port < PM_TMR + 4:
            timer = ticks_at(self.board.cycles(), ACPI_PM_TIMER_HZ, self.cpu_hz) & 0xFFFFFF
            return (timer >> (8 * (port - PM_TMR))) & (0xFFFFFFFF >> (32 - 8 * size))
        registers = (self.pm1_status | self.pm1_enable << 16 | self.pm1_control << 32)
        return (registers >> (8 * (port - PM_BASE))) & (0xFFFFFFFF >> (32 - 8 * size))

    def port_write(self, port: int, size: int, value: int):
        if port == SMI_CMD:
            self._smi_command(value & 0xFF)
        elif port in (PM_BASE, PM_BASE + 1):
            self.pm1_status &= ~(value << (8 * (port - PM_BASE)))   # write 1 to clear
        elif port in (PM_BASE + 2, PM_BASE + 3):
            shift = 8 * (port - PM_BASE - 2)
            self.pm1_enable = (self.pm1_enable & ~(0xFF << shift) | value << shift) & 0xFFFF
        elif port in (PM1_CNT, PM1_CNT + 1):
            shift = 8 * (port - PM1_CNT)
            mask = 0xFFFF if size >= 2 else 0xFF << shift
            self._control((self.pm1_control & ~mask | (value << shift) & mask) & 0xFFFF)

    def _smi_command(self, command: int):
        if command == ACPI_ENABLE:
            self.pm1_control |= SCI_EN
        elif command == ACPI_DISABLE:
            self.pm1_control &= ~SCI_EN

    def _control(self, value: int):
        self.pm1_control = value & ~SLP_EN          # SLP_EN reads back as 0
        if value & SLP_EN:
            sleep_type = (value >> 10) & 7
            if sleep_type == S5_SLP_TYP:
                self.board.request_exit("poweroff", 0)
            else:
                self.board.log("guest_errors", f"ACPI sleep type {sleep_type} requested; only S5 (0) is modelled")

    def register(self, ports, memory):
        ports.register(PM_BASE, 12, self)
        ports.register(SMI_CMD, 1, self)
