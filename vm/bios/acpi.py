"""ACPI tables as SeaBIOS lays out QEMU's for -machine pc (PIIX4 PM).

Checked against QEMU 7.2 / SeaBIOS (Debian) with one CPU: the RSDP
(revision 0, OEM "BOCHS ") sits at 0xF59D0 in the BIOS F-segment; the FACS,
DSDT, FADT and RSDT sit at the same offsets from the reserved area at the
top of RAM as QEMU's (so for -m 128: DSDT 0x7FE0040, FADT 0x7FE198C, RSDT
0x7FE1AD8), and the FADT is QEMU's byte for byte: revision 1, 116 bytes,
PM1a control at 0x604, the PM timer at 0x608, SMI_CMD 0xB2, flags 0x80A5.
The DSDT declares \\_S3_, \\_S4_ and \\_S5_ exactly as QEMU's does, so
`\\_S5_` = Package(4){Zero, Zero, Zero, Zero} → SLP_TYP 0 → write 0x2000.
Unlike QEMU the DSDT holds nothing else and there is no MADT, HPET or WAET
(this machine has no APIC or HPET); their room is left empty.
"""

import struct

from vm.devices.acpi_pm import ACPI_DISABLE, ACPI_ENABLE, PM1_CNT, PM_BASE, PM_TMR, SMI_CMD

OEM_ID = b"BOCHS "
OEM_TABLE_ID = b"BXPC    "
CREATOR_ID = b"BXPC"
GPE0_BLK = 0xAFE0
SCI_IRQ = 9
CMOS_CENTURY = 0x32


def checksum_fix(data: bytearray, at: int, length: int = None):
    """Set data[at] so that the bytes [0, length) sum to 0 mod 256."""
    length = len(data) if length is None else length
    data[at] = 0
    data[at] = -sum(data[:length]) & 0xFF


def table(signature: bytes, revision: int, body: bytes) -> bytes:
    header = struct.pack("<4sIBB6s8sI4sI", signature, 36 + len(body), revision, 0,
                         OEM_ID, OEM_TABLE_ID, 1, CREATOR_ID, 1)
    data = bytearray(header + body)
    checksum_fix(data, 9)
    return bytes(data)


# ---------------------------------------------------------------- AML
def pkg_length(n_content: int) -> bytes:
    """AML PkgLength for a package whose content (after the length) is n bytes."""
    total = n_content + 1
    if total < 0x40:
        return bytes((total,))
    total = n_content + 2
    if total < 0x1000:
        return bytes((0x40 | (total & 0xF), total >> 4))
    total = n_content + 3
    return bytes((0x80 | (total & 0xF), (total >> 4) & 0xFF, total >> 12))


def aml_int(value: int) -> bytes:
    if value == 0:
        return b"\x00"                          # ZeroOp
    if value == 1:
        return b"\x01"                          # OneOp
    return b"\x0a" + bytes((value,))            # BytePrefix

def aml_package(values) -> bytes:
    content = bytes((len(values),)) + b"".join(aml_int(v) for v in values)
    return b"\x12" + pkg_length(len(content)) + content


def aml_name(name: bytes, value: bytes) -> bytes:
    return b"\x08" + name + value


def aml_scope(name: bytes, body: bytes) -> bytes:
    content = name + body
    return b"\x10" + pkg_length(len(content)) + content


def dsdt_aml() -> bytes:
    sleep_states = (aml_name(b"_S3_", aml_package([1, 1, 0, 0]))
                    + aml_name(b"_S4_", aml_package([2, 2, 0, 0]))
                    + aml_name(b"_S5_", aml_package([0, 0, 0, 0])))
    return aml_scope(b"\\", sleep_states)


# ---------------------------------------------------------------- tables
# where QEMU 7.2's tables sit, from the start of the reserved top-of-RAM area
FACS_OFFSET, DSDT_OFFSET, FADT_OFFSET, RSDT_OFFSET = 0x0, 0x40, 0x198C, 0x1AD8


def fadt_body(facs: int, dsdt: int) -> bytes:
    """FADT revision 1 (116 bytes), as QEMU builds it for PIIX4."""
    body = struct.pack("<IIBBHIBBBBIIIIIIIIBBBBBBBBHHHHBBBBBHBI",
                       facs, dsdt, 1, 0, SCI_IRQ, SMI_CMD, ACPI_ENABLE, ACPI_DISABLE, 0, 0,
                       PM_BASE, 0, PM1_CNT, 0, 0, PM_TMR, GPE0_BLK, 0,
                       4, 2, 0, 4, 4, 0, 0, 0,
                       0x0FFF, 0x0FFF, 0, 0, 0, 0, 0, 0, CMOS_CENTURY, 0, 0,
                       0x000080A5)        # WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, RESET_REG_SUP
    assert 36 + len(body) == 116, len(body)
    return body


def facs() -> bytes:
    return struct.pack("<4sIIIII", b"FACS", 64, 0, 0, 0, 0) + bytes(40)


def rsdp(rsdt_address: int) -> bytes:
    data = bytearray(struct.pack("<8sB6sBI", b"RSD PTR ", 0, OEM_ID, 0, rsdt_address))
    checksum_fix(data, 8, 20)
    return bytes(data)


class AcpiTables:
    """The table blob for RAM at `base` and the RSDP that points into it."""

    def __init__(self, base: int):
        dsdt = table(b"DSDT", 1, dsdt_aml())
        assert DSDT_OFFSET + len(dsdt) <= FADT_OFFSET
        blob = bytearray(RSDT_OFFSET + 36 + 4)
        self.base = base
        self.facs, self.dsdt = base + FACS_OFFSET, base + DSDT_OFFSET
        self.fadt, self.rsdt = base + FADT_OFFSET, base + RSDT_OFFSET
        fadt = table(b"FACP", 1, fadt_body(self.facs, self.dsdt))
        rsdt = table(b"RSDT", 1, struct.pack("<I", self.fadt))
        for offset, data in ((FACS_OFFSET, facs()), (DSDT_OFFSET, dsdt), (FADT_OFFSET, fadt), (RSDT_OFFSET, rsdt)):
            blob[offset:offset + len(data)] = data
        self.blob = bytes(blob)
        self.rsdp = rsdp(self.rsdt)
