"""The bootable disk image (layout fixed in docs/interfaces.md).

    LBA 0       MBR (512 bytes, ends 55 AA)
    LBA 1-63    stage 2, loaded at 0x7E00
    LBA 64      boot info sector: 'KPYB', kernel sectors, load address, entry,
                memory size, reserved words, command line at offset 64
    LBA 65...   the kernel's loadable bytes, padded to whole sectors
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

SECTOR = 512
STAGE2_LBA, STAGE2_SECTORS = 1, 63
BOOT_INFO_LBA = 64
KERNEL_LBA = 65
BOOT_MAGIC = b"KPYB"
CMDLINE_OFFSET = 64
CMDLINE_MAX = SECTOR - CMDLINE_OFFSET - 1          # 447 bytes and the NUL


class ImageError(Exception):
    """The parts do not fit the fixed layout; ``str`` is the user message."""


@dataclass
class KernelImage:
    """What the image needs to know about the linked kernel."""
    load_address: int        # lowest load (physical) address
    loadable: bytes          # bytes from load_address to the end of the last loaded section
    entry: int               # entry point, virtual
    mem_size: int            # bytes from load_address to the end of .bss


@dataclass
class BootInfo:
    kernel_sectors: int
    kernel_load_phys: int
    kernel_entry_virt: int
    kernel_mem_size: int
    cmdline: str


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % SECTOR)


def boot_info_sector(info: BootInfo) -> bytes:
    try:
        raw = info.cmdline.encode("utf-8")
    except UnicodeEncodeError:      # argv bytes that were not UTF-8 (surrogate-escaped)
        raise ImageError("the boot command line must be UTF-8 text") from None
    if b"\0" in raw:
        raise ImageError("the boot command line must not contain NUL characters")
    if len(raw) > CMDLINE_MAX:
        raise ImageError(f"the boot command line is {len(raw)} bytes, {len(raw) - CMDLINE_MAX} over "
                         f"the limit of {CMDLINE_MAX}")
    head = BOOT_MAGIC + struct.pack("<4I", info.kernel_sectors, info.kernel_load_phys,
                                    info.kernel_entry_virt, info.kernel_mem_size)
    sector = bytearray(SECTOR)
    sector[:len(head)] = head
    sector[CMDLINE_OFFSET:CMDLINE_OFFSET + len(raw)] = raw
    return bytes(sector)


def parse_boot_info(sector: bytes) -> BootInfo:
    """The inverse of boot_info_sector (tests and tools use it)."""
    if sector[:4] != BOOT_MAGIC:
        raise ImageError(f"no boot info sector: magic is {sector[:4]!r}, expected {BOOT_MAGIC!r}")
    sectors, load, entry, size = struct.unpack_from("<4I", sector, 4)
    cmd = sector[CMDLINE_OFFSET:].split(b"\0", 1)[0].decode("utf-8", "replace")
    return BootInfo(sectors, load, entry, size, cmd)


def disk_image(mbr: bytes, stage2: bytes | None, kernel: KernelImage, cmdline: str = "") -> bytes:
    """Assemble the whole disk image."""
    if len(mbr) != SECTOR or mbr[510:] != b"\x55\xaa":
        raise ImageError(f"the MBR must be exactly 512 bytes ending 55 AA (got {len(mbr)} bytes)")
    stage2 = stage2 or b""
    limit = STAGE2_SECTORS * SECTOR
    if len(stage2) > limit:
        raise ImageError(f"stage 2 is {len(stage2)} bytes, {len(stage2) - limit} bytes over its "
                         f"{STAGE2_SECTORS} sectors ({limit} bytes)")
    kernel_bytes = _pad(kernel.loadable)
    info = BootInfo(len(kernel_bytes) // SECTOR, kernel.load_address, kernel.entry, kernel.mem_size, cmdline)
    return (mbr + stage2 + bytes(limit - len(stage2)) + boot_info_sector(info) + kernel_bytes)


def with_cmdline(disk: bytes, cmdline: str) -> bytes:
    """The same disk image with another boot command line (no rebuild needed)."""
    start = BOOT_INFO_LBA * SECTOR
    if len(disk) < start + SECTOR:
        raise ImageError(f"not a kpy disk image: {len(disk)} bytes, too short for the boot info sector")
    info = parse_boot_info(disk[start:start + SECTOR])
    info.cmdline = cmdline
    return disk[:start] + boot_info_sector(info) + disk[start + SECTOR:]
