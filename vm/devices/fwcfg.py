"""QEMU's firmware configuration device (fw_cfg), I/O interface only.

Port 0x510 (16-bit) selects an item and rewinds it; port 0x511 reads its
bytes one at a time, past the end as 0. Items below 0x20 are fixed keys
(signature "QEMU", the ID bits, RAM size, CPU count, ...); 0x19 is the file
directory, big-endian like QEMU's: a u32 count then {u32 size, u16 select,
u16 reserved, char name[56]} per file; files get selectors from 0x20 up in
name order. Writes to the data port are ignored (QEMU ≥ 2.4 does too).
The DMA interface (ports 0x514-0x51B) is not implemented, so the ID says
only "traditional interface" (bit 0) and SeaBIOS reads byte by byte.
"""

import struct

SELECTOR_PORT = 0x510
DATA_PORT = 0x511

FW_CFG_SIGNATURE = 0x00
FW_CFG_ID = 0x01
FW_CFG_RAM_SIZE = 0x03
FW_CFG_NOGRAPHIC = 0x04
FW_CFG_NB_CPUS = 0x05
FW_CFG_MAX_CPUS = 0x0F
FW_CFG_BOOT_MENU = 0x0E
FW_CFG_FILE_DIR = 0x19
FW_CFG_FILE_FIRST = 0x20
FILE_NAME_LEN = 56
ID_TRADITIONAL = 1

E820_RAM = 1
E820_RESERVED = 2


def e820_table(entries) -> bytes:
    """The `etc/e820` file: packed little-endian {u64 address, u64 length, u32 type}."""
    return b"".join(struct.pack("<QQI", base, length, kind) for base, length, kind in entries)


class FwCfg:
    timed = False

    def __init__(self):
        self.items = {}          # selector -> bytes
        self.files = {}          # name -> bytes
        self.selector = 0
        self.offset = 0
        self.set(FW_CFG_SIGNATURE, b"QEMU")
        self.set(FW_CFG_ID, struct.pack("<I", ID_TRADITIONAL))

    # ---- contents (host side)
    def set(self, key: int, data: bytes):
        self.items[key] = bytes(data)

    def add_file(self, name: str, data: bytes):
        if len(name.encode()) >= FILE_NAME_LEN:
            raise ValueError(f"fw_cfg file name too long: {name!r}")
        self.files[name] = bytes(data)
        self._rebuild_directory()

    def _rebuild_directory(self):
        directory = struct.pack(">I", len(self.files))
        for i, name in enumerate(sorted(self.files)):
            data = self.files[name]
            directory += struct.pack(">IHH", len(data), FW_CFG_FILE_FIRST + i, 0)
            directory += name.encode().ljust(FILE_NAME_LEN, b"\0")
            self.items[FW_CFG_FILE_FIRST + i] = data
        self.items[FW_CFG_FILE_DIR] = directory

    # ---- ports (guest side)
    def port_read(self, port: int, size: int) -> int:
        if port != DATA_PORT:
            return 0     # QEMU: the selector register reads as 0
        value = 0
        data = self.items.get(self.selector, b"")
        for i in range(size):      # a wider read returns consecutive bytes
            if self.offset < len(data):
                value |= data[self.offset] << (8 * i)
            self.offset += 1
        return value

    def port_write(self, port: int, size: int, value: int):
        if port == SELECTOR_PORT:
            self.selector = value & 0xFFFF
            self.offset = 0

    def register(self, ports, memory):
        ports.register(SELECTOR_PORT, 2, self)


def qemu_pc_fwcfg(ram_size: int, cpus: int = 1, boot_order: bytes = b"") -> FwCfg:
    """The items QEMU's `-machine pc` gives SeaBIOS for a RAM size below 3.5 GiB."""
    fw = FwCfg()
    fw.set(FW_CFG_RAM_SIZE, struct.pack("<Q", ram_size))
    fw.set(FW_CFG_NB_CPUS, struct.pack("<H", cpus))
    fw.set(FW_CFG_MAX_CPUS, struct.pack("<H", cpus))
    fw.set(FW_CFG_NOGRAPHIC, struct.pack("<H", 0))
    fw.set(FW_CFG_BOOT_MENU, struct.pack("<H", 0))
    fw.add_file("etc/e820", e820_table([(0, ram_size, E820_RAM)]))
    fw.add_file("bootorder", boot_order)
    return fw
