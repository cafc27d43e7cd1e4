"""int 15h E820 and A20, int 10h, int 16h, int 1Ah and the BIOS data area
through guest programs."""

from guest_asm import program
from machine_run import run_qemu, run_vm

from vm.bios.e820 import memory_map

E820 = """
    xor %ax, %ax
    mov %ax, %es
    xor %ebx, %ebx
    mov $0x1000, %di
e820_loop:
    mov $0xe820, %eax
    mov $24, %ecx
    mov $0x534d4150, %edx
    int $0x15
    jc done
    cmp $0x534d4150, %eax
    jne done
    mov 4(%di), %eax
    call print_hex32
    mov (%di), %eax
    call print_hex32
    mov $0x20, %al
    call putc
    mov 12(%di), %eax
    call print_hex32
    mov 8(%di), %eax
    call print_hex32
    mov $0x20, %al
    call putc
    mov 16(%di), %al
    call print_hex8
    mov $0x0a, %al
    call putc
    test %ebx, %ebx
    jnz e820_loop
done:
    jmp poweroff
"""


def parse_map(serial: bytes):
    return [(int(b, 16), int(n, 16), int(t, 16)) for b, n, t in
            (line.split() for line in serial.decode().splitlines())]


def test_e820_map_like_qemu():
    out = run_vm(program(E820), ram_size=16 << 20)
    assert out.reason == "poweroff", out.report
    assert parse_map(out.serial) == memory_map(16 << 20)


def test_e820_map_matches_qemu_itself():
    status, serial = run_qemu(program(E820))
    assert status == 0
    assert parse_map(serial) == memory_map(16 << 20)


A20 = """
    xor %ax, %ax
    mov %ax, %ds
    mov $0xffff, %ax
    mov %ax, %es
    call probe                     # BIOS leaves A20 on: no wrap
    mov $0x2400, %ax               # int 15h: disable A20
    int $0x15
    call probe
    mov $0x2402, %ax               # int 15h: status
    int $0x15
    call print_hex8
    inb $0x92, %al                 # port 0x92 fast A20 on
    or $2, %al
    outb %al, $0x92
    call probe
    mov $0xd1, %al                 # keyboard controller output port: A20 off
    outb %al, $0x64
    mov $0xdd, %al
    outb %al, $0x60
    call probe
    mov $0x2401, %ax               # int 15h: enable A20
    int $0x15
    call probe
    mov $0xe801, %ax
    int $0x15
    call print_hex16
    mov %bx, %ax
    call print_hex16
    mov $0x88, %ah
    int $0x15
    call print_hex16
    mov $0x01, %ah                 # int 16h: no keystroke (ZF=1)
    int $0x16
    setz %al
    call print_hex8
    int $0x12                      # base memory
    call print_hex16
    jmp poweroff
probe:
    movw $0x1111, 0x500
    movw $0x2222, %es:0x510
    mov 0x500, %ax
    call print_hex16
    mov $0x20, %al
    jmp putc
"""


# The keyboard controller turns A20 off behind port 0x92's back; int 15h 2401
# then sees port 0x92's bit already set and does not write it, so A20 stays
# off — QEMU and SeaBIOS behave exactly so. E801/88h leave out the top 128 KiB.
EXPECTED_A20 = (b"1111 2222 00" b"1111 2222 2222 " b"3C00" b"00FE" b"7B80" b"01" b"027F")


def test_a20_paths_memory_sizes_and_keyboard():
    out = run_vm(program(A20), ram_size=32 << 20)
    assert out.reason == "poweroff", out.report
    assert out.serial == EXPECTED_A20


def test_a20_and_memory_sizes_match_qemu():
    status, serial = run_qemu(program(A20), memory="32")
    assert status == 0
    assert serial == EXPECTED_A20


TIME_OF_DAY = """
    mov $0x02, %ah                 # RTC time: CH hours, CL minutes, DH seconds (BCD)
    int $0x1a
    push %dx
    mov %cx, %ax
    call print_hex16
    pop %ax
    mov %ah, %al
    call print_hex8
    mov $0x04, %ah                 # RTC date: CX year, DH month, DL day (BCD)
    int $0x1a
    push %dx
    mov %cx, %ax
    call print_hex16
    pop %ax
    call print_hex16
    sti                            # let two BIOS timer ticks (IRQ0, int 08h) happen
    hlt
    hlt
    cli
    xor %ah, %ah                   # ticks since midnight
    int $0x1a
    mov %dx, %ax
    call print_hex16
    jmp poweroff
"""


