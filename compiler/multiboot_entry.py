"""A Multiboot-loadable copy of a kernel ELF that expects kpy's stage 2.

A kernel built with an `[image]` table (this repository's) is entered by
stage 2 with paging on, in the higher half, with the hand-off block
(kernel_src/boot/handoff.kpy) at physical 0x3000. A Multiboot loader
(GRUB, QEMU's -kernel, the VM's --kernel) enters with paging off,
EAX=0x2BADB002 and EBX pointing at its information structure. This module
bridges the two without changing one loaded byte of the kernel: it writes,
into the unused file bytes between the ELF program headers and the first
segment (file offset 0x74..0x1000 for a kernel whose first segment is
page aligned),

  - a Multiboot header with the a.out-kludge addresses (flag 16): load the
    file from offset 0 so that each segment lands at its p_paddr, zero the
    .bss, and enter at the code below (the ELF's e_entry is stage 2's entry
    and stays as it is);
  - that code, which does stage 2's protected-mode half: the hand-off
    block from the Multiboot information (command line without the file
    name GRUB and QEMU put first, the memory map as E820 entries, the boot
    drive), the seed's page tables (kernel_src/boot/stage2.kpy's
    build_page_tables), paging, and the call `_entry(info)` on the boot
    stack in the direct map, with the same registers and stack pointer as
    stage 2's call.

The ELF stays a valid ELF (the bytes written are in no section), so the
copy also runs from the disk image's point of view unchanged.
"""
from __future__ import annotations

import io
import struct

MULTIBOOT_MAGIC = 0x1BADB002
FLAG_MEMORY_INFO, FLAG_AOUT_KLUDGE = 1 << 1, 1 << 16
HEADER_SIZE = 32
PT_LOAD = 1

BOOT_INFO = 0x3000                  # kernel_src/boot/handoff.kpy BOOT_INFO_PHYS
BOOT_INFO_SIZE = 520 + 64 * 24      # header and command line, drive, count, 64 E820 entries
HHDM_BASE = 0xC0000000
KERNEL_VIRT = 0xFE000000
HUGE_PAGE = 0x400000
# Stage 2's stack pointer at its `call *entry`, before the direct-map move
# (kernel_main then reports 0xc0007b88 as the main thread's stack, both ways).
ENTRY_STACK = 0x7BDC


class MultibootEntryError(ValueError):
    """The ELF cannot be given a Multiboot entry; ``str`` is the user message."""


def _segments(elf: bytes):
    if elf[:4] != b"\x7fELF" or len(elf) < 52 or elf[4] != 1 or elf[5] != 1:
        raise MultibootEntryError("not a 32-bit little-endian ELF file")
    entry, phoff = struct.unpack_from("<II", elf, 24)
    phentsize, phnum = struct.unpack_from("<HH", elf, 42)
    segments = []
    for i in range(phnum):
        at = phoff + i * phentsize
        if phentsize < 32 or at + 32 > len(elf):
            raise MultibootEntryError("truncated program headers")
        p_type, offset, _vaddr, paddr, filesz, memsz = struct.unpack_from("<6I", elf, at)
        if p_type == PT_LOAD and memsz:
            segments.append((offset, paddr, filesz, memsz))
    if not segments:
        raise MultibootEntryError("the ELF has no loadable segments")
    return entry, phoff + phnum * phentsize, segments


