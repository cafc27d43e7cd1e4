"""The BIOS services GRUB's start-up probes beyond what kpy's own boot uses,
through a guest program: int 13h AX=4B01h (El Torito status) as SeaBIOS
answers it for any drive: CF=0, AH=00h and a 13h-byte specification packet
with media type 0, "no emulation"; int 15h AX=5300h (APM installation
check) and int 10h AX=4F00h (VBE controller information) as Ralf Brown's
list describes a BIOS without the feature: CF=1, AH=86h "APM not present";
AX left as it was (not 004Fh) and the buffer untouched. Each prints CF and
AX, then the first byte of each buffer. SeaBIOS on QEMU has APM and
(through the stdvga option ROM) VBE, so only the El Torito answer is
compared with QEMU's; the others are this BIOS's documented absence."""

from guest_asm import REAL_MODE_SETUP, program
from machine_run import run_qemu, run_vm

PROBES = REAL_MODE_SETUP + """
    movb $0x5a, 0x1000             # sentinel in each buffer
    movb $0x5a, 0x1200
    mov $0x4b01, %ax               # El Torito: get emulation status
    mov $0x80, %dl
    mov $0x1000, %si
    int $0x13
    call report
    mov $0x5300, %ax               # APM installation check, device 0 (BIOS)
    xor %bx, %bx
    int $0x15
    call report
    clc                            # int 10h leaves CF as it was
    mov $0x4f00, %ax               # VBE: controller information into ES:DI
    mov $0x1200, %di
    int $0x10
    call report
    mov 0x1000, %al
    call print_hex8
    mov 0x1200, %al
    call print_hex8
    jmp poweroff

# print "C/AX " with C the carry flag
report:
    push %ax
    setc %al
    add $0x30, %al
    call putc
    mov $0x2f, %al
    call putc
    pop %ax
    call print_hex16
    mov $0x20, %al
    call putc
    ret
"""

VM_ANSWERS = b"0/0001 1/8600 0/4F00 135A"


def test_grub_probes_get_a_bios_without_the_feature():
    out = run_vm(program(PROBES))
    assert out.reason == "poweroff", out.report
    assert out.serial == VM_ANSWERS


def test_el_torito_answer_matches_qemu():
    status, serial = run_qemu(program(PROBES))
    assert status == 0
    el_torito, _apm, _vbe, buffers = serial.split(b" ")
    assert el_torito == VM_ANSWERS.split(b" ")[0]
    assert buffers[:2] == b"13"                  # the packet's size byte
