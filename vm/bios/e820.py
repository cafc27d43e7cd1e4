"""The E820 memory map, laid out as QEMU's -machine pc with SeaBIOS reports it.

For 128 MiB:  0-9FBFF usable, 9FC00-9FFFF reserved (EBDA), F0000-FFFFF
reserved (BIOS), 100000-7FDFFFF usable, 7FE0000-7FFFFFF reserved (the ACPI
tables live here), FFFC0000-FFFFFFFF reserved (the BIOS flash alias).
"""

USABLE, RESERVED = 1, 2
EBDA_BASE = 0x9FC00
HIGH_TABLES_SIZE = 0x20000          # what SeaBIOS keeps at the top of RAM


def memory_map(ram_size: int) -> list[tuple[int, int, int]]:
    """(base, length, type) entries in ascending order."""
    top = ram_size - HIGH_TABLES_SIZE
    return [
        (0, EBDA_BASE, USABLE),
        (EBDA_BASE, 0xA0000 - EBDA_BASE, RESERVED),
        (0xF0000, 0x10000, RESERVED),
        (0x100000, top - 0x100000, USABLE),
        (top, HIGH_TABLES_SIZE, RESERVED),
        (0xFFFC0000, 0x40000, RESERVED),
    ]


def encode_entry(base: int, length: int, kind: int) -> bytes:
    return base.to_bytes(8, "little") + length.to_bytes(8, "little") + kind.to_bytes(4, "little")


def high_tables_base(ram_size: int) -> int:
    return ram_size - HIGH_TABLES_SIZE
