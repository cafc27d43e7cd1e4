"""Small guest programs (GNU as syntax) for the platform tests: boot
sectors and the real-mode helpers they share. Assembling is
tests/cpu/asm.py's (llvmlite's integrated assembler, absolute relocations
applied for the load address)."""

from tests.cpu.asm import assemble_with_labels


def assemble(source: str, base: int = 0x7C00, code16: bool = True) -> bytes:
    """Flat bytes of `source` loaded at `base`; real mode unless code16=False."""
    return assemble_with_labels(source, code16=code16, base=base)[0]


def boot_sector(source: str, extra: bytes = b"") -> bytes:
    """A 512-byte MBR (55 AA) running `source` at 0x7C00, followed by `extra`."""
    code = assemble(source)
    if len(code) > 510:
        raise ValueError(f"boot code is {len(code)} bytes")
    return code.ljust(510, b"\0") + b"\x55\xAA" + extra


# segments zeroed and a stack below the boot sector: how a test boot sector starts
REAL_MODE_SETUP = """
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
"""


SERIAL_PRINT = """
# print the NUL-terminated string at %si on COM1
serial_print:
    lodsb
    test %al, %al
    jz 1f
    mov $0x3f8, %dx
    outb %al, %dx
    jmp serial_print
1:  ret
"""

POWEROFF = """
poweroff:
    mov $0x604, %dx
    mov $0x2000, %ax
    outw %ax, %dx
    cli
    hlt
"""

PRINT_HEX = """
# print %al as two hex digits on COM1 (clobbers %dx)
print_hex8:
    push %ax
    shr $4, %al
    call print_nibble
    pop %ax
    push %ax
    call print_nibble
    pop %ax
    ret
print_nibble:
    and $0xf, %al
    add $0x30, %al
    cmp $0x39, %al
    jbe 1f
    add $7, %al
1:  mov $0x3f8, %dx
    outb %al, %dx
    ret
# print %ax as four hex digits
print_hex16:
    push %ax
    mov %ah, %al
    call print_hex8
    pop %ax
    jmp print_hex8
"""

DEBUG_EXIT = """
debug_exit:
    mov $0xf4, %dx
    outb %al, %dx
    cli
    hlt
"""

PRINT_HEX32 = """
print_hex32:
    push %eax
    shr $16, %eax
    call print_hex16
    pop %eax
    jmp print_hex16
putc:
    mov $0x3f8, %dx
    outb %al, %dx
    ret
"""

LIB16 = PRINT_HEX32 + SERIAL_PRINT + POWEROFF + PRINT_HEX + DEBUG_EXIT


def program(body: str, extra: bytes = b"") -> bytes:
    """A boot sector: `body` then the 16-bit helper routines."""
    return boot_sector(body + LIB16, extra)

# 32-bit: a page directory at 0x1000 whose entry 0 maps the first 4 MiB
# one to one through the page table at 0x2000 (paging not yet on)
IDENTITY_MAP_4M = """
    mov $0x2003, %eax
    mov %eax, 0x1000               # page directory entry 0 -> page table at 0x2000
    mov $0x2000, %edi
    mov $3, %eax
1:  mov %eax, (%edi)               # identity-map the first 4 MiB
    add $0x1000, %eax
    add $4, %edi
    cmp $0x3000, %edi
    jb 1b
"""

PROTECTED_MODE = """
    cli
    xor %ax, %ax
    mov %ax, %ds
    lgdtl gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $pm32
    .p2align 3
gdt: .quad 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF
gdt_desc: .word 23
    .long gdt
.code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %esp
"""
