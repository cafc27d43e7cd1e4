"""compiler.build: build.toml -> linked targets -> disk image (objects made by llvmlite)."""
import struct

import pytest

from compiler.build import BuildError, build
from compiler.image import parse_boot_info

from lk_objects import make_object

MBR_ASM = """
.code16
.section .text.entry,"ax"
.globl _start
_start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov $msg, %si
  jmp _start
msg: .asciz "kpy"
"""

KERNEL_IR = """
@ticks = global i32 0
@greeting = constant [5 x i8] c"hello"
define void @_entry() nounwind section ".text.entry" {
  store i32 1, ptr @ticks
  ret void
}
define ptr @hello() nounwind { ret ptr @greeting }
"""

BUILD_TOML = """
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
  [[targets.boot.sections]]
  name = ".bss"
  inputs = [".bss .bss.* COMMON"]

[targets.kernel]
format = "elf"
objects = ["obj/kernel.o"]
entry = "_entry"
vma = 0xFE000000
lma = 0x400000
  [[targets.kernel.sections]]
  name = ".text"
  align = 4096
  inputs = [".text.entry", ".text .text.*"]
  [[targets.kernel.sections]]
  name = ".rodata"
  inputs = [".rodata .rodata.*"]
  [[targets.kernel.sections]]
  name = ".data"
  align = 4096
  inputs = [".data .data.*"]
  [[targets.kernel.sections]]
  name = ".bss"
  inputs = [".bss .bss.* COMMON"]
  start_symbol = "__bss_start"
  end_symbol = "__bss_end"
  [targets.kernel.symbols]
  __kernel_phys_start = "load_start(.text)"
  __kernel_end = "end(.bss) + 0x10"
"""


def make_project(tmp_path, toml=BUILD_TOML, mbr_asm=MBR_ASM, kernel_ir=KERNEL_IR):
    (tmp_path / "kernel_src").mkdir()
    (tmp_path / "obj").mkdir()
    (tmp_path / "kernel_src" / "build.toml").write_text(toml)
    (tmp_path / "obj" / "mbr.o").write_bytes(make_object(asm=mbr_asm))
    (tmp_path / "obj" / "kernel.o").write_bytes(make_object(kernel_ir))
    return tmp_path


def test_build_writes_image_with_fixed_layout(tmp_path):
    root = make_project(tmp_path)
    res = build(root, cmdline="exp=smc-sweep")
    disk = res.disk_image.read_bytes()
    assert disk[510:512] == b"\x55\xaa"
    assert disk[0] == 0xFA                                # cli, _start first
    assert disk[512:64 * 512] == bytes(63 * 512)          # no stage 2: zeros
    info = parse_boot_info(disk[64 * 512:65 * 512])
    kernel = res.links["kernel"]
    assert info.kernel_load_phys == 0x400000
    assert info.kernel_entry_virt == kernel.symbols["_entry"] == 0xFE000000
    assert info.cmdline == "exp=smc-sweep"
    assert info.kernel_mem_size == kernel.symbols["__bss_end"] - 0xFE000000
    assert info.kernel_sectors * 512 == len(disk) - 65 * 512
    assert disk[65 * 512:65 * 512 + len(kernel.flat)] == kernel.flat
    assert kernel.symbols["__kernel_phys_start"] == 0x400000
    assert kernel.symbols["__kernel_end"] == kernel.symbols["__bss_end"] + 0x10
    assert res.kernel_elf.read_bytes()[:4] == b"\x7fELF"
    assert "_entry" in res.map_file.read_text()


def test_kernel_data_lands_at_its_load_address(tmp_path):
    res = build(make_project(tmp_path))
    kernel = res.links["kernel"]
    hello = kernel.symbols["greeting"] - 0xFE000000      # virt -> offset from load address
    assert kernel.flat[hello:hello + 5] == b"hello"
    # _entry stores 1 to ticks: movl $1, <ticks> with the absolute virtual address
    code = kernel.flat[:16]
    assert struct.pack("<I", kernel.symbols["ticks"]) in code


def test_boot_sector_too_big_names_excess_and_keeps_old_outputs(tmp_path):
    root = make_project(tmp_path)
    first = build(root)
    before = first.disk_image.read_bytes()
    big = MBR_ASM + ".fill 600, 1, 0x90\n"
    (root / "obj" / "mbr.o").write_bytes(make_object(asm=big))
    with pytest.raises(BuildError) as err:
        build(root)
    text = str(err.value)
    assert "boot sector" in text and "over its limit of 510" in text
    assert "obj/mbr.o:(.text.entry)" in text
    assert first.disk_image.read_bytes() == before


def test_bad_toml_is_a_clear_error(tmp_path):
    root = make_project(tmp_path, toml="[targets.boot\nformat=1")
    with pytest.raises(BuildError) as err:
        build(root)
    assert "invalid TOML" in str(err.value)


def test_unknown_key_is_named(tmp_path):
    root = make_project(tmp_path, toml=BUILD_TOML.replace('entry = "_entry"', 'entyr = "_entry"'))
    with pytest.raises(BuildError) as err:
        build(root)
    assert "entyr" in str(err.value)


def test_command_line_without_a_disk_image(tmp_path):
    root = make_project(tmp_path, toml=BUILD_TOML.replace('[image]\nmbr = "boot"\nkernel = "kernel"\n', ""))
    assert not (res := build(root)).disk_image.exists() and res.kernel_elf.exists()
    with pytest.raises(BuildError) as err:
        build(root, cmdline="exp=demo")
    assert "a boot command line needs a disk image" in str(err.value)


