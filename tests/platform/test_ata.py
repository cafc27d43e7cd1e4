"""The ATA PIO disk (vm/devices/ata.py) driven through its ports the way
SeaBIOS's src/hw/ata.c drives it, and the ports on a running machine."""

import struct

from vm.bios.disk import Disk
from vm.devices.ata import AtaChannel, identify_data

BASE, CONTROL = 0x1F0, 0x3F6


class Board:
    def __init__(self):
        self.irq = []

    def set_irq(self, irq, level):
        self.irq.append((irq, level))

    def log(self, category, message):
        pass


def channel(sectors=3000):
    image = bytes(i // 512 & 0xFF for i in range(512 * sectors))
    return AtaChannel(Board(), Disk(image))


def out(ch, reg, value):
    ch.port_write(BASE + reg, 1, value)


def inb(ch, reg):
    return ch.port_read(BASE + reg, 1)


def read_block(ch, words=256):
    return b"".join(ch.port_read(BASE, 2).to_bytes(2, "little") for _ in range(words))


def test_register_check_and_soft_reset_signature():
    ch = channel()
    out(ch, 6, 0xA0)
    out(ch, 2, 0x55)
    out(ch, 3, 0xAA)
    assert (inb(ch, 2), inb(ch, 3), inb(ch, 6)) == (0x55, 0xAA, 0xA0)
    ch.port_write(CONTROL, 1, 0x08 | 0x02 | 0x04)        # SRST
    assert inb(ch, 7) & 0x80                              # busy while reset is held
    ch.port_write(CONTROL, 1, 0x08 | 0x02)
    assert (inb(ch, 7), inb(ch, 1), inb(ch, 2), inb(ch, 3), inb(ch, 4), inb(ch, 5)) == (0x50, 1, 1, 1, 0, 0)


def test_absent_slave_reads_status_zero_but_latches_registers():
    ch = channel()
    out(ch, 6, 0xB0)
    out(ch, 2, 0x55)
    assert (inb(ch, 7), inb(ch, 2), inb(ch, 6)) == (0, 0x55, 0xB0)
    out(ch, 7, 0xEC)                                      # ignored: no device 1
    assert inb(ch, 7) == 0


def test_identify_packet_aborts_and_identify_device_is_qemu_harddisk():
    ch = channel(122)
    out(ch, 6, 0xA0)
    out(ch, 7, 0xA1)
    assert (inb(ch, 7), inb(ch, 1)) == (0x41, 0x04)      # RDY|ERR, ABRT: not an ATAPI device
    out(ch, 7, 0xEC)
    assert inb(ch, 7) == 0x58                             # RDY|SKC|DRQ
    words = struct.unpack("<256H", read_block(ch))
    assert inb(ch, 7) == 0x50
    model = bytes(b for w in words[27:47] for b in w.to_bytes(2, "big")).decode().rstrip()
    assert model == "QEMU HARDDISK"
    assert (words[1], words[3], words[6]) == (2, 16, 63)           # SeaBIOS prints PCHS=2/16/63
    assert words[60] | words[61] << 16 == 122 and words[100] == 122
    assert words[83] & (1 << 10) and max(b for b in range(16) if words[80] >> b & 1) == 7   # LBA48, ATA-7
    assert identify_data(122) == bytes(struct.pack("<256H", *words))


def test_read_sectors_lba28_chs_lba48_and_multiple():
    ch = channel()
    out(ch, 6, 0xE0 | 0)                                   # LBA, device 0
    out(ch, 2, 2)
    out(ch, 3, 7)
    out(ch, 4, 0)
    out(ch, 5, 0)
    out(ch, 7, 0x20)
    assert read_block(ch) == bytes([7]) * 512
    assert inb(ch, 7) == 0x58                             # the second sector is ready
    assert read_block(ch) == bytes([8]) * 512
    assert inb(ch, 7) == 0x50
    # CHS: cylinder 1, head 2, sector 3 -> (1*16 + 2)*63 + 2 = 1136
    out(ch, 6, 0xA0 | 2)
    out(ch, 2, 1)
    out(ch, 3, 3)
    out(ch, 4, 1)
    out(ch, 5, 0)
    out(ch, 7, 0x20)
    assert read_block(ch) == bytes([1136 & 0xFF]) * 512
    # LBA48: high bytes first, then low (SeaBIOS's send_cmd order)
    out(ch, 6, 0xE0)
    for reg, value in ((2, 0), (3, 0), (4, 0), (5, 0), (2, 1), (3, 0x10), (4, 0x02), (5, 0)):
        out(ch, reg, value)
    out(ch, 7, 0x24)
    assert read_block(ch) == bytes([0x210 & 0xFF]) * 512
    # READ MULTIPLE needs SET MULTIPLE MODE first; then one DRQ block holds 4 sectors
    out(ch, 2, 4)
    out(ch, 7, 0xC4)
    assert inb(ch, 7) & 0x01
    out(ch, 2, 4)
    out(ch, 7, 0xC6)
    out(ch, 3, 20)
    out(ch, 4, 0)
    out(ch, 5, 0)
    out(ch, 2, 5)
    out(ch, 7, 0xC4)
    assert read_block(ch, 4 * 256) == b"".join(bytes([n]) * 512 for n in range(20, 24))
    assert read_block(ch) == bytes([24]) * 512
    assert inb(ch, 7) == 0x50


def test_write_sectors_and_out_of_range_read():
    ch = channel(100)
    out(ch, 6, 0xE0)
    out(ch, 2, 1)
    out(ch, 3, 5)
    out(ch, 4, 0)
    out(ch, 5, 0)
    out(ch, 7, 0x30)
    for i in range(256):
        ch.port_write(BASE, 2, 0xBEEF)
    assert inb(ch, 7) == 0x50
    assert ch.disk.read(5, 1) == b"\xef\xbe" * 256
    out(ch, 3, 99)
    out(ch, 2, 2)
    out(ch, 7, 0x20)                                       # sectors 99 and 100: past the end
    assert (inb(ch, 7), inb(ch, 1)) == (0x41, 0x10)        # ERR, IDNF


def test_completion_raises_irq14_unless_nien():
    ch = channel()
    ch.port_write(CONTROL, 1, 0x08)                        # interrupts on
    out(ch, 6, 0xA0)
    out(ch, 7, 0xEC)
    assert ch.board.irq[-1] == (14, True)
    inb(ch, 7)                                             # reading the status acknowledges
    assert ch.board.irq[-1] == (14, False)
    ch.port_write(CONTROL, 1, 0x08 | 0x02)
    ch.board.irq.clear()
    read_block(ch)
    out(ch, 7, 0xEC)
    assert ch.board.irq == []


def test_secondary_channel_floats_on_the_machine():
    from vm.machine import Machine
    m = Machine(ram_size=16 << 20, timing="off", disk=bytes(512 * 4), qemu_board=True)
    assert m.ports.read(0x177, 1) == 0xFF and m.ports.read(0x1F7, 1) == 0x50
    assert m.qemu_board.pci.functions[(0, 1, 1)].config[0:4] == bytes.fromhex("86801070")


def test_machine_reset_puts_the_disk_back_to_power_on():
    ch = channel()
    out(ch, 2, 8)
    out(ch, 7, 0xC6)
    ch.port_write(CONTROL, 1, 0x0A)
    out(ch, 6, 0xB0)
    ch.reset()
    assert (ch.multiple, ch.control, inb(ch, 6), inb(ch, 7), inb(ch, 2)) == (0, 0, 0xA0, 0x50, 1)
