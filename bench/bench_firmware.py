"""Time from reset to the boot sector (the first instruction at 0x7C00)
under SeaBIOS on the VM: wall-clock seconds (and this process's CPU
seconds, steadier on a shared machine), guest instructions, emulated cycles. The built-in BIOS gets there with no guest code, so only the real
firmware is timed.

    python bench/bench_firmware.py [--image build/disk.img] [--engine pypy] [--runs 3]

By default the machine uses the VM's shared translation cache, as
`python -m vm` does (on disk under $KPY_CACHE_DIR or ~/.cache/kpy: a boot
after the first compiles nothing); `--cold` gives each run an empty
in-memory cache, so it compiles all of SeaBIOS's code, as a first boot does.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reset_to_boot_sector(image: bytes, rom: str, cold: bool, timing: str = "tcg"):
    from vm.cpu import codecache
    from vm.machine import Machine
    cache = codecache.CodeCache(None) if cold else codecache.SHARED
    m = Machine(ram_size=128 << 20, timing=timing, disk=image, bios=rom, code_cache=cache)
    reached = []

    def at_boot_sector(cpu):
        if not reached:
            reached.append((time.perf_counter(), time.process_time(), cpu.insns, cpu.cycles))
            m.pause()
    m.cpu.add_exec_hook(0x7C00, at_boot_sector)
    start, start_cpu = time.perf_counter(), time.process_time()
    m.advance(max_insns=50_000_000)
    if not reached:
        raise SystemExit(f"SeaBIOS did not reach 0x7C00: {m.result().report}")
    end, end_cpu, insns, cycles = reached[0]
    return end - start, end_cpu - start_cpu, insns, cycles


def main():
    from vm.cli import SEABIOS_ROM
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default=str(ROOT / "build" / "disk.img"))
    p.add_argument("--bios", default=SEABIOS_ROM)
    p.add_argument("--engine", choices=("cpython", "pypy"), default=None)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cold", action="store_true", help="an empty translation cache for every run")
    args = p.parse_args()
    here = "pypy" if sys.implementation.name == "pypy" else "cpython"
    if args.engine and args.engine != here:
        argv = [a for a in sys.argv[1:] if a not in ("--engine", args.engine)]
        exe = "pypy3" if args.engine == "pypy" else "python3"
        return subprocess.call([exe, __file__, *argv])
    image = Path(args.image).read_bytes()
    print(f"{here} {sys.version.split()[0]}: reset -> 0x7C00 under {args.bios}"
          f" ({'cold' if args.cold else 'shared'} translation cache)")
    for run in range(args.runs):
        seconds, cpu, insns, cycles = reset_to_boot_sector(image, args.bios, args.cold)
        print(f"  run {run + 1}: {seconds:.2f} s wall ({cpu:.2f} s CPU), {insns:,} instructions, {cycles:,} cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
