"""SMBIOS tables for the real firmware, as the fw_cfg files QEMU gives
SeaBIOS: `etc/smbios/smbios-anchor` (a 31-byte SMBIOS 2.1 entry point,
"_SM_") and `etc/smbios/smbios-tables` (the structures).

SeaBIOS (src/fw/biostables.c) adds its own type 0 (BIOS information), puts
the structures in the F-segment when they fit in 600 bytes, then the entry
point below them. The structures are QEMU 7.2's set for -machine pc with
one CPU, the same types, fields and strings (1 system, 3 chassis, 4
processor, 16 memory array, 17 memory device, 19 array mapping, 32 boot
information, 127 end), so they take the same room, and what SeaBIOS
allocates after them (the ACPI RSDP) lands at QEMU's address too.
Without these files SeaBIOS builds smaller tables of its own.
"""

import struct

ANCHOR_FILE = "etc/smbios/smbios-anchor"
TABLES_FILE = "etc/smbios/smbios-tables"
MACHINE = "pc-i440fx-7.2"
PRODUCT = "Standard PC (i440FX + PIIX, 1996)"


def structure(kind: int, handle: int, formatted: bytes, strings=()) -> bytes:
    """Header (type, length, handle), the formatted area, then the string set
    (each NUL-terminated, the set ended by one more NUL; two NULs if empty)."""
    body = struct.pack("<BBH", kind, 4 + len(formatted), handle) + formatted
    text = b"".join(s.encode() + b"\0" for s in strings)
    return body + (text + b"\0" if text else b"\0\0")


def smbios_structures(ram_size: int):
    kib = ram_size >> 10
    mib = ram_size >> 20
    system = struct.pack("<BBBB16sBBB", 1, 2, 3, 0, bytes(16), 6, 0, 0)      # wake-up: power switch
    chassis = struct.pack("<BBBBBBBBBIBBBBB", 1, 0x01, 2, 0, 0, 3, 3, 3, 2, 0, 0, 0, 0, 0, 0)
    processor = struct.pack("<BBBB8sBBHHHBBHHHBBBBBBHH", 1, 3, 0x01, 2, bytes(8), 3, 0, 0, 2000, 2000,
                            0x41, 0x01, 0xFFFF, 0xFFFF, 0xFFFF, 0, 0, 0, 1, 1, 1, 0x02, 0x01)
    array = struct.pack("<BBBIHHQ", 0x01, 0x03, 0x06, kib, 0xFFFE, 1, 0)
    device = struct.pack("<HHHHHBBBBBHHBBBBBIHHHH", 0x1000, 0xFFFE, 0xFFFF, 0xFFFF, mib, 0x09, 0, 1, 0,
                         0x07, 0x02, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    mapping = struct.pack("<IIHBQQ", 0, kib - 1, 0x1000, 1, 0, 0)
    boot = struct.pack("<6sB", bytes(6), 0)
    return [
        structure(1, 0x0100, system, ("QEMU", PRODUCT, MACHINE)),
        structure(3, 0x0300, chassis, ("QEMU", MACHINE)),
        structure(4, 0x0400, processor, ("CPU 0", "QEMU", MACHINE)),
        structure(16, 0x1000, array),
        structure(17, 0x1100, device, ("DIMM 0", "QEMU")),
        structure(19, 0x1300, mapping),
        structure(32, 0x2000, boot),
        structure(127, 0x7F00, b""),
    ]


def _fix(data: bytearray, at: int, start: int, end: int):
    data[at] = 0
    data[at] = -sum(data[start:end]) & 0xFF


def anchor(tables: bytes, count: int, largest: int) -> bytes:
    """The 2.1 entry point; SeaBIOS fills in the table address and redoes the checksums."""
    ep = bytearray(struct.pack("<4sBBBBHB5s5sBHIHB", b"_SM_", 0, 31, 2, 8, largest, 0, bytes(5),
                               b"_DMI_", 0, len(tables), 0, count, 0x28))
    _fix(ep, 0x15, 0x10, 31)
    _fix(ep, 0x04, 0, 31)
    return bytes(ep)


def smbios_files(ram_size: int):
    structures = smbios_structures(ram_size)
    tables = b"".join(structures)
    return {TABLES_FILE: tables, ANCHOR_FILE: anchor(tables, len(structures), max(map(len, structures)))}
