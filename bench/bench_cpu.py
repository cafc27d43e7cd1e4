"""CPU speed: guest MIPS (instructions retired per host second, median of 5)
for a register loop, a memory read/write loop and a call/ret loop, under the
`off` and `tcg` timing profiles, and the tcg/off ratio (target >= 0.8).

    python bench/bench_cpu.py [--iterations N] [--boot] [--soak N]

--boot also times a whole kernel boot to ACPI power-off, with every block
translated in the run ("cold") and with translations reused from an earlier
boot ("warm"; vm/cpu/codecache.py), as bench_boot.py does.
--soak N runs N random instruction sequences (half 32-bit protected mode,
half 16-bit real mode) against Unicorn, as tests/cpu/test_differential.py
does, and prints the mismatches (the longer run before resolving issue 5).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cpu.asm import assemble  # noqa: E402
from vm.flat import FlatMachine  # noqa: E402

BASE = 0x100000
LOOPS = {
    "register loop": ("""
movl 4(%esp), %ecx
xorl %eax, %eax
movl $7, %edx
1: addl %edx, %eax
xorl %ecx, %edx
leal 3(%eax,%edx,2), %ebx
subl %ebx, %edx
decl %ecx
jnz 1b
ret""", 6),
    "memory read/write loop": ("""
movl 4(%esp), %ecx
movl 8(%esp), %esi
xorl %edx, %edx
1: movl (%esi,%ecx,4), %eax
addl %eax, %edx
movl %edx, 4096(%esi,%ecx,4)
decl %ecx
jnz 1b
movl %edx, %eax
ret""", 5),
    "call/ret loop": ("""
movl 4(%esp), %ecx
xorl %eax, %eax
1: call f
decl %ecx
jnz 1b
ret
f: pushl %ebp
movl %esp, %ebp
addl $1, %eax
popl %ebp
ret""", 7),
}


def measure(name, timing, iterations):
    text, per_iter = LOOPS[name]
    fm = FlatMachine.from_code(assemble(text, base=BASE), timing=timing)
    buf = fm.alloc(3 * 4096, align=4096)
    n = iterations if name != "memory read/write loop" else 1000
    reps = max(1, iterations // n)
    fm.call("start", 100, buf)            # translate once (warm the block cache)
    samples = []
    for _ in range(5):
        start_insns = fm.cpu.insns
        t0 = time.perf_counter()
        for _ in range(reps):
            fm.call("start", n, buf)
        dt = time.perf_counter() - t0
        samples.append((fm.cpu.insns - start_insns) / dt / 1e6)
    return statistics.median(samples)


def boot():
    """{label: (MIPS, instructions, end reason)} for a cold and a warm boot
    (bench_boot.py's runs, median of 5)."""
    import tempfile
    from bench_boot import build_image, vm_boots, wall_of
    with tempfile.TemporaryDirectory() as tmp:
        image = build_image(2, "", Path(tmp))
        return {label: (runs[0][2] / wall_of(runs) / 1e6, runs[0][2], runs[0][1].reason)
                for label, runs in vm_boots(image, "tcg", 5, Path(tmp)).items()}


def soak(total, first_seed=1_000_000):
    from tests.cpu.differential import Mismatch, run_batch
    batch, done, failures = 100, 0, []
    t0 = time.perf_counter()
    seed = first_seed
    while done < total:
        mode16 = (seed % 2) == 1
        try:
            run_batch(seed, batch, mode16=mode16)
        except Mismatch as m:
            failures.append(str(m))
        done += batch
        seed += 1
    dt = time.perf_counter() - t0
    print(f"soak: {done} sequences (seeds {first_seed}..{seed - 1}), {len(failures)} batches with a "
          f"mismatch, {dt:.0f} s")
    for text in failures[:10]:
        print("----\n" + text)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=300_000)
    ap.add_argument("--boot", action="store_true")
    ap.add_argument("--soak", type=int, default=0, metavar="N")
    args = ap.parse_args()
    if args.soak:
        sys.exit(soak(args.soak))
    print(f"{'loop':<26} {'off MIPS':>9} {'tcg MIPS':>9} {'tcg/off':>8}")
    for name in LOOPS:
        off = measure(name, "off", args.iterations)
        tcg = measure(name, "tcg", args.iterations)
        print(f"{name:<26} {off:9.2f} {tcg:9.2f} {tcg / off:8.2f}")
    if args.boot:
        for label, (mips, insns, reason) in boot().items():
            print(f"kernel boot to power-off (tcg, {label} translations): {mips:.2f} MIPS, "
                  f"{insns} instructions, ended: {reason}")


if __name__ == "__main__":
    main()
