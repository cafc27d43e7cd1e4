"""Re-fit the `tcg` split between the per-byte and the per-block cost of a
store to a page holding executed code.

The seed's ret sweep fixes their sum (17 cycles: every executed `ret` is
one byte and one block). The two boot pages fix the split: this boots the
kernel, reads how many executed bytes and block starts the code-byte
record holds on pages 0x7000 and 0x8000, and prints the per-byte shares
that put both pages within ±25% of the seed's ~1,550 and ~4,100, and the
middle one in the profile's units.

    python -m calibration.fit [--image build/disk.img]
"""
from __future__ import annotations

import argparse
import io
import sys
from fractions import Fraction

from vm.timing import load_profile

BOOT_PAGES = {0x7: 1550, 0x8: 4100}     # seed cycles/op for the load-and-store loop
TOLERANCE = Fraction(1, 4)
SCAN_LOOP = 14                           # the load-and-store loop's own cost under tcg


def boot_page_counts(image: bytes) -> dict[int, tuple[int, int]]:
    """Executed bytes and block starts per boot page after a run of exp=rw."""
    from compiler.image import with_cmdline
    from vm.machine import Machine
    machine = Machine(timing="tcg", disk=with_cmdline(image, "exp=rw"), serial=io.BytesIO())
    machine.run(timeout=600)
    mem = machine.memory
    return {p: (mem.executed_bytes(p), mem.executed_blocks(p)) for p in BOOT_PAGES}


def allowed_byte_shares(counts, per_unit: int, fixed: int) -> tuple[Fraction, Fraction] | None:
    """Interval of per-byte cost a (with per-block cost per_unit - a) that
    keeps every boot page within the tolerance, or None."""
    lo, hi = Fraction(0), Fraction(per_unit)
    for page, target in BOOT_PAGES.items():
        nbytes, blocks = counts[page]
        # cost(a) = fixed + a * nbytes + (per_unit - a) * blocks, linear in a
        base, slope = fixed + per_unit * blocks, nbytes - blocks
        bounds = [(target * (1 - TOLERANCE) - base), (target * (1 + TOLERANCE) - base)]
        if slope == 0:
            if not bounds[0] <= 0 <= bounds[1]:
                return None
            continue
        a1, a2 = sorted(Fraction(b) / slope for b in bounds)
        lo, hi = max(lo, a1), min(hi, a2)
    return (lo, hi) if lo <= hi else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m calibration.fit", description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="build/disk.img")
    args = ap.parse_args(argv)
    try:
        image = open(args.image, "rb").read()
    except OSError as err:
        print(f"calibration.fit: error: cannot read {args.image}: {err.strerror}", file=sys.stderr)
        return 1
    tcg = load_profile("tcg")
    per_unit = Fraction(tcg.exec_byte_write + tcg.exec_block_write, tcg.exec_cost_divisor)
    counts = boot_page_counts(image)
    for page, (nbytes, blocks) in counts.items():
        print(f"page 0x{page << 12:05x}: {nbytes} executed bytes, {blocks} block starts")
    span = allowed_byte_shares(counts, per_unit, SCAN_LOOP + tcg.code_page_write)
    if span is None:
        print(f"no split of {per_unit} cycles per byte+block puts both pages within 25%")
        return 1
    lo, hi = span
    mid = (lo + hi) / 2
    d = tcg.exec_cost_divisor
    byte_units = round(mid * d)
    print(f"per-byte share allowed: {float(lo):.3f} .. {float(hi):.3f}; middle {float(mid):.3f}")
    print(f"tcg.toml: exec_byte_write = {byte_units}, exec_block_write = {int(per_unit * d) - byte_units}, "
          f"exec_cost_divisor = {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
