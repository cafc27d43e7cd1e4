"""build/grub.img: a disk whose GRUB (Debian's grub-pc-bin) multiboot-loads the kernel ELF.

Layout, as grub-install/grub-bios-setup leave a disk (the kernel where a
first partition would begin):

    LBA 0       GRUB's boot.img (the MBR), its kernel-sector field = 1
    LBA 1...    core.img from `grub-mkimage -O i386-pc`: diskboot.img, whose
                blocklist (start 2, length = core.img's sectors - 1) loads the
                rest, then the LZMA-compressed GRUB kernel with the modules
                biosdisk and multiboot (and what they need) and an embedded config
    LBA 2048... the kernel ELF (its Multiboot copy, up to its last loaded byte)

The embedded config names the kernel in GRUB's block-list notation, so the
disk needs no filesystem, no partition table and no root-privileged loop
device, and GRUB runs no menu, terminal or filesystem code:

    multiboot (hd0)2048+N 'word' 'word' ...
    boot

Why the kernel on the disk rather than in a memdisk inside core.img (which
needs no filesystem either): GRUB's start-up LZMA-decodes all of core.img
(~45 million instructions for ~190 KiB of GRUB, the bulk of a GRUB boot on
the VM), so a kernel kept out of it saves ~6 million instructions a boot;
and GRUB then reads it as it reads any disk, biosdisk through int 13h
(41h, 48h, 08h, 42h): the BIOS disk services a real GRUB install needs.

GRUB writes nothing to COM1 (its console is the BIOS screen), so the
serial output of a GRUB boot is the kernel's alone.

A kernel built with an `[image]` table expects stage 2's hand-off; the ELF
written is compiler.multiboot_entry's copy of it. A kernel that already has
a Multiboot header (`kpy.multiboot`) goes in as it is.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .multiboot_entry import MultibootEntryError, has_multiboot_header, loaded_size, with_multiboot_entry

SECTOR = 512
GRUB_DIR = Path("/usr/lib/grub/i386-pc")
MODULES = ("biosdisk", "multiboot")            # grub-mkimage adds their dependencies
KERNEL_LBA = 2048                  # 1 MiB: where partitioning tools start the first partition
BOOT_KERNEL_SECTOR = 0x5C          # boot.img: 64-bit LBA of core.img's first sector
BOOT_DRIVE = 0x64                  # boot.img: 0xFF = the drive the BIOS passed in DL
BLOCKLIST = SECTOR - 12            # diskboot.img: start (8 bytes), sectors (2), segment (2)
CORE_SEGMENT = 0x820


class GrubImageError(Exception):
    """The GRUB image cannot be made; ``str`` is the user message."""


def grub_mkimage() -> str | None:
    """The grub-mkimage program, when it and the i386-pc files are installed."""
    program = shutil.which("grub-mkimage")
    if program and (GRUB_DIR / "boot.img").is_file() and (GRUB_DIR / "multiboot.mod").is_file():
        return program
    return None


def grub_config(cmdline: str, kernel_sectors: int) -> str:
    """The embedded config; each command-line word single-quoted (no $ expansion)."""
    for bad, name in (("'", "a single quote"), ("\n", "a newline"), ("\r", "a carriage return"),
                      ("\0", "a NUL")):
        if bad in cmdline:
            raise GrubImageError(f"the boot command line must not contain {name} for GRUB")
    words = "".join(f" '{word}'" for word in cmdline.split())
    return f"multiboot (hd0){KERNEL_LBA}+{kernel_sectors}{words}\nboot\n"


def multiboot_kernel(elf: bytes) -> bytes:
    """The bytes GRUB loads, padded to whole sectors."""
    try:
        if not has_multiboot_header(elf):
            elf = with_multiboot_entry(elf)
        elf = elf[:loaded_size(elf)]
    except MultibootEntryError as exc:
        raise GrubImageError(f"the kernel ELF cannot be multiboot-loaded: {exc}") from None
    return elf + bytes(-len(elf) % SECTOR)


def core_image(kernel_sectors: int, cmdline: str) -> bytes:
    """core.img from grub-mkimage, with the config embedded."""
    program = grub_mkimage()
    if program is None:
        raise GrubImageError(f"grub-mkimage or {GRUB_DIR} is missing: install Debian's grub-pc-bin "
                             "(scripts/setup.sh does)")
    with tempfile.TemporaryDirectory(prefix="kpyc-grub-") as tmp:
        cfg, core = os.path.join(tmp, "early.cfg"), os.path.join(tmp, "core.img")
        Path(cfg).write_text(grub_config(cmdline, kernel_sectors))
        command = [program, "-O", "i386-pc", "-d", str(GRUB_DIR), "-o", core, "-p", "(hd0)/boot/grub",
                   "-c", cfg, *MODULES]
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise GrubImageError(f"grub-mkimage failed (status {done.returncode}): "
                                 f"{done.stdout.decode(errors='replace').strip()}")
        return Path(core).read_bytes()


def disk_image(boot: bytes, core: bytes, kernel: bytes) -> bytes:
    """boot.img at LBA 0 pointing at core.img at LBA 1, as grub-bios-setup
    writes them, and the kernel at KERNEL_LBA."""
    if len(boot) != SECTOR or boot[510:] != b"\x55\xAA":
        raise GrubImageError("GRUB's boot.img is not a 512-byte boot sector")
    core = core + bytes(-len(core) % SECTOR)
    sectors = len(core) // SECTOR
    blocklist = core[BLOCKLIST:SECTOR]
    start = int.from_bytes(blocklist[0:8], "little")
    length = int.from_bytes(blocklist[8:10], "little")
    segment = int.from_bytes(blocklist[10:12], "little")
    if (start, length, segment) != (2, sectors - 1, CORE_SEGMENT):
        # grub-mkimage leaves diskboot's blocklist at "the sectors right after
        # it"; anything else is a GRUB this layout was not written for.
        raise GrubImageError(f"core.img's blocklist is start {start}, {length} sectors, segment "
                             f"{segment:#x}; expected 2, {sectors - 1}, {CORE_SEGMENT:#x}")
    if 1 + sectors > KERNEL_LBA:
        raise GrubImageError(f"core.img is {sectors} sectors: it runs into the kernel at LBA {KERNEL_LBA}")
    mbr = bytearray(boot)
    mbr[BOOT_KERNEL_SECTOR:BOOT_KERNEL_SECTOR + 8] = (1).to_bytes(8, "little")
    mbr[BOOT_DRIVE] = 0xFF
    return (bytes(mbr) + core).ljust(KERNEL_LBA * SECTOR, b"\0") + kernel


def grub_image(kernel_elf: bytes, cmdline: str = "") -> bytes:
    """The whole disk image for `kernel_elf` booted with `cmdline`."""
    kernel = multiboot_kernel(kernel_elf)
    core = core_image(len(kernel) // SECTOR, cmdline)
    return disk_image((GRUB_DIR / "boot.img").read_bytes(), core, kernel)


def write_grub_image(kernel_elf: Path, out: Path, cmdline: str = "") -> Path:
    try:
        elf = Path(kernel_elf).read_bytes()
    except OSError as exc:
        raise GrubImageError(f"cannot read {kernel_elf}: {exc.strerror or exc}") from None
    image = grub_image(elf, cmdline)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(image)
    os.replace(tmp, out)
    return out