def test_time_of_day_services():
    import datetime
    out = run_vm(program(TIME_OF_DAY), rtc_time=datetime.datetime(2031, 7, 4, 12, 34, 56))
    assert out.reason == "poweroff", out.report
    assert out.serial == b"1234" b"56" b"2031" b"0704" b"0002"


ENTRY_STATE = """
    pushal
    pushfl
    push %ds
    push %es
    push %ss
    push %cs
    xor %ax, %ax
    mov %ax, %ds
    mov %sp, %si
    mov $0, %bx
1:  mov %ss:(%bx,%si), %ax
    call print_hex16
    mov $0x20, %al
    call putc
    add $2, %bx
    cmp $44, %bx
    jb 1b
    jmp poweroff
"""
# CS SS ES DS EFLAGS EDI ESI EBP ESP EBX EDX ECX EAX, 16 bits at a time
EXPECTED_ENTRY = (b"0000 0000 0000 0000 0202 0000 0000 0000 0000 0000 0000 0000 "
                  b"6F04 0000 0000 0000 0080 0000 0000 0000 AA55 0000 ")


def test_registers_at_the_boot_sector_are_seabioses():
    out = run_vm(program(ENTRY_STATE))
    assert out.reason == "poweroff", out.report
    assert out.serial == EXPECTED_ENTRY


def test_registers_at_the_boot_sector_on_qemu():
    status, serial = run_qemu(program(ENTRY_STATE))
    assert status == 0 and serial == EXPECTED_ENTRY


# PIC masks and ISR, port 0x92, CMOS registers B/A/D, UART LCR/IER/MCR and
# PM1a control as the boot sector finds them.
DEVICE_STATE = """
    inb $0x21, %al
    call print_hex8
    inb $0xa1, %al
    call print_hex8
    mov $0x0b, %al
    outb %al, $0x20
    inb $0x20, %al
    call print_hex8
    inb $0x92, %al
    call print_hex8
    mov $0x0b, %al
    outb %al, $0x70
    inb $0x71, %al
    call print_hex8
    mov $0x0a, %al
    outb %al, $0x70
    inb $0x71, %al
    call print_hex8
    mov $0x0d, %al
    outb %al, $0x70
    inb $0x71, %al
    call print_hex8
    mov $0x3fb, %dx
    inb %dx, %al
    call print_hex8
    mov $0x3f9, %dx
    inb %dx, %al
    call print_hex8
    mov $0x3fc, %dx
    inb %dx, %al
    call print_hex8
    mov $0x604, %dx
    inw %dx, %ax
    call print_hex16
    jmp poweroff
"""
EXPECTED_DEVICE_STATE = b"B8" b"8E" b"00" b"02" b"02" b"26" b"80" b"00" b"00" b"08" b"0000"


def test_device_state_at_the_boot_sector():
    out = run_vm(program(DEVICE_STATE))
    assert out.reason == "poweroff", out.report
    assert out.serial == EXPECTED_DEVICE_STATE


def test_device_state_at_the_boot_sector_on_qemu():
    status, serial = run_qemu(program(DEVICE_STATE))
    assert status == 0 and serial == EXPECTED_DEVICE_STATE


CMOS_DUMP = """
    mov $0x0e, %bl
1:  mov %bl, %al
    outb %al, $0x70
    inb $0x71, %al
    call print_hex8
    inc %bl
    cmp $0x80, %bl
    jb 1b
    jmp poweroff
"""


def test_cmos_contents_match_qemu():
    """Memory sizes, disk geometry, boot order, century: as QEMU fills CMOS,
    except the floppy bytes 0x10 and 0x14 (this machine has no floppy)."""
    image = program(CMOS_DUMP)
    ours = run_vm(image, ram_size=128 << 20)
    status, theirs = run_qemu(image, memory="128")
    assert ours.reason == "poweroff" and status == 0

    def without_floppy(dump: bytes) -> bytes:
        cells = bytearray(dump)
        for reg in (0x10, 0x14):
            at = 2 * (reg - 0x0E)
            cells[at:at + 2] = b"--"
        return bytes(cells)
    assert without_floppy(ours.serial) == without_floppy(theirs)