def test_command_line_too_long(tmp_path):
    root = make_project(tmp_path)
    with pytest.raises(BuildError) as err:
        build(root, cmdline="x" * 448)
    assert "448 bytes, 1 over" in str(err.value)


@pytest.mark.parametrize("change, message", [
    (('format = "elf"', 'format = "exe"'), "'format' must be one of elf, flat, bootsector"),
    (("vma = 0xFE000000", 'vma = "0xFE000000"'), "'vma' must be an integer address"),
    (('align = 4096\n  inputs = [".text.entry"', 'align = 3000\n  inputs = [".text.entry"'),
     "'align' must be a power of two"),
    (('__kernel_end = "end(.bss) + 0x10"', '__kernel_end = "end(.nope)"'),
     "refers to output section .nope"),
    (('__kernel_end = "end(.bss) + 0x10"', '__kernel_end = "the end"'), "expected an integer or start(SEC)"),
    (('kernel = "kernel"', 'kernel = "kernal"'), "there is no [targets.kernal]"),
    (('mbr = "boot"', 'mbr = "kernel"'), "it must be bootsector"),
    (('objects = ["obj/kernel.o"]', 'objects = ["obj/nothere.o"]'), "cannot read object obj/nothere.o"),
    (('objects = ["obj/kernel.o"]', 'objects = "obj/kernel.o"'), "'objects' must be a list of strings"),
    (('inputs = [".bss .bss.* COMMON"]\n  start_symbol', 'inputs = [""]\n  start_symbol'),
     "an input statement is empty"),
    (("[image]\nmbr", "image = 3\n[xx]\nmbr"), "unknown table(s) xx"),
    (("[image]\nmbr", "[image]\nkernal = 1\nmbr"), "[image] unknown key(s) kernal"),
    (("[image]\nmbr", "[build]\nroot = [\"src\"]\n[image]\nmbr"), "[build] unknown key(s) root"),
    (('objects = ["obj/kernel.o"]', 'objects = ["obj/kernel.o"]\nfollow_imports = "no"'),
     "'follow_imports' must be true or false"),
])
def test_bad_description_is_named(tmp_path, change, message):
    old, new = change
    assert old in BUILD_TOML
    root = make_project(tmp_path, toml=BUILD_TOML.replace(old, new, 1))
    with pytest.raises(BuildError) as err:
        build(root)
    assert message in str(err.value)
    assert "build.toml" in str(err.value) or "target" in str(err.value)


def test_with_cmdline_rewrites_only_the_boot_info_sector(tmp_path):
    from compiler.image import ImageError, with_cmdline
    res = build(make_project(tmp_path), cmdline="exp=one")
    disk = res.disk_image.read_bytes()
    other = with_cmdline(disk, "exp=two")
    assert len(other) == len(disk)
    assert parse_boot_info(other[64 * 512:65 * 512]).cmdline == "exp=two"
    assert other[:64 * 512] == disk[:64 * 512] and other[65 * 512:] == disk[65 * 512:]
    again = tmp_path / "again"
    again.mkdir()
    assert other == build(make_project(again), cmdline="exp=two").disk_image.read_bytes()
    with pytest.raises(ImageError):
        with_cmdline(b"\0" * 512, "x")


def _undefined(root):
    (root / "obj" / "kernel.o").write_bytes(make_object(
        KERNEL_IR + "declare void @missing()\ndefine void @user() nounwind { call void @missing()\n ret void }\n"))


def _duplicate(root):
    (root / "obj" / "dup.o").write_bytes(make_object("define ptr @hello() nounwind { ret ptr null }"))
    toml = root / "kernel_src" / "build.toml"
    toml.write_text(toml.read_text().replace('objects = ["obj/kernel.o"]', 'objects = ["obj/kernel.o", "obj/dup.o"]'))


def _overflow(root):
    (root / "obj" / "kernel.o").write_bytes(make_object(
        asm='.section .text.entry,"ax"\n.globl _entry\n_entry:\n  ret\n  .word _entry\n'))


def _overlap(root):
    toml = root / "kernel_src" / "build.toml"
    toml.write_text(toml.read_text().replace('  name = ".rodata"\n', '  name = ".rodata"\n  vma = 0xFE000000\n'))


def _malformed(root):
    (root / "obj" / "kernel.o").write_bytes(b"\x7fELF\x01\x01\x01" + bytes(9) + b"\x01\x00\x03\x00" + b"\xff" * 60)


@pytest.mark.parametrize("breakage, messages", [
    (_undefined, ["undefined symbol: missing", "referenced by obj/kernel.o: function user"]),
    (_duplicate, ["duplicate symbol: hello", "obj/kernel.o", "obj/dup.o"]),
    (_overflow, ["relocation R_386_16 out of range", "in _entry", "value 0xfe000000"]),
    (_overlap, ["section .rodata is placed at 0xfe000000, below the end of .text"]),
    (_malformed, ["obj/kernel.o", "malformed ELF object"]),
], ids=["undefined", "duplicate", "overflow", "overlap", "malformed"])
def test_each_link_error_keeps_every_previous_output(tmp_path, breakage, messages):
    """A failed build (whatever the link error) leaves build/ exactly as the last good one did."""
    root = make_project(tmp_path)
    good = build(root)
    before = {p: p.read_bytes() for p in good.outputs}
    breakage(root)
    with pytest.raises(BuildError) as err:
        build(root)
    for message in messages:
        assert message in str(err.value)
    assert {p: p.read_bytes() for p in good.outputs} == before
    left = sorted(p.name for p in (root / "build").iterdir() if p.name != ".kpyc-cache")
    assert left == sorted(p.name for p in good.outputs)
