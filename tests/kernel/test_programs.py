"""Kernel programs and settings chosen on the boot command line, and what
the kernel leaves on the machine (frame counts, the VGA screen), checked
on the VM."""

PRINTF_LINES = [
    "printf: d=-42 i=7 u=4294967295 x=deadbeef X=DEADBEEF p=0x0000beef s=kpy c=Z pct=%",
    "printf: width [   42] [00042] [-0042] [  kpy] [ff] [     ABC] [00001234]",
    "printf: l -2147483648 4294967295 cafe",
    "printf: ll 18446744073709551615 -9223372036854775808 123456789abcdef0 "
    "FEDCBA9876543210 00000012345678901234",
    "printf: small -1 0 0",
    "printf: unknown %q and null (null)",
]


def lines_of(text):
    return [line.rstrip("\r") for line in text.split("\n")]


def test_printf_conversions(kernel_build, vm):
    result, out = vm(kernel_build(2).image_with("exp=printf"))
    assert result.reason == "poweroff", result.report + out
    lines = lines_of(out)
    start = lines.index("kpy kernel: running exp=printf") + 1
    assert lines[start:start + len(PRINTF_LINES)] == PRINTF_LINES


def test_timer_rate_from_command_line(kernel_build, vm):
    machines = []
    result, out = vm(kernel_build(2).image_with("hz=250 exp=demo"), machine_out=machines)
    assert result.reason == "poweroff", result.report + out
    lines = lines_of(out)
    assert 'kpy kernel: command line "hz=250 exp=demo"' in lines
    assert "timer: PIC remapped to 32-47, PIT at 250 Hz" in lines
    channel = machines[0].pit.channels[0]           # what the PIT was really given
    assert (channel.mode, channel.reload) == (2, round(1193182 / 250))
    assert "sleep: thread A slept 30 ticks: woke on time" in lines
    assert "demo: done" in lines


def test_frame_counts_follow_e820_and_the_kernel_image(kernel_build, vm):
    """The VM's E820 (128 MiB): usable 0-0x9FBFF and 0x100000-0x7FDFFFF.
    Free frames: the high range minus the kernel image and the frame array
    (one byte per frame) right after it; low memory is kept."""
    build = kernel_build(2)
    result, out = vm(build.image)
    total = 0x7FE0000 >> 12
    image_start = build.symbol("kernel_phys_start")
    array_start = (build.symbol("kernel_phys_end") + 0xFFF) & ~0xFFF
    array_end = (array_start + total + 0xFFF) & ~0xFFF
    free = (0x7FE0000 - 0x100000 - (array_end - image_start)) >> 12
    assert f"frames: {total} total, {free} free, {total - free} used ({free * 4} KiB free)" in lines_of(out)


def test_vga_console_mirrors_the_serial_log(kernel_build, vm):
    machines = []
    result, out = vm(kernel_build(2).image, machine_out=machines)
    assert result.reason == "poweroff"
    screen = [row.rstrip() for row in machines[0].vga.screen_text().split("\n") if row.strip()]
    assert screen[-1] == "acpi: powering off"
    assert "demo: done" in screen
    assert "preempt: thread C ran in several time slices" in screen


def test_stage2_reports_a_missing_boot_info_sector(kernel_build, vm):
    image = bytearray(kernel_build(2).image)
    image[64 * 512:64 * 512 + 4] = b"NOPE"
    result, out = vm(bytes(image), max_insns=5_000_000)
    assert result.reason == "hlt-no-interrupts", result.report
    assert "kpy stage2: no boot info sector (KPYB) at LBA 64" in out
    assert "Hello from kpy" not in out


def test_vga_console_scrolls_past_the_end_of_text_memory(kernel_build, vm):
    """230 lines: the console scrolls with the CRTC start address and, at
    the 204th row of text memory, copies the screen back to the top."""
    machines = []
    result, out = vm(kernel_build(2).image_with("exp=console"), machine_out=machines)
    assert result.reason == "poweroff", result.report + out
    screen = [row.rstrip() for row in machines[0].vga.screen_text().split("\n") if row.strip()]
    assert screen[-1] == "acpi: powering off"
    # ~255 rows were written: the shown page starts low again only after a wrap
    assert machines[0].vga.start_address % 80 == 0
    assert machines[0].vga.start_address // 80 < 204 - 25
    numbered = [l for l in screen if l.startswith("console line ")]
    assert numbered and numbered[-1] == "console line 229"
    assert [int(l.split()[-1]) for l in numbered] == list(range(230 - len(numbered), 230))


