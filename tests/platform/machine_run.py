"""Run an image on the VM (or on QEMU) and collect what the tests look at."""

import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from vm.machine import Machine


@dataclass
class Outcome:
    reason: str
    exit_code: int
    serial: bytes
    machine: Machine
    report: str
    cycles: int


def run_vm(image=None, max_insns=2_000_000, timing="off", ram_size=16 << 20, **kwargs) -> Outcome:
    serial = io.BytesIO()
    m = Machine(ram_size=ram_size, timing=timing, disk=image, serial=serial, **kwargs)
    r = m.run(max_insns=max_insns)
    return Outcome(r.reason, r.exit_code, serial.getvalue(), m, r.report, r.cycles)


def run_qemu(image: bytes, timeout=20, memory="16") -> tuple[int, bytes]:
    """Boot the same image on qemu-system-i386 (TCG) with the isa-debug-exit device."""
    if shutil.which("qemu-system-i386") is None:
        import pytest
        pytest.skip("qemu-system-i386 is not installed (scripts/setup.sh --test installs it)")
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(image)
        f.flush()
        p = subprocess.run(["qemu-system-i386", "-machine", "pc", "-m", memory, "-display", "none",
                            "-no-reboot", "-serial", "stdio", "-drive", f"format=raw,file={f.name}",
                            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
                           capture_output=True, timeout=timeout)
    return p.returncode, p.stdout
