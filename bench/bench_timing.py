"""Timing-model benchmark: the calibration table and the cost of the hooks.

Prints, for the `tcg` and `kvm` profiles, the table of
../shared/design/VM.md ("Calibration targets"): the seed's figure (read from
vm/timing/seed_figures.toml, transcribed from ../shared/seed/hmm.md), the
VM's figure (printed by the kernel's experiment programs, kernel_src/exp/,
booted on the VM), and their ratio; then the register-loop MIPS with
`--timing tcg` and `--timing off` and their ratio.

    python bench/bench_timing.py [--profiles tcg,kvm] [--no-mips] [--mips-insns N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A register-only loop: add, xor, shl, inc, dec/jnz (no memory), ECX laps.
REGISTER_LOOP = bytes.fromhex(
    "b9 00 00 00 00"      # mov ecx, laps (patched)
    "01 d8"               # loop: add eax, ebx
    "31 c2"               # xor edx, eax
    "d1 e3"               # shl ebx, 1
    "43"                  # inc ebx
    "49"                  # dec ecx
    "75 f6"               # jnz loop
    "c3"                  # ret
)
LOOP_INSNS = 5


def register_loop_seconds(timing: str, laps: int) -> float:
    from vm.flat import FlatMachine
    code = bytearray(REGISTER_LOOP)
    code[1:5] = laps.to_bytes(4, "little")
    fm = FlatMachine.from_code(bytes(code), timing=timing)
    start = time.perf_counter()
    fm.call("start")
    return time.perf_counter() - start


def register_loop_mips(laps: int, repeats: int = 5) -> dict[str, float]:
    """Best of `repeats` for each profile, interleaved so a busy host slows both alike."""
    best = {"off": float("inf"), "tcg": float("inf")}
    for _ in range(repeats):
        for timing in best:
            best[timing] = min(best[timing], register_loop_seconds(timing, laps))
    return {timing: laps * LOOP_INSNS / seconds / 1e6 for timing, seconds in best.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default="tcg,kvm")
    ap.add_argument("--no-mips", action="store_true")
    ap.add_argument("--mips-insns", type=int, default=4_000_000)
    args = ap.parse_args(argv)
    if args.mips_insns < 100_000:
        ap.error("--mips-insns must be at least 100000")
    from compiler.build import BuildError
    from calibration.table import CalibrationError, build_images, calibrate, format_table
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            images = build_images(ROOT, Path(tmp))
            for timing in [p for p in args.profiles.split(",") if p]:
                rows = calibrate(images, timing)
                print(format_table(timing, rows))
                print()
                failures += sum(not r.ok for r in rows)
        except (BuildError, CalibrationError, KeyError) as err:
            print(f"bench_timing: error: {err}", file=sys.stderr)
            return 1
    if not args.no_mips:
        mips = register_loop_mips(args.mips_insns // LOOP_INSNS)
        off, tcg = mips["off"], mips["tcg"]
        print(f"register loop: {tcg:.2f} MIPS with --timing tcg, {off:.2f} MIPS with --timing off, "
              f"ratio {tcg / off:.2f} (must be >= 0.80)")
    print(f"rows outside +-25%: {failures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
