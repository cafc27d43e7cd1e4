"""1,000 random disk images and ROMs: every run ends in a report, never a
Python exception (the Machine turns emulator bugs into "internal-error",
which this test counts as a failure too)."""

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vm.machine import EXIT_STATUS, Machine

MAX_INSNS = 200
FUZZ = settings(max_examples=500, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_run(**kwargs):
    m = Machine(ram_size=2 << 20, timing="off", serial=io.BytesIO(), debugcon=io.BytesIO(), **kwargs)
    r = m.run(max_insns=MAX_INSNS)
    assert r.reason != "internal-error", r.report
    assert r.reason in EXIT_STATUS or r.reason == "debug-exit"
    assert r.exit_code == EXIT_STATUS.get(r.reason, r.exit_code)
    if r.reason not in ("poweroff", "debug-exit"):
        assert r.report.startswith(f"kpy vm: {r.reason}")


boot_code = st.binary(min_size=0, max_size=510)


@FUZZ
@given(code=boot_code, tail=st.binary(max_size=2048))
def test_random_boot_sectors_end_in_a_report(code, tail):
    check_run(disk=code.ljust(510, b"\0") + b"\x55\xAA" + tail)


@FUZZ
@given(head=st.binary(max_size=256), entry=st.binary(min_size=16, max_size=16),
       fill=st.integers(0, 255))
def test_random_roms_end_in_a_report(head, entry, fill):
    rom = bytearray(bytes((fill,)) * 0x10000)
    rom[:len(head)] = head
    rom[0xFFF0:] = entry
    check_run(bios=bytes(rom))


def multiboot_header(flags: int) -> bytes:
    import struct
    return struct.pack("<III", 0x1BADB002, flags, -(0x1BADB002 + flags) & 0xFFFFFFFF)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(prefix=st.binary(max_size=64), flags=st.sampled_from([0x3, 0x10003, 0x10000, 0x7, 0x1]),
       fields=st.binary(min_size=20, max_size=20), body=st.binary(max_size=512), elf=st.booleans())
def test_random_multiboot_kernels_give_an_error_or_a_report(prefix, flags, fields, body, elf):
    from vm.machine import MachineError
    head = b"\x7fELF\x01\x01\x01" + prefix if elf else prefix
    image = head[: len(head) // 4 * 4] + multiboot_header(flags) + fields + body
    try:
        check_run(kernel=image)
    except MachineError as err:
        assert str(err)
