"""Fixtures for the kernel tests: build kernel_src/ once per optimisation
level, write the boot command line into copies of the image, boot them on
the VM or on qemu-system-i386, and look up kernel symbols."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAM = 128 << 20


class KernelBuild:
    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.image = (out_dir / "disk.img").read_bytes()
        self.elf = out_dir / "kernel.elf"
        self._symbols = None

    def image_with(self, cmdline: str) -> bytes:
        from compiler.image import with_cmdline
        return with_cmdline(self.image, cmdline)

    def symbol(self, name: str) -> int:
        from elftools.elf.elffile import ELFFile
        with open(self.elf, "rb") as fh:
            found = ELFFile(fh).get_section_by_name(".symtab").get_symbol_by_name(name)
        assert found, f"no symbol {name} in {self.elf}"
        return found[0]["st_value"]

    def function_at(self, address: int) -> str | None:
        """Name of the function symbol whose range holds `address`."""
        if self._symbols is None:
            from elftools.elf.elffile import ELFFile
            with open(self.elf, "rb") as fh:
                tab = ELFFile(fh).get_section_by_name(".symtab")
                self._symbols = [(s["st_value"], s["st_size"], s.name) for s in tab.iter_symbols()
                                 if s["st_info"]["type"] == "STT_FUNC"]
        for start, size, name in self._symbols:
            if start <= address < start + max(size, 1):
                return name
        return None


_builds: dict[tuple[int, bool], KernelBuild] = {}


@pytest.fixture(scope="session")
def kernel_build(tmp_path_factory):
    """kernel_build(opt, debug=False) -> KernelBuild, built once per session."""
    from compiler.build import build

    def get(opt: int = 2, debug: bool = False) -> KernelBuild:
        if (opt, debug) not in _builds:
            out = tmp_path_factory.mktemp(f"kernel-O{opt}{'-g' if debug else ''}")
            build(ROOT, opt=opt, debug=debug, out_dir=out)
            _builds[(opt, debug)] = KernelBuild(out)
        return _builds[(opt, debug)]
    return get


def boot_vm(image: bytes, max_insns: int = 200_000_000, timing: str = "tcg", machine_out=None,
            ram: int = RAM, prepare=None):
    """Boot `image` on the VM; (RunResult, serial text). `machine_out`, a
    list, receives the Machine for tests that inspect it afterwards;
    `prepare(machine)` runs before the first instruction."""
    from vm.machine import Machine
    serial = io.BytesIO()
    machine = Machine(ram_size=ram, timing=timing, disk=image, serial=serial)
    if prepare is not None:
        prepare(machine)
    result = machine.run(max_insns=max_insns, timeout=120)
    if machine_out is not None:
        machine_out.append(machine)
    return result, serial.getvalue().decode(errors="replace")


def qemu_path() -> str | None:
    return shutil.which("qemu-system-i386")


def qemu_command(image: bytes, tmp_path: Path, no_reboot: bool = True) -> list[str]:
    disk = tmp_path / "disk.img"
    disk.write_bytes(image)
    return [qemu_path(), "-machine", "pc", "-accel", "tcg", "-m", "128",
            "-drive", f"format=raw,file={disk}", "-serial", "stdio",
            "-display", "none", "-monitor", "none", *(["-no-reboot"] if no_reboot else [])]


def boot_qemu(image: bytes, tmp_path: Path, timeout: int = 60):
    """Boot `image` on qemu-system-i386 (TCG); (exit status, serial text).
    Without -no-reboot: a reset or triple fault reboots the guest (the log
    repeats, or QEMU runs into the timeout) instead of exiting 0, so exit
    status 0 can only come from the guest's ACPI power-off."""
    proc = subprocess.run(qemu_command(image, tmp_path, no_reboot=False), capture_output=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout.decode(errors="replace")


def boot_qemu_until(image: bytes, tmp_path: Path, last_line: str, timeout: int = 60) -> str:
    """Boot on QEMU until the guest prints a line ending in `last_line` (for
    programs that halt for good, such as the exception reports), then stop QEMU."""
    proc = subprocess.Popen(qemu_command(image, tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    lines = []
    try:
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace").rstrip("\r\n"))
            if lines[-1].endswith(last_line):
                break
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def vm():
    """vm(image, **options) -> (RunResult, serial text)."""
    return boot_vm


@pytest.fixture
def qemu(tmp_path):
    """qemu(image) -> (exit status, serial text); skips when QEMU is absent."""
    if qemu_path() is None:
        pytest.skip("qemu-system-i386 is not installed (apt-get install qemu-system-x86)")
    return lambda image, timeout=60: boot_qemu(image, tmp_path, timeout)


@pytest.fixture
def qemu_until(tmp_path):
    """qemu_until(image, last_line) -> serial text up to that line."""
    if qemu_path() is None:
        pytest.skip("qemu-system-i386 is not installed (apt-get install qemu-system-x86)")
    return lambda image, last_line, timeout=60: boot_qemu_until(image, tmp_path, last_line, timeout)


REPORT = re.compile(r"exception (\d+) (.+): error=0x([0-9a-f]+) eip=0x([0-9a-f]{8}) "
                    r"cs=0x([0-9a-f]+) eflags=0x([0-9a-f]{8}) cr2=0x([0-9a-f]{8})")


def parse_exception_report(build: KernelBuild, out: str) -> dict:
    """The fields of the kernel's exception report in `out`, with the
    functions holding its EIP and the backtrace's return addresses."""
    match = REPORT.search(out)
    assert match, out
    assert "kernel halted" in out
    vector, name, code, eip, cs, eflags, cr2 = match.groups()
    callers = re.search(r"called from:((?: 0x[0-9a-f]{8})*)", out)
    assert callers, out
    thread = re.search(r"in thread (\S+); kernel halted", out)
    assert thread, out
    return dict(vector=int(vector), name=name, code=int(code, 16), eip=int(eip, 16),
                cs=int(cs, 16), eflags=int(eflags, 16), cr2=int(cr2, 16),
                function=build.function_at(int(eip, 16)),
                callers=[build.function_at(int(a, 16)) for a in callers.group(1).split()],
                thread=thread.group(1))


@pytest.fixture(scope="session")
def parse_report():
    """parse_report(build, serial text) -> the exception report's fields."""
    return parse_exception_report
