"""The default kpy image booted through the real firmware, Debian's SeaBIOS
(bios-256k.bin, the build QEMU's -machine pc boots), on the VM: SeaBIOS
finds the ATA disk, loads the boot sector through its own int 13h, hands
the kernel its e820 map and the ACPI tables it loaded from fw_cfg, and the
kernel powers off. Its serial output is compared with QEMU's on the same
image, and the exp=scan program's slow BIOS pages with where SeaBIOS ran."""

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vm.cli import SEABIOS_ROM
from vm.machine import Machine

ROOT = Path(__file__).resolve().parents[2]
RAM = 128 << 20
BIOS_AREA = range(0xE0000, 0x100000, 0x1000)     # QEMU's isa-bios window: the ROM's last 128 KiB
HHDM = 0xC0000000
SEED_PAGES = {0xE9000 + 0x1000 * i for i in range(7)}    # the seed's seven slow pages, 0xC00E9000-0xC00EF000

pytestmark = pytest.mark.skipif(not os.path.isfile(SEABIOS_ROM),
                                reason=f"{SEABIOS_ROM} is missing (Debian package seabios)")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from compiler.build import build
    out = tmp_path_factory.mktemp("seabios-kernel")
    return build(ROOT, opt=2, out_dir=out).disk_image.read_bytes()


def boot_seabios(image: bytes, timing="tcg", log=()):
    serial, log_file = io.BytesIO(), io.StringIO()
    m = Machine(ram_size=RAM, timing=timing, disk=image, bios=SEABIOS_ROM, serial=serial,
                log=log, log_file=log_file)
    result = m.run(max_insns=400_000_000, timeout=300)
    return result, serial.getvalue().decode(errors="replace"), m, log_file.getvalue()


def boot_qemu(image: bytes, tmp_path: Path) -> str:
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    disk = tmp_path / "disk.img"
    disk.write_bytes(image)
    proc = subprocess.run(["qemu-system-i386", "-machine", "pc", "-accel", "tcg", "-m", "128",
                           "-drive", f"format=raw,file={disk}", "-serial", "stdio", "-display", "none",
                           "-monitor", "none", "-no-reboot"], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode(errors="replace")


def test_default_image_boots_through_seabios_with_qemus_serial_output(image, tmp_path):
    result, serial, machine, log = boot_seabios(image, log=("firmware",))
    assert result.reason == "poweroff", result.report
    for line in ("ata0-0: QEMU HARDDISK ATA-7 Hard-Disk (0 MiBytes)", "Booting from Hard Disk...",
                 "Booting from 0000:7c00"):
        assert f"[firmware] {line}" in log.splitlines()
    assert "acpi: powering off" in serial
    assert serial == boot_qemu(image, tmp_path)


def test_seabios_and_the_builtin_bios_give_the_kernel_the_same_machine(image):
    builtin = io.BytesIO()
    r = Machine(ram_size=RAM, timing="tcg", disk=image, serial=builtin).run(max_insns=400_000_000)
    assert r.reason == "poweroff", r.report
    result, serial, _, _ = boot_seabios(image)
    assert serial == builtin.getvalue().decode(errors="replace")


def listed_pages(serial: str) -> set:
    return {int(a, 16) - HHDM for a in re.findall(r"^addr=([0-9a-f]+) cycles/op=\d+$", serial, re.M)
            if HHDM + BIOS_AREA.start <= int(a, 16) < HHDM + BIOS_AREA.stop}


def test_scan_lists_exactly_the_bios_pages_where_seabios_ran(image):
    """exp=scan's slow pages in the BIOS area are the pages where SeaBIOS's
    code ran on this VM (the memory's executed-byte map) and that stores
    still reach: the seed's and QEMU's seven, 0xC00E9000-0xC00EF000. The
    F-segment, where SeaBIOS's 16-bit services ran too, is ROM once PAM
    locks it, and a dropped store costs nothing extra, as on QEMU; the
    built-in BIOS runs no guest code there, so its scan lists none."""
    from compiler.image import with_cmdline
    scan = with_cmdline(image, "exp=scan")
    result, serial, machine, _ = boot_seabios(scan)
    assert result.reason == "poweroff", result.report
    memory = machine.memory
    executed = {page for page in BIOS_AREA if memory.executed_bytes(page >> 12)}
    rom = {page for page in BIOS_AREA if getattr(memory.page_region.get(page >> 12), "kind", "") == "rom"}
    assert listed_pages(serial) == executed - rom == SEED_PAGES
    assert executed & rom                  # SeaBIOS's int 13h/15h code, run by the boot loader
    builtin = io.BytesIO()
    r = Machine(ram_size=RAM, timing="tcg", disk=scan, serial=builtin).run(max_insns=400_000_000)
    assert r.reason == "poweroff", r.report
    assert listed_pages(builtin.getvalue().decode()) == set()


def test_table_loader_lays_out_the_builtin_bios_tables():
    """Run etc/table-loader host-side with SeaBIOS's allocator rules (high
    RAM from the top down, 64-aligned; the F-segment): the tables land at
    the top 128 KiB of RAM, byte for byte the built-in BIOS's."""
    from vm.bios.acpi import AcpiTables
    from vm.bios.e820 import high_tables_base
    from vm.devices.acpi_loader import acpi_files, run_table_loader
    memory = {}
    tops = {1: RAM, 2: 0xF6000}

    def allocate_in(zone, size, align):
        tops[zone] = (tops[zone] - size) & ~(align - 1)
        return tops[zone]
    loaded = run_table_loader(acpi_files(), lambda at, data: memory.__setitem__(at, data), allocate_in)
    builtin = AcpiTables(high_tables_base(RAM))
    assert loaded["etc/acpi/tables"] == builtin.base == 0x7FE0000
    blob = memory[builtin.base]
    assert blob[:len(builtin.blob)] == builtin.blob and not any(blob[len(builtin.blob):])
    rsdp = memory[loaded["etc/acpi/rsdp"]]
    assert rsdp == builtin.rsdp and sum(rsdp[:20]) % 256 == 0


@pytest.mark.parametrize("kind", ["truncated-odd", "truncated-aligned", "random", "unaligned"])
def test_bad_firmware_ends_in_a_clear_error_or_report(kind, tmp_path, capsys):
    import random
    from vm.cli import main
    rom = Path(SEABIOS_ROM).read_bytes()
    data = {"truncated-odd": rom[:100_000],            # cut mid-file: not a 64 KiB multiple
            "truncated-aligned": rom[:0x20000],        # the first half: no reset vector where it belongs
            "random": bytes(random.Random(19).randrange(256) for _ in range(0x40000)),
            "unaligned": rom + b"\0" * 512}[kind]
    path = tmp_path / "bios.bin"
    path.write_bytes(data)
    status = main(["--bios", str(path), "--max-insns", "20000", "--serial", "none"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and status != 16, err
    if len(data) % 0x10000:
        assert status == 1 and "must be 64, 128, 192 or 256 KiB" in err, err
    else:
        assert status in (4, 6, 8, 12, 14) and "kpy vm: " in err, err
