"""Boot benchmark: power-on to ACPI shutdown of the default kernel.

Prints, for the VM (median of 5 runs): host wall time, guest instructions,
emulated cycles and MIPS, twice: "cold", every block translated in the run
(an empty translation cache: a kernel booted for the first time), and
"warm", translations reused from an earlier boot of the same image (what
a second `kpyc run` gets from the on-disk cache, vm/cpu/codecache.py).
For qemu-system-i386 under TCG (median of 5): the wall time of the whole
QEMU process, start-up included (Debian's QEMU has no TCG plugins, so it
cannot count guest instructions).

    python bench/bench_boot.py [-O 2] [--runs 5] [--cmdline "exp=demo"]
"""
from __future__ import annotations

import argparse
import gc
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_image(opt: int, cmdline: str, out_dir: Path) -> bytes:
    from compiler.build import build
    return build(ROOT, opt=opt, cmdline=cmdline, out_dir=out_dir).disk_image.read_bytes()


KERNEL_LOAD_PHYS = 0x400000     # where stage 2 jumps: the kernel's first instruction
VM_TARGET_S = 1.5               # issue 8: power-on to ACPI power-off on the VM


def vm_run(image: bytes, timing: str, code_cache):
    """(wall s, RunResult, guest instructions, emulated cycles, wall s until
    the kernel's first instruction)."""
    from vm.machine import Machine
    from vm.collector import relaxed_collector
    # As timeit does: no earlier run's garbage is collected inside this one.
    # The boot runs under the collector thresholds `kpyc run` keeps, so the
    # young collection of what it keeps comes after power-off, as there
    # (docs/vm-execution.md, the collector).
    gc.collect()
    machine = Machine(ram_size=128 << 20, timing=timing, disk=image, serial=io.BytesIO(), code_cache=code_cache)
    kernel_entry = []
    machine.cpu.add_exec_hook(KERNEL_LOAD_PHYS,
                              lambda cpu: kernel_entry or kernel_entry.append(time.perf_counter() - start))
    with relaxed_collector():
        start = time.perf_counter()
        result = machine.run(timeout=600)
        wall = time.perf_counter() - start
    return wall, result, result.insns, result.cycles, (kernel_entry or [float("nan")])[0]


def qemu_run(image_path: Path) -> float:
    cmd = ["qemu-system-i386", "-machine", "pc", "-accel", "tcg", "-m", "128",
           "-drive", f"format=raw,file={image_path}", "-serial", "null",
           "-display", "none", "-monitor", "none", "-no-reboot"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    return time.perf_counter() - start


def vm_boots(image: bytes, timing: str, count: int, tmp: Path) -> dict:
    """{"cold": runs, "warm": runs} (see vm_run): cold runs translate every
    block; warm runs start, as a new process would, from a store of the
    translations an earlier boot of the same image made."""
    from vm.cpu.codecache import CodeCache
    store = tmp / "blocks.sqlite"     # a store of its own: the user's cache is left alone
    first = CodeCache(store)
    vm_run(image, timing, first)
    first.save()
    return {label: [vm_run(image, timing, CodeCache(None if label == "cold" else store)) for _ in range(count)]
            for label in ("cold", "warm")}


def cold_breakdown(image: bytes, timing: str) -> dict:
    """Where one cold boot's wall time goes: translating blocks (decoding,
    emitting Python source, compiling it) against running them."""
    import builtins
    from vm.cpu import core
    from vm.cpu.codecache import CodeCache
    spent = {"translating": 0.0, "compile": 0.0, "blocks": 0, "decoded": 0}
    compile_block = core.CPU._compile_block

    def timed_compile_block(cpu, *args):
        t0 = time.perf_counter()
        t = compile_block(cpu, *args)
        spent["translating"] += time.perf_counter() - t0
        spent["blocks"] += 1
        spent["decoded"] += len(t.eips)
        return t

    def timed_compile(*args, **kwargs):
        t0 = time.perf_counter()
        code = builtins.compile(*args, **kwargs)
        spent["compile"] += time.perf_counter() - t0
        return code

    core.CPU._compile_block, core.compile = timed_compile_block, timed_compile
    try:
        wall, result = vm_run(image, timing, CodeCache(None))[:2]
    finally:
        core.CPU._compile_block = compile_block
        del core.compile
    spent.update(wall=wall, insns=result.insns)
    return spent


def wall_of(runs) -> float:
    return statistics.median(r[0] for r in runs)


def report_vm(label, runs, args) -> bool:
    bad = [r for r in runs if r[1].reason != "poweroff"]
    if bad:
        print(f"VM run did not power off: {bad[0][1].reason}\n{bad[0][1].report}", file=sys.stderr)
        return False
    wall = wall_of(runs)
    to_kernel = statistics.median(r[4] for r in runs)
    insns, cycles = runs[0][2], runs[0][3]
    if len({(r[2], r[3]) for r in runs}) > 1:     # the VM is deterministic: this is a bug
        print("VM runs differ: guest instructions/cycles " + ", ".join(f"{r[2]}/{r[3]}" for r in runs),
              file=sys.stderr)
    print(f"VM   (-O{args.opt}, {args.timing}, {label}): wall {wall:.3f} s median of {args.runs} "
          f"(firmware + boot loader until the kernel's first instruction: {to_kernel:.3f} s), "
          f"guest instructions {insns}, emulated cycles {cycles}, {insns / wall / 1e6:.2f} MIPS")
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-O", dest="opt", type=int, default=2, choices=(0, 1, 2))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--timing", default="tcg", help="VM timing profile (tcg, kvm, off)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        image = build_image(args.opt, args.cmdline, Path(tmp))
        walls = {}
        for label, runs in vm_boots(image, args.timing, args.runs, Path(tmp)).items():
            if not report_vm(label, runs, args):
                return 1
            walls[label] = wall_of(runs)
        print(f"     target under {VM_TARGET_S} s (cold): {'met' if walls['cold'] < VM_TARGET_S else 'NOT met'}")
        b = cold_breakdown(image, args.timing)
        running = b["wall"] - b["translating"]
        print(f"     one cold boot, {b['wall']:.3f} s: translating {b['blocks']} blocks "
              f"({b['decoded']} instructions decoded) {b['translating']:.3f} s, of which Python's compile() "
              f"{b['compile']:.3f} s; running {b['insns']} instructions {running:.3f} s "
              f"({b['insns'] / running / 1e6:.2f} MIPS)")
        if shutil.which("qemu-system-i386"):
            path = Path(tmp) / "disk.img"
            path.write_bytes(image)
            qwall = statistics.median(qemu_run(path) for _ in range(args.runs))
            print(f"QEMU (TCG): wall {qwall:.3f} s median of {args.runs} (process start-up included)")
        else:
            print("QEMU: qemu-system-i386 not installed, skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
