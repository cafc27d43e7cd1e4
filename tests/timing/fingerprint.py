"""Fingerprints of whole kernel runs: what pins the VM's behaviour while its
structure changes (issue 12). One build; the default boot and every `exp=`
program under `tcg` and `kvm`; per run the stop reason, a hash of the serial
output, and the final cycle and instruction counts.

    python tests/timing/fingerprint.py --write    # record (only from code known good)
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("fingerprints.json")
PROGRAMS = ("demo", "printf", "console", "pagefault", "divide", "funmemset", "stackoverflow",
            "stack", "rdtsc", "scan", "subpage", "rw", "sweep", "hlt", "hhdm", "nullstore", "nullload", "recursion")
RUNS = [(None, t) for t in ("tcg", "kvm")] + [(p, t) for p in PROGRAMS for t in ("tcg", "kvm")]
MAX_CYCLES = 20_000_000_000     # a bound, never reached by a run that ends by itself


def key(program, timing) -> str:
    return f"{program or 'default'}/{timing}"


def build_disk(out_dir: Path) -> bytes:
    from compiler.build import build
    return build(ROOT, out_dir=out_dir).disk_image.read_bytes()


def fingerprint(disk: bytes, program, timing) -> dict:
    from compiler.image import with_cmdline
    from vm.machine import Machine
    image = disk if program is None else with_cmdline(disk, f"exp={program}")
    out = io.BytesIO()
    result = Machine(timing=timing, disk=image, serial=out).run(max_cycles=MAX_CYCLES)
    return {"reason": result.reason, "exit_code": result.exit_code,
            "serial_sha256": hashlib.sha256(out.getvalue()).hexdigest(),
            "serial_bytes": len(out.getvalue()), "cycles": result.cycles, "insns": result.insns}


def main(argv) -> int:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        disk = build_disk(Path(tmp))
        table = {key(p, t): fingerprint(disk, p, t) for p, t in RUNS}
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if "--write" in argv:
        DATA.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
