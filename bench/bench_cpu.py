"""CPU speed: guest MIPS (instructions retired per host second, median of 5)
for a register loop, a memory read/write loop, a call/ret loop, a polled-UART
print loop (read LSR, test THRE, write THR: 9 instructions a character) and a
2-instruction dec/jnz loop, under the `off` and `tcg` timing profiles, the
tcg/off ratio (target >= 0.8), on CPython and, in the same run, on PyPy.
Beside them, a host reference: the register loop's lap written directly in
Python, what this machine and engine do with the same arithmetic with no
emulator around it (the VM's block runs this body plus its lap count and
chunk test), to read wall-clock MIPS targets against on a machine slower or
faster than the one they were set on.

    python bench/bench_cpu.py [--iterations N] [--boot] [--soak N] [--no-pypy]

Under PyPy each loop first runs 6 discarded samples' worth of calls (its
JIT is still compiling traces and bridges then); the figure is the steady
state.  The PyPy column comes from this script run again under `pypy3` (skipped
when it is not installed): the loops are assembled here (the assembler is
llvmlite, which PyPy lacks) and handed over as machine code.

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

from vm.flat import FlatMachine  # noqa: E402

BASE = 0x100000
WARMUP = 6 if sys.implementation.name == "pypy" else 0     # samples run before the five that count
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
    "polled-UART print loop": ("""
movl 4(%esp), %ecx
1: movw $0x3FD, %dx
2: inb %dx, %al
testb $0x20, %al
jz 2b
movw $0x3F8, %dx
movb $0x41, %al
outb %al, %dx
decl %ecx
jnz 1b
ret""", 9),
    "dec/jnz loop": ("""
