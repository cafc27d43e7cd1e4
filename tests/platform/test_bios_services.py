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
