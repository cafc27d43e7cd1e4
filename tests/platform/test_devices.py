"""Each device driven directly through its port/MMIO interface."""

import datetime

from platform_fakes import FakeBoard, FakeCPU, output

from vm.devices.acpi_pm import AcpiPM
from vm.devices.clock import CPU_HZ, PIT_HZ, cycle_of_tick, ticks_at
from vm.devices.cmos import CMOS
from vm.devices.debug_exit import DebugExit
from vm.devices.kbc import KeyboardController
from vm.devices.pic import DualPIC
from vm.devices.pit import PIT8254
from vm.devices.system_control import SystemControl
from vm.devices.uart import UART16550
from vm.devices.vga import VGAText


def init_pic(pic, master_base=0x20, slave_base=0x28):
    for port, values in ((0x20, (0x11,)), (0x21, (master_base, 4, 1)), (0xA0, (0x11,)), (0xA1, (slave_base, 2, 1))):
        for v in values:
            pic.port_write(port, 1, v)


def test_pic_delivers_highest_priority_and_needs_eoi():
    cpu = FakeCPU()
    pic = DualPIC(cpu)
    init_pic(pic)
    pic.port_write(0x21, 1, 0x00)
    pic.port_write(0xA1, 1, 0x00)
    pic.pulse_irq(3)
    pic.pulse_irq(1)
    assert cpu.irq_pending
    assert pic.acknowledge() == 0x21
    assert not cpu.irq_pending          # IRQ3 waits: IRQ1 is in service
    pic.port_write(0x20, 1, 0x20)       # EOI
    assert cpu.irq_pending
    assert pic.acknowledge() == 0x23


def test_pic_mask_and_slave_cascade():
    cpu = FakeCPU()
    pic = DualPIC(cpu)
    init_pic(pic)
    pic.port_write(0x21, 1, 0xFF)
    pic.pulse_irq(0)
    assert not cpu.irq_pending
    assert pic.port_read(0x21, 1) == 0xFF
    pic.port_write(0x21, 1, 0xFE)
    assert cpu.irq_pending                   # the request was latched while masked
    assert pic.acknowledge() == 0x20
    pic.port_write(0x20, 1, 0x20)
    pic.port_write(0x21, 1, 0xFB)
    pic.port_write(0xA1, 1, 0x00)
    pic.pulse_irq(12)
    assert pic.acknowledge() == 0x2C
    pic.port_write(0x0A0, 1, 0x0B)           # OCW3: read ISR
    assert pic.port_read(0xA0, 1) == 0x10


def test_pic_spurious_irq7():
    cpu = FakeCPU()
    pic = DualPIC(cpu)
    init_pic(pic, 0x40)
    assert pic.acknowledge() == 0x47
    pic.port_write(0x20, 1, 0x0B)
    assert pic.port_read(0x20, 1) == 0       # nothing went in service


def test_clock_conversions_are_exact():
    for tick in (0, 1, 11932, 65536, 10**9):
        c = cycle_of_tick(tick, PIT_HZ)
        assert ticks_at(c, PIT_HZ) == tick and ticks_at(c - 1, PIT_HZ) < tick or tick == 0


def test_pit_mode2_rate():
    board = FakeBoard()
    pit = PIT8254(board, CPU_HZ)
    pit.port_write(0x43, 1, 0x34)
    pit.port_write(0x40, 1, 11932 & 0xFF)
    pit.port_write(0x40, 1, 11932 >> 8)
    fired = []
    for _ in range(10):
        board.now = pit.next_event_cycle()
        pit.advance(board.now)
        fired.append(board.now)
    assert len(board.irqs) == 10
    periods = {b - a for a, b in zip(fired, fired[1:])}
    assert all(abs(p - 11932 * CPU_HZ / PIT_HZ) < 2 for p in periods)


def test_pit_mode0_one_shot_and_latch():
    board = FakeBoard()
    pit = PIT8254(board, CPU_HZ)
    pit.port_write(0x43, 1, 0x30)
    pit.port_write(0x40, 1, 100)
    pit.port_write(0x40, 1, 0)
    board.now = cycle_of_tick(40, PIT_HZ)
    pit.port_write(0x43, 1, 0x00)            # latch channel 0
    assert pit.port_read(0x40, 1) | pit.port_read(0x40, 1) << 8 == 60
    board.now = pit.next_event_cycle()
    pit.advance(board.now)
    assert board.irqs == [(0, "pulse")]
    assert pit.next_event_cycle() is None


def test_pit_channel2_gate_and_out_on_port_61():
    board = FakeBoard()
    pit = PIT8254(board, CPU_HZ)
    pit.port_write(0x61, 1, 0)
    pit.port_write(0x43, 1, 0xB0)            # channel 2, mode 0
    pit.port_write(0x42, 1, 10)
    pit.port_write(0x42, 1, 0)
    pit.port_write(0x61, 1, 1)               # gate on: counting starts
    assert not pit.port_read(0x61, 1) & 0x20
    board.now = cycle_of_tick(11, PIT_HZ)
    assert pit.port_read(0x61, 1) & 0x20


def test_uart_output_lsr_and_loopback_echo():
    out = output()
    board = FakeBoard()
    uart = UART16550(board, out, b"hi")
    uart.port_write(0x3F8, 1, ord("A"))
    assert out.getvalue() == b"A"
    assert uart.port_read(0x3FD, 1) & 0x61 == 0x61      # DR, THRE, TEMT
    assert bytes((uart.port_read(0x3F8, 1), uart.port_read(0x3F8, 1))) == b"hi"
    assert uart.port_read(0x3FD, 1) & 1 == 0
    uart.port_write(0x3FC, 1, 0x10)                       # loopback
    uart.port_write(0x3F8, 1, 0x5A)
    assert uart.port_read(0x3F8, 1) == 0x5A
    assert out.getvalue() == b"A"


