"""int 13h through guest programs: a 16 KiB+ image whose stage 2 arrives by
LBA reads, CHS reads, drive parameters, and reads past the disk's end."""

from guest_asm import LIB16, REAL_MODE_SETUP, assemble, program
from machine_run import run_qemu, run_vm

STAGE2_SECTORS = 40
TOTAL_SECTORS = 1 + STAGE2_SECTORS

MBR = REAL_MODE_SETUP + f"""
    sti
    mov $0x41, %ah
    mov $0x55aa, %bx
    int $0x13
    jc fail
    cmp $0xaa55, %bx
    jne fail
    mov $dap, %si
    mov $0x42, %ah
    int $0x13
    jc fail
    ljmp $0, $0x7e00
fail:
    mov %ah, %al
    call print_hex8
    mov $1, %al
    jmp debug_exit
dap: .byte 0x10, 0
    .word {STAGE2_SECTORS}
    .word 0x7e00, 0
    .long 1, 0
"""

# Each check prints "<name>=<AH>/<CF>" (and counts), then a newline.
STAGE2 = f"""
    mov $hello, %si
    call serial_print
    # LBA read that starts past the end
    movl ${TOTAL_SECTORS}, dap_lba
    movw $1, dap_count
    call lba_read
    # LBA read that runs off the end: 4 sectors from the second-to-last
    movl ${TOTAL_SECTORS - 2}, dap_lba
    movw $4, dap_count
    call lba_read
    mov dap_count, %ax
    call print_hex16
    call newline
    # CHS read of cylinder 0, head 0, sector 2 (LBA 1): the start of stage 2
    mov $0x0201, %ax
    mov $0x0002, %cx
    mov $0x0080, %dx
    mov $0x9000, %bx
    int $0x13
    call report
    mov 0x9000, %al
    call print_hex8
    call newline
    # CHS read beyond the geometry (cylinder 500)
    mov $0x0201, %ax
    mov $0xf402, %cx
    mov $0x0080, %dx
    int $0x13
    call report
    call newline
    # drive parameters
    mov $0x08, %ah
    mov $0x80, %dl
    int $0x13
    push %dx
    call report
    mov %cx, %ax
    call print_hex16
    pop %ax
    mov %ah, %al
    call print_hex8
    call newline
    # extended drive parameters: AH=48h into a 1Eh-byte buffer at 0:A000
    movw $0x1e, 0xa000
    mov $0x48, %ah
    mov $0x80, %dl
    mov $0xa000, %si
    int $0x13
    call report
    mov 0xa010, %ax                # total sectors (low word)
    call print_hex16
    mov 0xa018, %ax                # bytes per sector
    call print_hex16
    call newline
    mov $tail, %si                 # the last sector of stage 2 arrived too
    call serial_print
    jmp poweroff

lba_read:
    mov $dap, %si
    mov $0x42, %ah
    mov $0x80, %dl
    int $0x13
report:
    pushf
    mov %ah, %al
    call print_hex8
    mov $0x2f, %al
    mov $0x3f8, %dx
    outb %al, %dx
    popf
    mov $0x30, %al
    adc $0, %al
    outb %al, %dx
    mov $0x20, %al
    outb %al, %dx
    ret
newline:
    mov $0x0a, %al
    mov $0x3f8, %dx
    outb %al, %dx
    ret
dap: .byte 0x10, 0
dap_count: .word 1
    .word 0xa000, 0
dap_lba: .long 0, 0
hello: .asciz "stage2 loaded: "
{LIB16}
    .org {STAGE2_SECTORS * 512 - 16}
tail: .asciz "tail sector ok\\n"
"""


def disk_image() -> bytes:
    stage2 = assemble(STAGE2, base=0x7E00)
    assert len(stage2) == STAGE2_SECTORS * 512
    return program(MBR, stage2)


def expected_lines(image: bytes) -> list[bytes]:
    first_stage2_byte = image[512]
    return [b"stage2 loaded: 01/1 0C/1 0002",
            b"00/0 %02X" % first_stage2_byte,
            b"01/1 ",
            b"00/0 003F0F",       # 2 cylinders (reported max 0), 63 sectors, 16 heads
            b"00/0 %04X0200" % TOTAL_SECTORS,   # AH=48h: total sectors, 512 bytes each
            b"tail sector ok"]


def test_lba_stage2_and_errors_past_the_end():
    image = disk_image()
    assert len(image) >= 16 * 1024
    out = run_vm(image)
    assert out.reason == "poweroff", out.report
    assert out.serial.split(b"\n")[:6] == expected_lines(image)


def test_same_answers_on_qemu():
    """SeaBIOS on QEMU gives the same int 13h answers for the same image."""
    image = disk_image()
    status, serial = run_qemu(image)
    assert status == 0
    assert serial.split(b"\n")[:6] == expected_lines(image)
