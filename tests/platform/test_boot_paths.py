"""The other ways in: a raw ROM from the reset vector (--bios) and a
Multiboot v1 kernel loaded directly (--kernel), a.out-kludge and ELF."""

import shutil
import struct
import subprocess
import tempfile

import pytest
from guest_asm import assemble
from machine_run import run_vm

from vm.machine import Machine, MachineError

ROM_CODE = """
    mov %cs, %ax
    mov %ax, %ds
    mov $msg, %si
1:  lodsb
    test %al, %al
    jz 2f
    mov $0x3f8, %dx
    outb %al, %dx
    jmp 1b
2:  mov $0x604, %dx
    mov $0x2000, %ax
    outw %ax, %dx
    cli
    hlt
msg: .asciz "hello from a raw ROM\\n"
"""


def rom_image() -> bytes:
    code = assemble(ROM_CODE, base=0)
    rom = bytearray(code.ljust(0x10000, b"\xff"))
    rom[0xFFF0:0xFFF5] = b"\xea\x00\x00\x00\xf0"        # jmp far F000:0000
    return bytes(rom)


def test_raw_rom_runs_from_the_reset_vector():
    out = run_vm(None, bios=rom_image())
    assert out.reason == "poweroff", out.report
    assert out.serial == b"hello from a raw ROM\n"


def test_malformed_rom_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.rom"
    bad.write_bytes(b"\x90" * 1000)
    with pytest.raises(MachineError, match="64, 128, 192 or 256 KiB"):
        Machine(bios=bad)
    with pytest.raises(MachineError, match="cannot read BIOS ROM"):
        Machine(bios=tmp_path / "missing.rom")


MULTIBOOT_BODY = """
start:
    cmp $0x2BADB002, %eax
    jne fail
    mov 16(%ebx), %esi
1:  lodsb
    test %al, %al
    jz 2f
    mov $0x3f8, %dx
    outb %al, %dx
    jmp 1b
2:  mov 8(%ebx), %eax
    cmp $(15 * 1024 - 128), %eax      # RAM above 1 MiB minus the ACPI area, as QEMU gives
    jne fail
    mov $0x604, %dx
    mov $0x2000, %ax
    outw %ax, %dx
    hlt
fail:
    mov $0xf4, %dx
    mov $1, %al
    outb %al, %dx
    hlt
"""

AOUT_KERNEL = """
header:
    .long 0x1BADB002
    .long 0x00010003
    .long -(0x1BADB002 + 0x00010003)
    .long header
    .long header
    .long 0
    .long 0
    .long start
""" + MULTIBOOT_BODY

ELF_KERNEL = """
    .long 0x1BADB002
    .long 0x00000003
    .long -(0x1BADB002 + 0x00000003)
""" + MULTIBOOT_BODY