def test_uart_receive_interrupt():
    board = FakeBoard()
    uart = UART16550(board, None, b"")
    uart.port_write(0x3F9, 1, 0x01)
    assert uart.port_read(0x3FA, 1) == 0x01
    uart.feed(b"x")
    assert board.irqs[-1] == (4, True)
    assert uart.port_read(0x3FA, 1) & 0x0F == 0x04
    uart.port_read(0x3F8, 1)
    assert board.irqs[-1] == (4, False)


def test_cmos_fixed_time_and_memory_size():
    board = FakeBoard()
    cmos = CMOS(board, 128 << 20, datetime.datetime(2024, 2, 29, 23, 59, 58))

    def reg(i):
        cmos.port_write(0x70, 1, i)
        return cmos.port_read(0x71, 1)
    assert [reg(i) for i in (0, 2, 4, 7, 8, 9, 0x32)] == [0x58, 0x59, 0x23, 0x29, 0x02, 0x24, 0x20]
    board.now = 3 * CPU_HZ
    assert (reg(0), reg(4), reg(7), reg(8)) == (0x01, 0x00, 0x01, 0x03)
    assert reg(0x15) | reg(0x16) << 8 == 640
    assert reg(0x34) | reg(0x35) << 8 == (128 - 16) * 16


def test_vga_mmio_and_dump():
    vga = VGAText()
    for i, ch in enumerate(b"Hi"):
        vga.mmio_write(0xB8000 + 2 * i, 2, 0x0700 | ch)
    vga.mmio_write(0xB8000 + 160, 1, ord("!"))
    assert vga.screen_text() == "Hi\n!\n"
    assert vga.mmio_read(0xB8000, 2) == 0x0748


def test_acpi_s5_powers_off_and_other_states_do_not():
    board = FakeBoard()
    pm = AcpiPM(board, CPU_HZ)
    pm.port_write(0xB2, 1, 0xF1)
    assert pm.port_read(0x604, 2) & 1
    pm.port_write(0x604, 2, 0x0400 | 0x2000)    # S3
    assert board.exits == []
    pm.port_write(0x604, 2, 0x2000)
    assert board.exits == [("poweroff", 0)]


def test_debug_exit_status():
    board = FakeBoard()
    DebugExit(board).port_write(0xF4, 1, 0x10)
    assert board.exits == [("debug-exit", 0x21)]


def test_a20_and_reset_paths():
    board = FakeBoard()
    sc = SystemControl(board)
    sc.port_write(0x92, 1, 0)
    assert not board.a20 and sc.port_read(0x92, 1) == 0
    sc.port_write(0x92, 1, 2)
    assert board.a20
    kbc = KeyboardController(board)
    kbc.port_write(0x64, 1, 0xD1)
    kbc.port_write(0x60, 1, 0xDD)            # A20 off, reset line high
    assert not board.a20 and not board.resets
    kbc.port_write(0x64, 1, 0xD0)
    assert kbc.port_read(0x64, 1) & 1 and kbc.port_read(0x60, 1) == 0xDD     # the latch reads back
    kbc.port_write(0x64, 1, 0xFE)
    assert board.resets


def test_uart_transmitter_empty_interrupt():
    board = FakeBoard()
    uart = UART16550(board, output(), b"")
    uart.port_write(0x3F9, 1, 0x02)                       # IER: THR empty
    assert board.irqs[-1] == (4, True)
    assert uart.port_read(0x3FA, 1) & 0x0F == 0x02        # IIR: THR empty; reading clears it
    assert board.irqs[-1] == (4, False)
    assert uart.port_read(0x3FA, 1) & 0x0F == 0x01
    uart.port_write(0x3F8, 1, 0x41)                       # sending re-arms it
    assert board.irqs[-1] == (4, True)


def test_uart_polled_sends_move_no_line_until_ier_enables_thr_empty():
    board = FakeBoard()
    uart = UART16550(board, output(), b"")
    for ch in b"abc":                                     # a polled console: IER 0
        uart.port_write(0x3F8, 1, ch)
    assert board.irqs == [] and uart.port_read(0x3FA, 1) == 0x01
    uart.port_write(0x3F9, 1, 0x02)                       # THR is empty: the line rises now
    assert board.irqs == [(4, True)]


def test_uart_loopback_byte_raises_the_receive_interrupt():
    board = FakeBoard()
    uart = UART16550(board, output(), b"")
    uart.port_write(0x3F9, 1, 0x01)                       # IER: received data
    uart.port_write(0x3FC, 1, 0x10)                       # loopback
    uart.port_write(0x3F8, 1, 0x5A)
    assert board.irqs[-1] == (4, True)
    assert uart.port_read(0x3FA, 1) & 0x0F == 0x04 and uart.port_read(0x3F8, 1) == 0x5A
    assert board.irqs[-1] == (4, False)


def test_rtc_periodic_rate_and_register_c():
    board = FakeBoard()
    cmos = CMOS(board, 16 << 20)
    cmos.port_write(0x70, 1, 0x0A)
    cmos.port_write(0x71, 1, 0x2F)                        # rate 15: 2 Hz
    cmos.port_write(0x70, 1, 0x0B)
    cmos.port_write(0x71, 1, 0x42)                        # PIE
    assert cmos.periodic_hz() == 2
    board.now = cmos.next_event_cycle()
    assert board.now == CPU_HZ // 2
    cmos.advance(board.now)
    assert board.irqs[-1] == (8, True)
    cmos.port_write(0x70, 1, 0x0C)
    assert cmos.port_read(0x71, 1) == 0xC0 and board.irqs[-1] == (8, False)
