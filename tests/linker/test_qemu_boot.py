"""The disk image layout, proven on a real QEMU: an asm MBR reads the boot info
sector, loads the kernel where it says, jumps to its entry, and the kernel
prints its (relocated) message and the boot command line on COM1."""
import shutil
import subprocess

import pytest

from compiler.build import build

from lk_objects import make_object

QEMU = shutil.which("qemu-system-i386")

MBR = r"""
.code16
.section .text.entry,"ax"
.globl _start
_start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $0x7C00, %sp
  mov %dl, drive
  movl $64, dap_lba                 # the boot info sector, to 0x0500
  movw $1, dap_count
  movw $0x0500, dap_off
  movw $0, dap_seg
  call read
  cmpl $0x4259504B, 0x500           # 'KPYB'
  jne fail
  mov 0x504, %ax                    # kernel sectors
  mov %ax, dap_count
  movl 0x508, %eax                  # kernel load address -> segment
  shr $4, %eax
  mov %ax, dap_seg
  mov %ax, far_seg
  movw $0, dap_off
  movl $65, dap_lba
  call read
  mov 0x50C, %ax                    # entry (offset within the segment)
  mov %ax, far_off
  ljmp *far_ptr
read:
  mov $dap, %si
  mov drive, %dl
  mov $0x42, %ah
  int $0x13
  jc fail
  ret
fail:
  mov $'!', %al
  mov $0x3F8, %dx
  out %al, %dx
  hlt
.data
.p2align 2
dap:       .byte 16, 0
dap_count: .word 0
dap_off:   .word 0
dap_seg:   .word 0
dap_lba:   .long 0, 0
far_ptr:
far_off:   .word 0
far_seg:   .word 0
drive:     .byte 0
"""

KERNEL = r"""
.code16
.section .text.entry,"ax"
.globl kernel_entry
kernel_entry:
  mov %cs, %ax
  mov %ax, %ds
  mov $banner, %si
  call puts
  incw counter
  cmpw $1, counter                  # .bss starts zeroed? (QEMU RAM is)
  jne 1f
  xor %ax, %ax
  mov %ax, %ds
  mov $0x540, %si                   # the command line in the boot info sector
  call puts
1:
  mov $'\n', %al
  call putc
  mov $0x604, %dx                   # ACPI PM1a control: SLP_EN, power off
  mov $0x2000, %ax
  out %ax, %dx
  hlt
.text
puts:
  lodsb
  test %al, %al
  jz 2f
  call putc
  jmp puts
2: ret
putc:
  mov $0x3F8, %dx
  out %al, %dx
  ret
.section .rodata
banner: .asciz "kernel says hi; cmdline="
.bss
counter: .word 0
"""

TOML = """
[image]
mbr = "boot"
kernel = "kernel"

[targets.boot]
format = "bootsector"
objects = ["obj/mbr.o"]
entry = "_start"
vma = 0x7C00
  [[targets.boot.sections]]
  name = ".text"
  inputs = [".text.entry", ".text .text.*", ".rodata .rodata.* .data .data.*"]

[targets.kernel]
format = "elf"
objects = ["obj/kernel.o"]
entry = "kernel_entry"
vma = 0x0000
lma = 0x10000
  [[targets.kernel.sections]]
  name = ".text"
  inputs = [".text.entry", ".text .text.*"]
  [[targets.kernel.sections]]
  name = ".rodata"
  align = 0x800
  inputs = [".rodata .rodata.*"]
  [[targets.kernel.sections]]
  name = ".bss"
  inputs = [".bss .bss.* COMMON"]
"""


@pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 not installed (apt-get install qemu-system-x86)")
def test_image_boots_on_qemu(tmp_path):
    (tmp_path / "kernel_src").mkdir()
    (tmp_path / "obj").mkdir()
    (tmp_path / "kernel_src" / "build.toml").write_text(TOML)
    (tmp_path / "obj" / "mbr.o").write_bytes(make_object(asm=MBR))
    (tmp_path / "obj" / "kernel.o").write_bytes(make_object(asm=KERNEL))
    res = build(tmp_path, cmdline="exp=linker-test")
    run = subprocess.run([QEMU, "-drive", f"format=raw,file={res.disk_image}", "-serial", "stdio",
                          "-display", "none", "-no-reboot", "-monitor", "none"],
                         capture_output=True, timeout=60)
    assert run.stdout.replace(b"\r", b"") == b"kernel says hi; cmdline=exp=linker-test\n", run.stderr
