"""The kernel's default boot: the boot log on the VM, the same lines on
QEMU, and every optimisation level."""
import re

import pytest

# Lines that must appear, in this order, in the default boot log.
BOOT_LOG = [
    "kpy boot: stage 2 in protected mode",
    "kpy boot: HHDM check before paging: fail",
    "kpy boot: HHDM check after paging: pass",
    "Hello from kpy",
    "crt: 1 global constructor(s) run",
    'kpy kernel: command line ""',
    "cpu: GDT with TSS loaded, IDT with 32 exception handlers (#DF: a task gate to TSS 0x28)",
    "timer: PIC remapped to 32-47, PIT at 200 Hz",
    "kpy kernel: running exp=demo",
    "demo: co-operative scheduling",
    *[f"coop: thread {t} round {r}" for r in range(3) for t in "ABC"],
    "demo: sleep",
    "sleep: thread B slept 10 ticks: woke on time",
    "sleep: thread C slept 20 ticks: woke on time",
    "sleep: thread A slept 30 ticks: woke on time",
    "demo: pre-emptive scheduling",
    "demo: 11 threads ran in 5 thread slots",     # main, idle, then 3 x 3 workers reusing slots
    "demo: done",
    "acpi: powering off",
]

PREEMPT_LINES = {f"preempt: thread {t} ran in several time slices" for t in "ABC"}


def lines_of(text):
    return [line.rstrip("\r") for line in text.split("\n")]


def assert_in_order(lines, expected):
    position = 0
    for want in expected:
        try:
            position = lines.index(want, position) + 1
        except ValueError:
            raise AssertionError(f"missing (in order) {want!r}; log:\n" + "\n".join(lines))


def assert_boot_log(text):
    lines = lines_of(text)
    kernel_lines = lines[lines.index("Hello from kpy"):]
    assert kernel_lines[0] == "Hello from kpy"
    assert_in_order(lines, BOOT_LOG)
    assert PREEMPT_LINES <= set(lines), "\n".join(lines)
    assert any(re.fullmatch(r"e820: 0x[0-9a-f]{16}-0x[0-9a-f]{16} usable", l) for l in lines)
    frames = [l for l in lines if l.startswith("frames: ")]
    assert frames and re.fullmatch(r"frames: \d+ total, \d+ free, \d+ used \(\d+ KiB free\)", frames[0])
    stack = [l for l in lines if l.startswith("sched: main thread on the boot stack at ")]
    assert stack and 0xC0007000 <= int(stack[0].split()[-1], 16) < 0xC0007C00
    assert any(re.fullmatch(r"acpi: RSDP 0x[0-9a-f]+ RSDT 0x[0-9a-f]+ FADT 0x[0-9a-f]+ "
                            r"DSDT 0x[0-9a-f]+: PM1a_CNT=0x604 SLP_TYPa=0", l) for l in lines)


def test_default_boot_on_vm(kernel_build, vm):
    result, out = vm(kernel_build(2).image)
    assert result.reason == "poweroff", result.report + out
    assert result.exit_code == 0
    assert_boot_log(out)


def test_default_boot_on_qemu(kernel_build, vm, qemu):
    """QEMU prints the same log as the VM, every line identical: stage 2, the
    HHDM checks, the E820 map, frame counts, the boot stack address, the
    co-operative interleaving, the sleep wake-up order, the pre-emption
    results, the ACPI table addresses (our BIOS lays them out as SeaBIOS
    does) and power-off."""
    status, out = qemu(kernel_build(2).image)
    assert status == 0, out
    assert_boot_log(out)
    result, vm_out = vm(kernel_build(2).image)
    assert result.reason == "poweroff"
    assert lines_of(out) == lines_of(vm_out)


@pytest.mark.parametrize("opt", [0, 1])
def test_other_optimisation_levels_boot_on_vm(kernel_build, vm, opt):
    result, out = vm(kernel_build(opt).image)
    assert result.reason == "poweroff", result.report + out
    assert_boot_log(out)


def test_unknown_program_lists_the_known_ones(kernel_build, vm):
    result, out = vm(kernel_build(2).image_with("exp=nosuch"))
    assert result.reason == "poweroff", result.report + out
    listed = [l for l in lines_of(out) if l.startswith("kpy kernel: unknown exp=nosuch; known: ")]
    assert listed, out
    known = listed[0].split("known: ")[1].split()
    assert known[:6] == ["demo", "printf", "console", "pagefault", "divide", "funmemset"]


def test_default_boot_under_the_kvm_timing_profile(kernel_build, vm):
    """The demo does not depend on the tcg costs (its timing comes from the
    PIT, which both profiles drive from emulated cycles)."""
    result, out = vm(kernel_build(2).image, timing="kvm")
    assert result.reason == "poweroff", result.report + out
    assert_boot_log(out)


@pytest.mark.parametrize("where", ["vm", "qemu"])
def test_kpyc_run_builds_boots_and_powers_off(tmp_path, where):
    """The command a user types: `kpyc run` (and `kpyc run --qemu`) builds
    kernel_src/, boots it, prints the boot log and exits 0 on the kernel's
    ACPI power-off."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path
    if where == "qemu" and shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "compiler.cli", "run", "-o", str(tmp_path),
                           *(["--qemu"] if where == "qemu" else [])],
                          cwd=root, capture_output=True, timeout=300)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, out + proc.stderr.decode(errors="replace")
    assert_boot_log(out)