movl 4(%esp), %ecx
1: decl %ecx
jnz 1b
ret""", 2),
}


def assembled() -> dict:
    from tests.cpu.asm import assemble
    return {name: assemble(text, base=BASE) for name, (text, _) in LOOPS.items()}


def measure(name, code, timing, iterations):
    fm = FlatMachine.from_code(code, timing=timing)
    buf = fm.alloc(3 * 4096, align=4096)
    n = iterations if name != "memory read/write loop" else 1000
    if name == "dec/jnz loop":
        n = iterations * 10                 # 2 instructions a lap: as long a run as the others
    reps = max(1, iterations // n)
    fm.call("start", 100, buf)            # translate once (warm the block cache)

    def sample():
        start_insns = fm.cpu.insns
        t0 = time.perf_counter()
        for _ in range(reps):
            fm.call("start", n, buf)
        return (fm.cpu.insns - start_insns) / (time.perf_counter() - t0) / 1e6
    return steady_median(sample)


def steady_median(sample) -> float:
    """The median of 5 calls of `sample` (MIPS) after WARMUP discarded ones:
    PyPy's JIT keeps compiling traces and bridges for the first few samples'
    worth of calls (the memory loop: ~10 MIPS in the first, ~140 from the
    seventh), so the figure is the steady state."""
    return statistics.median([sample() for _ in range(WARMUP + 5)][WARMUP:])


def register_lap_in_python(laps):
    """The register loop's lap written directly in Python, with the masks and
    the carry the VM's block keeps (the block's own body, without the VM):
    what this host does with the same arithmetic with no emulator around it."""
    eax, ecx, edx, ebx = 0, laps, 7, 0
    for _ in range(laps):
        eax = (eax + edx) & 0xFFFFFFFF
        edx = edx ^ ecx
        ebx = (eax + edx * 2 + 3) & 0xFFFFFFFF
        borrow = edx - ebx
        edx = borrow & 0xFFFFFFFF
        dec = ecx - 1
        ecx = dec & 0xFFFFFFFF
        if dec == 0:
            break
    return eax, ebx


def host_reference(iterations) -> float:
    """register_lap_in_python's speed in MIPS-equivalent (6 instructions a
    lap), measured as the loops are."""
    def sample():
        t0 = time.perf_counter()
        register_lap_in_python(iterations)
        return iterations * 6 / (time.perf_counter() - t0) / 1e6
    return steady_median(sample)


def boot_image(tmp: Path) -> bytes:
    from bench_boot import build_image
    return build_image(2, "", tmp)


def boot(image: bytes, tmp: Path):
    """{label: (MIPS, instructions, end reason)} for a cold and a warm boot
    (bench_boot.py's runs, median of 5)."""
    from bench_boot import vm_boots, wall_of
    return {label: (runs[0][2] / wall_of(runs) / 1e6, runs[0][2], runs[0][1].reason)
            for label, runs in vm_boots(image, "tcg", 5, tmp).items()}


def figures(codes: dict, iterations: int, image, tmp: Path) -> dict:
    """Every figure of this engine: {"loops": {name: (off, tcg)}, "boot": ...}."""
    loops = {name: (measure(name, code, "off", iterations), measure(name, code, "tcg", iterations))
             for name, code in codes.items()}
    return {"loops": loops, "host": host_reference(iterations),
            "boot": boot(image, tmp) if image is not None else {}}


def pypy_figures(codes: dict, iterations: int, image, tmp: Path):
    """The same figures measured by this script under pypy3 (None without it)."""
    import json
    import shutil
    import subprocess
    pypy = shutil.which("pypy3")
    if pypy is None:
        return None
    request = tmp / "pypy-request.json"
    image_path = tmp / "pypy-boot.img"
    if image is not None:
        image_path.write_bytes(image)
    request.write_text(json.dumps({"codes": {k: v.hex() for k, v in codes.items()}, "iterations": iterations,
                                   "image": str(image_path) if image is not None else None}))
    from vm.engine import child_environment      # as `--engine pypy` runs it
    out = subprocess.run([pypy, __file__, "--child", str(request)], capture_output=True, text=True,
                         env=child_environment("pypy"))
    if out.returncode != 0:
        print(f"pypy3 run failed:\n{out.stderr}", file=sys.stderr)
        return None
    return json.loads(out.stdout.splitlines()[-1])


def child(request_path: str) -> int:
    """Under pypy3: measure what the CPython parent asks for, print it as JSON."""
    import json
    import tempfile
    req = json.loads(Path(request_path).read_text())
    codes = {k: bytes.fromhex(v) for k, v in req["codes"].items()}
    image = Path(req["image"]).read_bytes() if req["image"] else None
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(figures(codes, req["iterations"], image, Path(tmp))))
    return 0


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
    ap.add_argument("--no-pypy", action="store_true", help="CPython only")
    ap.add_argument("--child", metavar="REQUEST", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        sys.exit(child(args.child))
    if args.soak:
        sys.exit(soak(args.soak))
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        codes = assembled()
        image = boot_image(Path(tmp)) if args.boot else None
        engines = {"CPython": figures(codes, args.iterations, image, Path(tmp))}
        pypy = None if args.no_pypy else pypy_figures(codes, args.iterations, image, Path(tmp))
        if pypy is not None:
            engines["PyPy"] = pypy
    report(engines)


def report(engines: dict):
    print(f"{'loop':<24} {'engine':<8} {'off MIPS':>9} {'tcg MIPS':>9} {'tcg/off':>8}")
    for name in LOOPS:
        for engine, figs in engines.items():
            off, tcg = figs["loops"][name]
            print(f"{name:<24} {engine:<8} {off:9.2f} {tcg:9.2f} {tcg / off:8.2f}")
    for engine, figs in engines.items():
        reg = figs["loops"]["register loop"][0]
        print(f"host reference ({engine}): the register loop's lap as plain Python, {figs['host']:.2f} "
              f"MIPS-equivalent; the VM's register loop (off) is {reg / figs['host']:.0%} of it")
    for engine, figs in engines.items():
        for label, (mips, insns, reason) in figs["boot"].items():
            print(f"kernel boot to power-off ({engine}, tcg, {label} translations): {mips:.2f} MIPS, "
                  f"{insns} instructions, ended: {reason}")


if __name__ == "__main__":
    main()