def test_out_of_range_timer_rate_falls_back_to_the_default(kernel_build, vm):
    result, out = vm(kernel_build(2).image_with("hz=5 exp=printf"))
    assert result.reason == "poweroff", result.report + out
    lines = lines_of(out)
    assert "timer: hz=5 is outside 19-500; using 200" in lines
    assert "timer: PIC remapped to 32-47, PIT at 200 Hz" in lines


def test_stage2_reports_too_little_memory_for_the_kernel(kernel_build, vm):
    """4 MiB of RAM: the kernel's load address (4 MiB) is past its end."""
    result, out = vm(kernel_build(2).image, ram=4 << 20, max_insns=5_000_000)
    assert result.reason == "hlt-no-interrupts", result.report
    assert "kpy boot: not enough memory: no usable E820 range holds the kernel" in lines_of(out)
    assert "Hello from kpy" not in out


def test_two_gib_machine_powers_off_through_tables_above_the_direct_map(kernel_build, vm):
    """With 2 GiB the ACPI tables sit near 0x7FFE0000, past the 960 MiB the
    direct map reaches: mm.physmap maps a window for them. The frame array
    stops where the direct map does."""
    result, out = vm(kernel_build(2).image_with("exp=printf"), ram=2 << 30)
    assert result.reason == "poweroff", result.report + out
    lines = lines_of(out)
    assert any(l.startswith("frames: 245760 total, ") for l in lines), out
    assert any(l.startswith("acpi: RSDP ") and "RSDT 0x7ffe" in l for l in lines), out


def corrupt_table_at_boot(signature: bytes):
    """A `prepare` hook: when the BIOS jumps to the MBR (its ACPI tables are
    built by then), flip one byte inside the table with `signature`."""
    def prepare(machine):
        def corrupt(cpu):
            top = machine.ram_size - 0x20000         # where the BIOS keeps its tables
            tables = machine.memory.read(top, 0x20000)
            at = tables.find(signature)
            assert at >= 0, signature
            machine.memory.write(top + at + 10, bytes([tables[at + 10] ^ 0x55]))
        machine.cpu.add_exec_hook(0x7C00, corrupt)
    return prepare


def test_acpi_refuses_a_fadt_with_a_bad_checksum(kernel_build, vm):
    result, out = vm(kernel_build(2).image_with("exp=printf"), prepare=corrupt_table_at_boot(b"FACP"))
    assert result.reason == "hlt-no-interrupts", result.report + out
    assert any(l.startswith("acpi: no valid RSDT/FADT") for l in lines_of(out)), out
    assert "acpi: powering off" not in out


def test_acpi_refuses_a_dsdt_with_a_bad_checksum(kernel_build, vm):
    result, out = vm(kernel_build(2).image_with("exp=printf"), prepare=corrupt_table_at_boot(b"DSDT"))
    assert result.reason == "hlt-no-interrupts", result.report + out
    assert any(l.startswith("acpi: bad DSDT at 0x") for l in lines_of(out)), out


def edit_table_at_boot(signature: bytes, edit):
    """A `prepare` hook: when the BIOS jumps to the MBR, `edit(table)` the
    ACPI table with `signature` (a bytearray, same length) and fix its
    checksum, as another firmware would have written it."""
    def prepare(machine):
        def patch(cpu):
            top = machine.ram_size - 0x20000         # where the BIOS keeps its tables
            tables = machine.memory.read(top, 0x20000)
            at = tables.find(signature)
            assert at >= 0, signature
            table = bytearray(tables[at:at + int.from_bytes(tables[at + 4:at + 8], "little")])
            edit(table)
            table[9] = 0
            table[9] = (-sum(table)) & 0xFF
            machine.memory.write(top + at, bytes(table))
        machine.cpu.add_exec_hook(0x7C00, patch)
    return prepare


def s5_package_at_boot(elements: bytes):
    """A `prepare` hook: rewrite the first elements of the DSDT's \\_S5_ package."""
    def edit(dsdt):
        s5 = dsdt.find(b"_S5_")
        assert s5 > 0 and dsdt[s5 + 4] == 0x12           # PackageOp
        first = s5 + 4 + 1 + 1 + 1          # PackageOp, 1-byte PkgLength, NumElements
        dsdt[first:first + len(elements)] = elements
    return edit_table_at_boot(b"DSDT", edit)


