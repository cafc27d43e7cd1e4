"""ACPI tables and the E820 map, parsed the way a kernel parses them."""

import struct

from vm.bios.acpi import AcpiTables
from vm.bios.e820 import RESERVED, USABLE, memory_map
from vm.bios.multiboot import MultibootKernel, MultibootError


def find_s5_slp_typ(dsdt: bytes) -> int:
    """The osdev.org shutdown recipe: find _S5_, skip to the package, read SLP_TYPa."""
    at = dsdt.index(b"_S5_")
    assert dsdt[at - 1] == 0x08 and dsdt[at + 4] == 0x12
    at += 5
    at += ((dsdt[at] & 0xC0) >> 6) + 2       # PkgLength and NumElements
    if dsdt[at] == 0x0A:
        at += 1
    return dsdt[at]


def test_rsdp_rsdt_fadt_dsdt_chain():
    base = (128 << 20) - 0x20000
    t = AcpiTables(base)
    mem = {}

    def table_at(addr):
        off = addr - base
        length = struct.unpack_from("<I", t.blob, off + 4)[0]
        data = t.blob[off:off + length]
        assert sum(data) & 0xFF == 0
        return data
    assert t.rsdp[:8] == b"RSD PTR " and sum(t.rsdp[:20]) & 0xFF == 0
    rsdt = table_at(struct.unpack_from("<I", t.rsdp, 16)[0])
    assert rsdt[:4] == b"RSDT"
    fadt = table_at(struct.unpack_from("<I", rsdt, 36)[0])
    assert fadt[:4] == b"FACP" and len(fadt) == 116 and fadt[8] == 1
    assert struct.unpack_from("<I", fadt, 64)[0] == 0x604
    assert struct.unpack_from("<I", fadt, 48)[0] == 0xB2 and fadt[52] == 0xF1
    dsdt = table_at(struct.unpack_from("<I", fadt, 40)[0])
    assert dsdt[:4] == b"DSDT"
    slp_typ = find_s5_slp_typ(dsdt)
    assert (slp_typ << 10) | (1 << 13) == 0x2000
    assert not mem


def test_e820_like_qemu_for_128m():
    assert memory_map(128 << 20) == [
        (0, 0x9FC00, USABLE), (0x9FC00, 0x400, RESERVED), (0xF0000, 0x10000, RESERVED),
        (0x100000, 0x7EE0000, USABLE), (0x7FE0000, 0x20000, RESERVED), (0xFFFC0000, 0x40000, RESERVED)]


def test_multiboot_rejects_files_without_header():
    try:
        MultibootKernel(b"\x7fELF" + bytes(100), 128 << 20)
    except MultibootError as err:
        assert "Multiboot header" in str(err)
    else:
        raise AssertionError("accepted a kernel without a header")


def test_multiboot_aout_kludge_and_info():
    header_addr = 0x100000
    header = struct.pack("<III", 0x1BADB002, 0x10003, -(0x1BADB002 + 0x10003) & 0xFFFFFFFF)
    header += struct.pack("<5I", header_addr, header_addr, 0, 0x101000, header_addr + 32)
    k = MultibootKernel(header + b"\xF4" * 16, 64 << 20, "console=ttyS0")
    written = {}
    k.load(lambda a, d: written.__setitem__(a, d))
    assert written[0x100000][:4] == b"\x02\xb0\xad\x1b" and len(written[0x100000]) == 0x1000
    info = written[0x9000]
    flags, lower, upper = struct.unpack_from("<III", info)
    assert flags & 0x45 == 0x45 and lower == 639 and upper == 63 * 1024 - 128
    cmdline = struct.unpack_from("<I", info, 16)[0] - 0x9000
    assert info[cmdline:cmdline + 14] == b"console=ttyS0\0"
    assert k.entry == header_addr + 32
