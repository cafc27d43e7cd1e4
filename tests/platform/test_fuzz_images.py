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


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(image=st.binary(max_size=1600), rom=st.booleans(), whole=st.booleans())
def test_random_files_through_the_command_line(image, rom, whole):
    """Any file given as the disk image or as --bios, as a user would: an exit
    status from the documented list and a `kpy vm:` message, never a traceback."""
    import contextlib
    import tempfile

    from vm.cli import main
    if whole and rom:          # a 64 KiB ROM with these bytes at the reset vector
        image = (image * (0x10000 // max(len(image), 1) + 1))[:0x10000].ljust(0x10000, b"\xf4")
    elif whole:                # a signed boot sector
        image = image[:510].ljust(510, b"\0") + b"\x55\xaa" + image[510:]
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(image)
        f.flush()
        err = io.StringIO()
        args = ["--bios", f.name] if rom else [f.name]
        with contextlib.redirect_stderr(err):
            status = main(args + ["--max-insns", "200", "--serial", "none", "--timing", "off", "-m", "2"])
    statuses = set(EXIT_STATUS.values()) - {EXIT_STATUS["internal-error"]}
    assert status in statuses or status & 1, err.getvalue()
    assert "kpy vm:" in err.getvalue() or status == 0 or status & 1
    assert "Traceback" not in err.getvalue()
    if rom and len(image) % 0x10000:
        assert status == EXIT_STATUS["bad-input"] and "BIOS ROM" in err.getvalue()
