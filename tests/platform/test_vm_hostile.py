"""Issue 20: hostile guests and kernel files end in a guest outcome or a
named loader error, never a traceback (exit 16) or a runaway allocation."""
import struct

import pytest
from guest_asm import program
from machine_run import run_vm

from vm.bios.multiboot import MultibootError, MultibootKernel

CURSOR_OFF_SCREEN = """
    mov $0x02, %ah
    mov $0xff, %dh
    mov $0xff, %dl
    int $0x10
    mov $0x0e41, %ax
    int $0x10
    mov $0x1301, %ax
    mov $0x0007, %bx
    mov $1, %cx
    mov $0xffff, %dx
    mov $msg, %bp
    int $0x10
    mov $msg, %si
    call serial_print
    jmp poweroff
msg: .asciz "ok\\n"
"""


def test_teletype_cursor_out_of_range_is_kept_on_screen():
    out = run_vm(program(CURSOR_OFF_SCREEN))
    assert out.reason == "poweroff", out.report
    assert out.serial == b"ok\n"


def _multiboot_elf(filesz=4, memsz=4, phentsize=32, phnum=1):
    ehdr = bytearray(52)
    ehdr[:7] = b"\x7fELF\x01\x01\x01"
    struct.pack_into("<HHIIIIIHHHHHH", ehdr, 16, 2, 3, 1, 0x100000, 52, 0, 0, 52, phentsize, phnum, 0, 0, 0)
    phdr = struct.pack("<8I", 1, 128, 0x100000, 0x100000, filesz, memsz, 5, 4)
    header = struct.pack("<3I", 0x1BADB002, 0, (-0x1BADB002) & 0xFFFFFFFF)
    image = bytes(ehdr) + phdr + header
    return image + bytes(128 - len(image)) + b"\xf4" * 16


@pytest.mark.parametrize("fields, message", [
    (dict(filesz=8, memsz=4), "p_memsz 0x4 is below p_filesz 0x8"),
    (dict(phentsize=0, phnum=0xFFFF), "e_phentsize is 0"),
    (dict(memsz=0xFFFFFFF0), "does not fit in RAM"),
])
def test_hostile_multiboot_elf_is_refused(fields, message):
    with pytest.raises(MultibootError) as err:
        MultibootKernel(_multiboot_elf(**fields), 16 << 20)
    assert message in str(err.value)


def test_sane_multiboot_elf_loads():
    assert MultibootKernel(_multiboot_elf(), 16 << 20).entry == 0x100000


TRAP_FLAG_TRIPLE_FAULT = """
    lidt idt_desc
    pushf
    orl $0x100, (%esp)
    popf
    nop
    nop
idt_desc: .word 0
    .long 0
"""


def test_trap_flag_with_no_idt_is_a_triple_fault():
    from guest_asm import PROTECTED_MODE
    out = run_vm(program(PROTECTED_MODE + TRAP_FLAG_TRIPLE_FAULT))
    assert out.reason == "triple-fault" and out.exit_code == 4, out.report
