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


# The same walk, but printing the FADT, the DSDT's first 64 bytes and the FACS in hex.
ACPI_DUMP = ACPI_SHUTDOWN.replace("""got_facp:
    mov 64(%ebx), %edx""", """got_facp:
    mov %ebx, %esi
    mov 4(%ebx), %ecx
    call hexdump
    mov 40(%ebx), %esi
    mov $64, %ecx
    call hexdump
    mov 36(%ebx), %esi
    mov $64, %ecx
    call hexdump
    mov $0x604, %dx
    mov $0x2000, %ax
    outw %ax, %dx
hexdump:
    mov $0x3f8, %dx
1:  lodsb
    mov %al, %ah
    shr $4, %al
    call nibble
    mov %ah, %al
    call nibble
    loop 1b
    mov $0x0a, %al
    outb %al, %dx
    ret
nibble:
    and $0xf, %al
    add $0x30, %al
    cmp $0x39, %al
    jbe 2f
    add $7, %al
2:  outb %al, %dx
    ret
""")


def test_fadt_and_facs_are_qemus_byte_for_byte():
    image = boot_sector(ACPI_DUMP)
    ours = run_vm(image, ram_size=16 << 20)
    assert ours.reason == "poweroff", ours.report
    status, theirs = run_qemu(image, memory="16")
    assert status == 0
    fadt, dsdt, facs = ours.serial.split(b"\n")[:3]
    q_fadt, q_dsdt, q_facs = theirs.split(b"\n")[:3]
    assert (fadt, facs) == (q_fadt, q_facs)
    assert (dsdt[:8], dsdt[16:18], dsdt[20:72]) == (q_dsdt[:8], q_dsdt[16:18], q_dsdt[20:72])  # not length, checksum
