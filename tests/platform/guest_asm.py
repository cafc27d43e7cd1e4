"""Assemble small guest programs (GNU as syntax) with llvmlite for the tests.

The source goes into an LLVM IR `module asm` block; the object's .text is
taken with pyelftools and its absolute relocations (R_386_16/R_386_32
against .text) are applied for the load address, which gives a flat binary
such as a boot sector loaded at 0x7C00.
"""

import io
import struct
from functools import lru_cache

import llvmlite.binding as llvm
from elftools.elf.elffile import ELFFile

R_386_32, R_386_16 = 1, 20


@lru_cache(maxsize=1)
def _target_machine():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    target = llvm.Target.from_triple("i386-unknown-none-elf")
    return target.create_target_machine(cpu="i686", reloc="static", codemodel="default")


def _escape(line: str) -> str:
    return line.replace("\\", "\\5C").replace('"', "\\22").replace("\t", "\\09")


def assemble(source: str, base: int = 0x7C00, code16: bool = True) -> bytes:
    lines = ([".code16"] if code16 else [".code32"]) + [".text"] + source.splitlines()
    ir = 'target triple = "i386-unknown-none-elf"\n' + "".join(
        f'module asm "{_escape(line)}"\n' for line in lines)
    module = llvm.parse_assembly(ir)
    obj = _target_machine().emit_object(module)
    return _flat_text(obj, base)


def _flat_text(obj: bytes, base: int) -> bytes:
    elf = ELFFile(io.BytesIO(obj))
    text = elf.get_section_by_name(".text")
    data = bytearray(text.data())
    rel = elf.get_section_by_name(".rel.text")
    if rel is not None:
        symtab = elf.get_section(rel["sh_link"])
        for r in rel.iter_relocations():
            sym = symtab.get_symbol(r["r_info_sym"])
            if sym["st_shndx"] != text.header and elf.get_section(sym["st_shndx"]).name != ".text":
                raise ValueError(f"relocation against {sym.name!r} outside .text")
            target = base + sym["st_value"]
            kind, off = r["r_info_type"], r["r_offset"]
            if kind == R_386_16:
                value = (struct.unpack_from("<H", data, off)[0] + target) & 0xFFFF
                struct.pack_into("<H", data, off, value)
            elif kind == R_386_32:
                value = (struct.unpack_from("<I", data, off)[0] + target) & 0xFFFFFFFF
                struct.pack_into("<I", data, off, value)
            else:
                raise ValueError(f"unsupported relocation type {kind}")
    return bytes(data)


def boot_sector(source: str, extra: bytes = b"") -> bytes:
    """A 512-byte MBR (55 AA) running `source` at 0x7C00, followed by `extra`."""
    code = assemble(source)
    if len(code) > 510:
        raise ValueError(f"boot code is {len(code)} bytes")
    return code.ljust(510, b"\0") + b"\x55\xAA" + extra


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
