"""Multiboot (version 1) direct kernel boot, as QEMU's -kernel does it.

The kernel file is searched for the Multiboot header in its first 8 KiB;
its ELF PT_LOAD segments (or, with flag bit 16, the a.out-kludge addresses
of the header) say where it goes. The boot information structure (memory
sizes, the E820 map, the command line, the loader name) is written at 0x9000;
the ROM trampoline then enters flat 32-bit protected mode with
EAX=0x2BADB002 and EBX pointing at it.
"""

import struct

from .e820 import high_tables_base, memory_map

MAGIC = 0x1BADB002
BOOT_MAGIC = 0x2BADB002
INFO_ADDRESS = 0x9000
LOADER_NAME = b"kpy vm\0"
FLAG_MEMORY, FLAG_CMDLINE, FLAG_MMAP, FLAG_LOADER = 1 << 0, 1 << 2, 1 << 6, 1 << 9
SUPPORTED_REQUIREMENTS = 0x3 | 0x4 | 0x10000    # page-align, memory info, video (ignored), a.out kludge


class MultibootError(ValueError):
    pass


class MultibootKernel:
    def __init__(self, image: bytes, ram_size: int, cmdline: str = ""):
        self.image = image
        self.ram_size = ram_size
        self.cmdline = cmdline.encode("utf-8", "surrogateescape") + b"\0"     # argv bytes as given
        header_at = self._find_header()
        flags = struct.unpack_from("<I", image, header_at + 4)[0]
        if flags & 0xFFFF & ~SUPPORTED_REQUIREMENTS:
            raise MultibootError(f"Multiboot header asks for unsupported features (flags {flags:#x})")
        if flags & 0x10000:
            self.segments, self.entry = self._aout_segments(header_at)
        else:
            self.segments, self.entry = self._elf_segments()
        for address, data, mem_size in self.segments:
            if address < 0x100000 and address + mem_size > 0x9000 or address + mem_size > ram_size:
                raise MultibootError(f"kernel segment {address:#x}+{mem_size:#x} does not fit in RAM above 1 MiB")

    def _find_header(self) -> int:
        for at in range(0, min(len(self.image), 8192) - 11, 4):
            magic, flags, checksum = struct.unpack_from("<III", self.image, at)
            if magic == MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
                return at
        raise MultibootError("no Multiboot header in the first 8 KiB of the kernel")

    def _aout_segments(self, at: int):
        if at + 32 > len(self.image):
            raise MultibootError("Multiboot header truncated")
        header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from("<5I", self.image, at + 12)
        start = at - (header_addr - load_addr)
        end = len(self.image) if load_end == 0 else start + (load_end - load_addr)
        if start < 0 or end > len(self.image) or end < start:
            raise MultibootError("Multiboot a.out addresses do not match the file")
        data = self.image[start:end]
        mem_size = max(len(data), (bss_end - load_addr) if bss_end else 0)
        return [(load_addr, data, mem_size)], entry

    def _elf_segments(self):
        image = self.image
        if image[:4] != b"\x7fELF" or len(image) < 52:
            raise MultibootError("kernel is not an ELF file and its Multiboot header has no a.out addresses")
        if image[4] != 1 or image[5] != 1:
            raise MultibootError("kernel ELF is not 32-bit little-endian")
        entry, phoff = struct.unpack_from("<II", image, 24)
        phentsize, phnum = struct.unpack_from("<HH", image, 42)
        if phnum and phentsize < 32:
            # Checked before the loop: size 0 would read one header phnum times.
            raise MultibootError(f"kernel ELF e_phentsize is {phentsize}, below the 32 bytes of a program header")
        segments = []
        for i in range(phnum):
            at = phoff + i * phentsize
            if at + 32 > len(image):
                raise MultibootError("kernel ELF program headers are truncated")
            p_type, offset, _vaddr, paddr, filesz, memsz = struct.unpack_from("<6I", image, at)
            if p_type != 1 or memsz == 0:
                continue
            if offset + filesz > len(image):
                raise MultibootError("kernel ELF segment runs past the end of the file")
            if memsz < filesz:
                raise MultibootError(f"kernel ELF program header {i}: p_memsz {memsz:#x} is below p_filesz {filesz:#x}")
            segments.append((paddr, image[offset:offset + filesz], memsz))
        if not segments:
            raise MultibootError("kernel ELF has no loadable segments")
        return segments, entry

    def load(self, write):
        """Copy the segments and the boot information into RAM via write(addr, bytes)."""
        for address, data, mem_size in self.segments:
            write(address, data + bytes(mem_size - len(data)))
        write(INFO_ADDRESS, self.boot_information())

    def boot_information(self) -> bytes:
        entries = b"".join(struct.pack("<IQQI", 20, base, length, kind)
                           for base, length, kind in memory_map(self.ram_size))
        name_at = INFO_ADDRESS + 0x80
        cmdline_at = INFO_ADDRESS + 0x100
        mmap_at = cmdline_at + len(self.cmdline) + (-len(self.cmdline)) % 16
        flags = FLAG_MEMORY | FLAG_CMDLINE | FLAG_MMAP | FLAG_LOADER
        upper_kib = (high_tables_base(self.ram_size) >> 10) - 1024   # usable RAM above 1 MiB, as QEMU says
        info = bytearray(0x80)
        struct.pack_into("<III", info, 0, flags, 639, upper_kib)
        struct.pack_into("<I", info, 16, cmdline_at)
        struct.pack_into("<II", info, 44, len(entries), mmap_at)
        struct.pack_into("<I", info, 64, name_at)
        block = bytes(info) + LOADER_NAME.ljust(0x80, b"\0") + self.cmdline
        return block.ljust(mmap_at - INFO_ADDRESS, b"\0") + entries
