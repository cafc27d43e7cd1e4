"""A guest routine walks RSDP → RSDT → FADT → DSDT → \\_S5_ and powers off
with what it found — on our VM, and the same image on QEMU."""

from guest_asm import PROTECTED_MODE, boot_sector
from machine_run import run_qemu, run_vm

ACPI_SHUTDOWN = PROTECTED_MODE + """
    mov $0xe0000, %esi
scan:
    cmpl $0x20445352, (%esi)
    jne next
    cmpl $0x20525450, 4(%esi)
    je found
next:
    add $16, %esi
    cmp $0x100000, %esi
    jb scan
    jmp fail
found:
    xor %eax, %eax
    xor %ecx, %ecx
1:  add (%esi,%ecx), %al
    inc %ecx
    cmp $20, %ecx
    jb 1b
    test %al, %al
    jnz fail
    mov 16(%esi), %esi
    cmpl $0x54445352, (%esi)
    jne fail
    mov 4(%esi), %ecx
    lea 36(%esi), %edi
    add %esi, %ecx
find_facp:
    cmp %ecx, %edi
    jae fail
    mov (%edi), %ebx
    cmpl $0x50434146, (%ebx)
    je got_facp
    add $4, %edi
    jmp find_facp
got_facp:
    mov 64(%ebx), %edx
    mov 40(%ebx), %esi
    mov 4(%esi), %ecx
    add %esi, %ecx
s5:
    cmp %ecx, %esi
    jae fail
    cmpl $0x5f35535f, (%esi)
    je got_s5
    inc %esi
    jmp s5
got_s5:
    add $4, %esi
    cmpb $0x12, (%esi)
    jne fail
    inc %esi
    movzbl (%esi), %eax
    shr $6, %eax
    lea 2(%esi,%eax), %esi
    movzbl (%esi), %eax
    cmp $0x0a, %al
    jne 2f
    movzbl 1(%esi), %eax
2:  shl $10, %eax
    or $0x2000, %eax
    outw %ax, %dx
    hlt
fail:
    mov $0xf4, %dx
    mov $3, %al
    outb %al, %dx
    hlt
"""


def image() -> bytes:
    return boot_sector(ACPI_SHUTDOWN)


def test_guest_finds_the_shutdown_port_in_the_acpi_tables():
    out = run_vm(image())
    assert (out.reason, out.exit_code) == ("poweroff", 0), out.report


def test_same_routine_powers_off_qemu():
    status, _ = run_qemu(image())
    assert status == 0
