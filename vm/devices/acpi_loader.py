"""The ACPI tables for the real firmware, as fw_cfg files with QEMU's
table-loader script (SeaBIOS src/fw/romfile_loader.c runs it).

SeaBIOS on QEMU builds no ACPI tables of its own: it runs the commands in
`etc/table-loader` (128-byte entries, little-endian):
  ALLOCATE (1)     file[56], align u32, zone u8 (1 high RAM, 2 the F-segment):
                   copy the fw_cfg file into memory it reserves;
  ADD_POINTER (2)  dest[56], src[56], offset u32, size u8: add the address
                   where `src` was loaded to the integer at dest+offset;
  ADD_CHECKSUM (3) file[56], offset u32, start u32, length u32: fix the byte
                   at `offset` so [start, start+length) sums to 0.
The tables are the built-in BIOS's (vm.bios.acpi.AcpiTables: FACS, DSDT,
FADT, RSDT at QEMU 7.2's offsets), built at base 0 so every pointer in them
is an offset into the blob, which the loader turns into an address. Like
QEMU the blob is padded to 128 KiB (ACPI_BUILD_TABLE_SIZE) and allocated
64-aligned in high RAM, so under SeaBIOS it lands at the same place as
QEMU's and the built-in BIOS's: the top 128 KiB of RAM.
"""

import struct

from vm.bios.acpi import (DSDT_OFFSET, FACS_OFFSET, FADT_OFFSET, RSDT_OFFSET, AcpiTables)

TABLES_FILE = "etc/acpi/tables"
RSDP_FILE = "etc/acpi/rsdp"
LOADER_FILE = "etc/table-loader"
TABLE_SIZE = 0x20000                  # QEMU's ACPI_BUILD_TABLE_SIZE
ALLOCATE, ADD_POINTER, ADD_CHECKSUM = 1, 2, 3
ZONE_HIGH, ZONE_FSEG = 1, 2
ENTRY_SIZE = 128
NAME_SIZE = 56
HEADER_CHECKSUM = 9                   # every table header's checksum byte
RSDP_CHECKSUM, RSDP_LENGTH, RSDP_RSDT = 8, 20, 16


def _name(name: str) -> bytes:
    return name.encode().ljust(NAME_SIZE, b"\0")


def _entry(command: int, body: bytes) -> bytes:
    return (struct.pack("<I", command) + body).ljust(ENTRY_SIZE, b"\0")


def allocate(name: str, align: int, zone: int) -> bytes:
    return _entry(ALLOCATE, _name(name) + struct.pack("<IB", align, zone))


def add_pointer(dest: str, src: str, offset: int, size: int = 4) -> bytes:
    return _entry(ADD_POINTER, _name(dest) + _name(src) + struct.pack("<IB", offset, size))


def add_checksum(name: str, offset: int, start: int, length: int) -> bytes:
    return _entry(ADD_CHECKSUM, _name(name) + struct.pack("<III", offset, start, length))


def _table_length(blob: bytes, offset: int) -> int:
    return struct.unpack_from("<I", blob, offset + 4)[0]


def acpi_files():
    """{fw_cfg file name: contents} for the tables, the RSDP and the loader."""
    tables = AcpiTables(0)
    blob = bytearray(tables.blob.ljust(TABLE_SIZE, b"\0"))
    rsdp = bytearray(tables.rsdp)
    # pointers inside the blob hold offsets; their checksums are the loader's to make
    fadt_len, rsdt_len = _table_length(blob, FADT_OFFSET), _table_length(blob, RSDT_OFFSET)
    for offset in (FADT_OFFSET, RSDT_OFFSET, DSDT_OFFSET):
        blob[offset + HEADER_CHECKSUM] = 0
    rsdp[RSDP_CHECKSUM] = 0
    commands = [
        allocate(TABLES_FILE, 64, ZONE_HIGH),
        add_checksum(TABLES_FILE, DSDT_OFFSET + HEADER_CHECKSUM, DSDT_OFFSET, _table_length(blob, DSDT_OFFSET)),
        add_pointer(TABLES_FILE, TABLES_FILE, FADT_OFFSET + 36),        # FIRMWARE_CTRL -> FACS
        add_pointer(TABLES_FILE, TABLES_FILE, FADT_OFFSET + 40),        # DSDT
        add_checksum(TABLES_FILE, FADT_OFFSET + HEADER_CHECKSUM, FADT_OFFSET, fadt_len),
    ]
    for entry in range(RSDT_OFFSET + 36, RSDT_OFFSET + rsdt_len, 4):   # RSDT -> FADT (and any others)
        commands.append(add_pointer(TABLES_FILE, TABLES_FILE, entry))
    commands += [
        add_checksum(TABLES_FILE, RSDT_OFFSET + HEADER_CHECKSUM, RSDT_OFFSET, rsdt_len),
        allocate(RSDP_FILE, 16, ZONE_FSEG),
        add_pointer(RSDP_FILE, TABLES_FILE, RSDP_RSDT),
        add_checksum(RSDP_FILE, RSDP_CHECKSUM, 0, RSDP_LENGTH),
    ]
    assert FACS_OFFSET == 0          # the FACS needs no pointer of its own: it starts the blob
    return {TABLES_FILE: bytes(blob), RSDP_FILE: bytes(rsdp), LOADER_FILE: b"".join(commands)}


def run_table_loader(files, write, allocate_in):
    """Execute a table-loader script host-side, as SeaBIOS does (for tests and
    checks): `allocate_in(zone, size, align) -> address`, `write(address, bytes)`.
    Returns {file: address}."""
    script = files[LOADER_FILE]
    loaded, data = {}, {}
    for at in range(0, len(script), ENTRY_SIZE):
        command = struct.unpack_from("<I", script, at)[0]
        body = script[at + 4:at + ENTRY_SIZE]
        name = body[:NAME_SIZE].rstrip(b"\0").decode()
        if command == ALLOCATE:
            align, zone = struct.unpack_from("<IB", body, NAME_SIZE)
            loaded[name] = allocate_in(zone, len(files[name]), align)
            data[name] = bytearray(files[name])
        elif command == ADD_POINTER:
            src = body[NAME_SIZE:2 * NAME_SIZE].rstrip(b"\0").decode()
            offset, size = struct.unpack_from("<IB", body, 2 * NAME_SIZE)
            value = int.from_bytes(data[name][offset:offset + size], "little") + loaded[src]
            data[name][offset:offset + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
        elif command == ADD_CHECKSUM:
            offset, start, length = struct.unpack_from("<III", body, NAME_SIZE)
            data[name][offset] = (data[name][offset] - sum(data[name][start:start + length])) & 0xFF
    for name, address in loaded.items():
        write(address, bytes(data[name]))
    return loaded