def elf_executable(code: bytes, load: int, entry: int) -> bytes:
    """A minimal ELF32 i386 executable with one PT_LOAD segment."""
    header = struct.pack("<4sBBBB8xHHIIIIIHHHHHH", b"\x7fELF", 1, 1, 1, 0, 2, 3, 1,
                         entry, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    phdr = struct.pack("<8I", 1, 0x1000, load, load, len(code), len(code) + 0x100, 7, 0x1000)
    return (header + phdr).ljust(0x1000, b"\0") + code


def aout_kernel() -> bytes:
    return assemble(AOUT_KERNEL, base=0x100000, code16=False)


def elf_kernel() -> bytes:
    code = assemble(ELF_KERNEL, base=0x100000, code16=False)
    return elf_executable(code, 0x100000, 0x100000 + 12)


@pytest.mark.parametrize("make", [aout_kernel, elf_kernel])
def test_multiboot_kernel_gets_magic_cmdline_and_memory(make):
    out = run_vm(None, kernel=make(), cmdline="root=/dev/kpy quiet")
    assert out.reason == "poweroff", out.report
    assert out.serial == b"root=/dev/kpy quiet"


def test_multiboot_elf_boots_on_qemu_too():
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    with tempfile.NamedTemporaryFile(suffix=".elf") as f:
        f.write(elf_kernel())
        f.flush()
        p = subprocess.run(["qemu-system-i386", "-m", "16", "-display", "none", "-no-reboot",
                            "-serial", "stdio", "-kernel", f.name, "-append", "root=/dev/kpy quiet",
                            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
                           capture_output=True, timeout=30)
        assert p.returncode == 0 and p.stdout == f.name.encode() + b" root=/dev/kpy quiet"


def test_multiboot_from_a_file_gets_qemus_command_line(tmp_path):
    kernel = tmp_path / "k.elf"
    kernel.write_bytes(elf_kernel())
    out = run_vm(None, kernel=kernel, cmdline="a=1")
    assert out.reason == "poweroff", out.report
    assert out.serial == f"{kernel} a=1".encode()


def test_kernel_without_multiboot_header_is_a_clear_error():
    with pytest.raises(MachineError, match="no Multiboot header"):
        Machine(kernel=b"\x7fELF" + bytes(200))


def test_kernel_and_bios_together_is_a_clear_error():
    with pytest.raises(MachineError, match="cannot be combined"):
        Machine(kernel=elf_kernel(), bios=rom_image())


def test_128k_rom_maps_its_last_64k_below_1m_and_all_of_it_below_4g():
    rom = b"\x5a" * 0x10000 + rom_image()
    out = run_vm(None, bios=rom)
    assert out.reason == "poweroff", out.report
    memory = out.machine.memory
    assert memory.read(0xFFFE0000, 2) == b"\x5a\x5a" and memory.read(0xFFFFFFF0, 1) == b"\xea"
    assert memory.read(0xFFFF0, 1) == b"\xea"


C_KERNEL = r"""
typedef unsigned int u32; typedef unsigned long long u64;
__attribute__((section(".multiboot"), aligned(4), used))
static const u32 mb_header[3] = {0x1BADB002, 0x3, -(0x1BADB002 + 0x3)};
static inline void outb(unsigned short p, unsigned char v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(unsigned short p, unsigned short v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static void putc(char c) { outb(0x3f8, c); }
static void puts(const char *s) { while (*s) putc(*s++); }
static void hex(u64 v, int digits) { for (int i = digits - 1; i >= 0; i--) putc("0123456789abcdef"[(v >> (4 * i)) & 15]); }
struct mmap { u32 size; u64 addr; u64 len; u32 type; } __attribute__((packed));
u32 stack[1024];
void kmain(u32 magic, u32 *info) {
    if (magic != 0x2BADB002) { outb(0xf4, 1); for (;;) ; }
    if (info[0] & 4) { puts((const char *)info[4]); putc('\n'); }
    if (info[0] & 0x40) {
        u32 p = info[12], end = info[12] + info[11];
        while (p < end) {
            struct mmap *m = (struct mmap *)p;
            hex(m->addr, 16); putc(' '); hex(m->len, 16); putc(' '); hex(m->type, 2); putc('\n');
            p += m->size + 4;
        }
    }
    outw(0x604, 0x2000);
    for (;;) __asm__ volatile("hlt");
}
__asm__(".globl _start\n_start:\n mov $stack+4096, %esp\n push %ebx\n push %eax\n call kmain\n");
"""

C_KERNEL_LD = """ENTRY(_start)
SECTIONS { . = 0x100000; .text : { *(.multiboot) *(.text*) } .rodata : { *(.rodata*) }
           .data : { *(.data*) } .bss : { *(.bss*) *(COMMON) } }
"""


@pytest.fixture(scope="module")
def gcc_multiboot_kernel(tmp_path_factory):
    """A hobby kernel in C, built by gcc -m32 and GNU ld (not by kpy's toolchain)."""
    if shutil.which("gcc") is None or shutil.which("ld") is None:
        pytest.skip("gcc and GNU ld are not installed")
    d = tmp_path_factory.mktemp("ckernel")
    (d / "k.c").write_text(C_KERNEL)
    (d / "k.ld").write_text(C_KERNEL_LD)
    cc = subprocess.run(["gcc", "-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-O2", "-c",
                         str(d / "k.c"), "-o", str(d / "k.o")], capture_output=True, text=True)
    if cc.returncode != 0:
        pytest.skip(f"gcc -m32 cannot build i386 code here: {cc.stderr.strip()[:200]}")
    subprocess.run(["ld", "-m", "elf_i386", "-T", str(d / "k.ld"), "-o", str(d / "k.elf"), str(d / "k.o")],
                   check=True, capture_output=True)
    return d / "k.elf"


def test_gcc_built_multiboot_kernel_reads_cmdline_and_memory_map(gcc_multiboot_kernel):
    from vm.bios.e820 import memory_map
    out = run_vm(None, kernel=gcc_multiboot_kernel, cmdline="hello=1", ram_size=16 << 20)
    assert out.reason == "poweroff", out.report
    lines = out.serial.decode().splitlines()
    assert lines[0] == f"{gcc_multiboot_kernel} hello=1"
    mmap = [(int(a, 16), int(n, 16), int(t, 16)) for a, n, t in (line.split() for line in lines[1:])]
    assert mmap == memory_map(16 << 20)


def test_gcc_built_multiboot_kernel_says_the_same_on_qemu(gcc_multiboot_kernel):
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    p = subprocess.run(["qemu-system-i386", "-m", "16", "-display", "none", "-no-reboot", "-serial", "stdio",
                        "-kernel", str(gcc_multiboot_kernel), "-append", "hello=1"], capture_output=True, timeout=30)
    out = run_vm(None, kernel=gcc_multiboot_kernel, cmdline="hello=1", ram_size=16 << 20)
    assert p.returncode == 0 and p.stdout == out.serial