def test_acpi_reads_a_byte_prefixed_s5_sleep_type(kernel_build, vm):
    """\\_S5_ = Package{BytePrefix 5, ...}: the kernel takes SLP_TYPa = 5 from
    the AML and writes 5 << 10 | SLP_EN. (The VM powers off only for its own
    S5 value, 0, so the kernel then reports that it is still running.)"""
    result, out = vm(kernel_build(2).image_with("exp=printf"),
                     prepare=s5_package_at_boot(bytes([0x0A, 0x05, 0x00, 0x00])))
    lines = lines_of(out)
    assert any(l.startswith("acpi: RSDP ") and l.endswith("PM1a_CNT=0x604 SLP_TYPa=5") for l in lines), out
    assert "acpi: still running after the S5 write" in lines
    assert result.reason == "hlt-no-interrupts"


def test_acpi_refuses_an_rsdt_with_a_bad_checksum(kernel_build, vm):
    result, out = vm(kernel_build(2).image_with("exp=printf"), prepare=corrupt_table_at_boot(b"RSDT"))
    assert result.reason == "hlt-no-interrupts", result.report + out
    assert any(l.startswith("acpi: no valid RSDT/FADT") for l in lines_of(out)), out
    assert "acpi: powering off" not in out


def fadt_pm1a_at_boot(port: int):
    """A `prepare` hook: the FADT's PM1a_CNT_BLK (offset 64) set to `port`."""
    def edit(fadt):
        fadt[64:68] = port.to_bytes(4, "little")
    return edit_table_at_boot(b"FACP", edit)


def test_acpi_writes_the_pm1a_port_the_fadt_names(kernel_build, vm):
    """Another PM1a control port in the FADT: the kernel reports and writes
    that port (nothing there on the VM, so it stays up and says so)."""
    result, out = vm(kernel_build(2).image_with("exp=printf"), prepare=fadt_pm1a_at_boot(0xB004))
    lines = lines_of(out)
    assert any(l.startswith("acpi: RSDP ") and l.endswith("PM1a_CNT=0xb004 SLP_TYPa=0") for l in lines), out
    assert "acpi: still running after the S5 write" in lines
    assert result.reason == "hlt-no-interrupts"


def test_e820_entries_marked_ignore_are_not_used(kernel_build, vm):
    """An ACPI 3 BIOS can clear bit 0 of an entry's extended attributes
    ("ignore this entry"). Cleared here on the high usable range when the
    kernel starts: only the low 640 KiB remain usable, all of it reserved
    for the boot structures, so no frame is free and the kernel stops with
    a message for want of a stack arena."""
    def prepare(machine):
        def ignore_high_ram(cpu):
            count = int.from_bytes(machine.memory.read(0x3204, 4), "little")
            for i in range(count):
                at = 0x3208 + 24 * i
                base = int.from_bytes(machine.memory.read(at, 8), "little")
                if base == 0x100000:
                    machine.memory.write(at + 20, bytes(4))
        machine.cpu.add_exec_hook(0x400000, ignore_high_ram)     # the kernel's first instruction
    result, out = vm(kernel_build(2).image, prepare=prepare, max_insns=20_000_000)
    lines = lines_of(out)
    assert "frames: 159 total, 0 free, 159 used (0 KiB free)" in lines, out
    assert "kpy kernel: no memory for the thread stack arena; kernel halted" in lines
    assert result.reason == "hlt-no-interrupts"


def test_a_reserved_range_inside_usable_ram_keeps_its_frames_used(kernel_build, vm):
    """An E820 map with a reserved range overlapping a usable one (added
    when the kernel starts, 0x200800-0x2027FF: three frames touched): those
    frames are not free."""
    build = kernel_build(2)

    def free_frames(prepare=None):
        result, out = vm(build.image_with("exp=printf"), prepare=prepare)
        assert result.reason == "poweroff", result.report + out
        line = [l for l in lines_of(out) if l.startswith("frames: ")][0]
        return int(line.split()[3])

    def prepare(machine):
        def add_reserved(cpu):
            count = int.from_bytes(machine.memory.read(0x3204, 4), "little")
            entry = (0x200800).to_bytes(8, "little") + (0x2000).to_bytes(8, "little") + \
                (2).to_bytes(4, "little") + (1).to_bytes(4, "little")
            machine.memory.write(0x3208 + 24 * count, entry)
            machine.memory.write(0x3204, (count + 1).to_bytes(4, "little"))
        machine.cpu.add_exec_hook(0x400000, add_reserved)       # the kernel's first instruction
    assert free_frames(prepare) == free_frames() - 3