def find_multiboot_header(elf: bytes) -> int | None:
    """Where the Multiboot header is in the first 8 KiB (a kernel of its own,
    `kpy.multiboot`, carries one), or None."""
    for at in range(0, min(len(elf), 8192) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", elf, at)
        if magic == MULTIBOOT_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return at
    return None


def has_multiboot_header(elf: bytes) -> bool:
    return find_multiboot_header(elf) is not None


def loaded_size(elf: bytes) -> int:
    """How many leading bytes of the file a Multiboot loader reads: with
    a.out-kludge addresses, up to load_end_addr; an ELF-loaded kernel, all of
    it (GRUB also reads its section headers)."""
    at = find_multiboot_header(elf)
    if at is None:
        raise MultibootEntryError("no Multiboot header in the first 8 KiB")
    flags = struct.unpack_from("<I", elf, at + 4)[0]
    if not flags & FLAG_AOUT_KLUDGE or at + HEADER_SIZE > len(elf):
        return len(elf)
    header_addr, load_addr, load_end = struct.unpack_from("<3I", elf, at + 12)
    start = at - (header_addr - load_addr)
    if load_end == 0:
        return len(elf)
    if start < 0 or start + load_end - load_addr > len(elf):
        raise MultibootEntryError("the Multiboot a.out addresses do not match the file")
    return start + load_end - load_addr


def with_multiboot_entry(elf: bytes) -> bytes:
    """The ELF with the Multiboot header and entry written into its unused bytes."""
    entry, headers_end, segments = _segments(elf)
    delta = segments[0][1] - segments[0][0]          # p_paddr - p_offset, the same for all
    if any(paddr - offset != delta for offset, paddr, _f, _m in segments):
        raise MultibootEntryError("the segments' file offsets do not follow their load addresses")
    load_addr = delta
    load_phys = min(paddr for _o, paddr, _f, _m in segments)
    load_end = max(paddr + filesz for _o, paddr, filesz, _m in segments)
    bss_end = max(paddr + memsz for _o, paddr, _f, memsz in segments)
    if load_phys % HUGE_PAGE:
        raise MultibootEntryError(f"the kernel loads at {load_phys:#x}, not 4 MiB aligned as stage 2 requires")
    header_at = (headers_end + 15) & ~15
    code_at = header_at + HEADER_SIZE
    code = entry_code(load_addr + code_at, kernel_sectors=(load_end - load_phys + 511) // 512,
                      load_phys=load_phys, entry=entry, mem_size=bss_end - load_phys)
    first_offset = min(offset for offset, _p, _f, _m in segments)
    if code_at + len(code) > first_offset or first_offset > 8192:
        raise MultibootEntryError(f"no room for the Multiboot entry ({HEADER_SIZE + len(code)} bytes) "
                                  f"between the program headers ({headers_end:#x}) and the first "
                                  f"segment ({first_offset:#x}) in the first 8 KiB")
    if any(elf[headers_end:first_offset]):
        raise MultibootEntryError("the bytes before the first segment are in use")
    flags = FLAG_MEMORY_INFO | FLAG_AOUT_KLUDGE
    header = struct.pack("<8I", MULTIBOOT_MAGIC, flags, -(MULTIBOOT_MAGIC + flags) & 0xFFFFFFFF,
                         load_addr + header_at, load_addr, load_end, bss_end, load_addr + code_at)
    out = bytearray(elf)
    out[header_at:code_at] = header
    out[code_at:code_at + len(code)] = code
    return bytes(out)


def entry_code(base: int, kernel_sectors: int, load_phys: int, entry: int, mem_size: int) -> bytes:
    """The 32-bit entry (position-independent apart from the numbers given)."""
    values = dict(
        BOOT_INFO=BOOT_INFO, INFO_WORDS=(BOOT_INFO_SIZE + 3) // 4, KSECTORS=kernel_sectors,
        LOAD=load_phys, ENTRY=entry, MEMSIZE=mem_size, CMDLINE=BOOT_INFO + 64, DRIVE=BOOT_INFO + 512,
        COUNT=BOOT_INFO + 516, E820=BOOT_INFO + 520, STACK=ENTRY_STACK, HHDM=HHDM_BASE,
        KPDE=0x1000 + (KERNEL_VIRT >> 22) * 4, KPAGES=(mem_size + HUGE_PAGE - 1) // HUGE_PAGE,
        KERNEL_PDE=load_phys | 0x83, SELF_PTE=0x2000 + ((base >> 12) & 0x3FF) * 4,
        SELF_PAGE=(base & ~0xFFF) | 0x03, SELF=base & ~0xFFF,
    )
    if base >= HUGE_PAGE or base < 0x100000:
        raise MultibootEntryError(f"the Multiboot entry would sit at {base:#x}; stage 2's layout "
                                  "needs it between 1 and 4 MiB (the kernel at 0x400000)")
    return _assemble(_ENTRY_ASM.format(**{k: f"{v:#x}" for k, v in values.items()}))


_ENTRY_ASM = """
    cli
    cld
    cmpl $0x2BADB002, %eax
    jne 90f
    movl $({STACK}), %esp
    movl %ebx, %ebp                 # the Multiboot information

    # the hand-off block: what stage 2's real-mode half would have left
    movl $({BOOT_INFO}), %edi
    xorl %eax, %eax
    movl $({INFO_WORDS}), %ecx
    rep stosl
    movl $0x4259504B, ({BOOT_INFO})
    movl $({KSECTORS}), ({BOOT_INFO})+4
    movl $({LOAD}), ({BOOT_INFO})+8
    movl $({ENTRY}), ({BOOT_INFO})+12
    movl $({MEMSIZE}), ({BOOT_INFO})+16
    movl $0x80, %eax                # boot drive: the BIOS's, when the loader says
    testl $2, (%ebp)
    jz 1f
    movzbl 15(%ebp), %eax
1:  movl %eax, ({DRIVE})

    # command line: the first word is the kernel's file name unless it is key=value
    testl $4, (%ebp)
    jz 20f
    movl 16(%ebp), %esi
    movl %esi, %edx
2:  lodsb
    testb %al, %al
    jz 3f
    cmpb $0x20, %al
    je 4f
    cmpb $0x3D, %al
    jne 2b
    movl %edx, %esi                 # a key=value: keep the whole line
    jmp 5f
3:  decl %esi                       # the name was the whole line: back onto its NUL
4:  cmpb $0x20, (%esi)
    jne 5f
    incl %esi
    jmp 4b
5:  movl $({CMDLINE}), %edi
    movl $447, %ecx
6:  lodsb
    testb %al, %al
    jz 20f
    stosb
    loop 6b
20:
    # memory map: Multiboot's (size, base, length, type) entries as E820 ones
    testl $0x40, (%ebp)
    jz 30f
    movl 48(%ebp), %esi
    movl 44(%ebp), %ecx
    addl %esi, %ecx
    movl $({E820}), %edi
    xorl %edx, %edx
7:  cmpl %ecx, %esi
    jae 8f
    cmpl $64, %edx
    jae 8f
    movl 4(%esi), %eax
    movl %eax, (%edi)
    movl 8(%esi), %eax
    movl %eax, 4(%edi)
    movl 12(%esi), %eax
    movl %eax, 8(%edi)
    movl 16(%esi), %eax
    movl %eax, 12(%edi)
    movl 20(%esi), %eax
    movl %eax, 16(%edi)
    movl $1, 20(%edi)               # ACPI 3 attributes: valid
    addl $24, %edi
    incl %edx
    movl (%esi), %eax
    leal 4(%esi,%eax), %esi
    jmp 7b
8:  movl %edx, ({COUNT})
30:
    # the seed's page tables, as stage2.kpy builds them
    movl $0x1000, %edi
    xorl %eax, %eax
    movl $2048, %ecx
    rep stosl
    movl $0x2000, %edi
    movl $3, %eax
    movl $256, %ecx
9:  stosl
    addl $0x1000, %eax
    loop 9b
    movl $0x2003, 0x1000
    movl $(0x1000 + 768 * 4), %edi
    movl $0x83, %eax
    movl $256, %ecx
10: stosl
    addl $0x400000, %eax
    loop 10b
    movl $({KPDE}), %edi
    movl $({KERNEL_PDE}), %eax
    movl $({KPAGES}), %ecx
11: stosl
    addl $0x400000, %eax
    loop 11b
    movl $({SELF_PAGE}), ({SELF_PTE})   # this code's page, only until it runs in the direct map

    movl $0x1000, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x10, %eax
    movl %eax, %cr4
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0
    call 12f
12: popl %eax
    addl $(13f - 12b + {HHDM}), %eax
    jmp *%eax
13: movl $0, ({HHDM}) + ({SELF_PTE})
    movl $({SELF}), %eax
    invlpg (%eax)
    addl $({HHDM}), %esp
    xorl %ebp, %ebp
    movl $({BOOT_INFO}) + ({HHDM}), %eax
    movl $({ENTRY}), %ecx
    pushl %eax                      # _entry(info), as stage 2 calls it
    calll *%ecx
90: cli
    hlt
    jmp 90b
"""


def _assemble(text: str) -> bytes:
    """Raw bytes of 32-bit AT&T `text` (it must need no relocation)."""
    from elftools.elf.elffile import ELFFile
    from compiler.target import TRIPLE, parse_ir, target_machine
    lines = [".text"] + text.strip().splitlines()
    ir = f'target triple = "{TRIPLE}"\n' + "".join(
        'module asm "{}"\n'.format(line.replace("\\", "\\5C").replace('"', "\\22")) for line in lines)
    obj = ELFFile(io.BytesIO(target_machine(0).emit_object(parse_ir(ir))))
    if obj.get_section_by_name(".rel.text") is not None:
        raise AssertionError("the Multiboot entry code needs a relocation")
    return obj.get_section_by_name(".text").data()
