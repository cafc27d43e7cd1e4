"""Host instructions of one boot of the default kernel, counted by valgrind.

Wall time on a shared host drifts: the same warm boot has read 0.10 and
0.17 s minutes apart, so a change worth 3% cannot be seen in it. The
number of host instructions the Python process executes for a boot
(valgrind's cachegrind, `I refs`, with PYTHONHASHSEED fixed) does not
drift: it is the figure to compare two trees by. Each count is of a whole
process, so the boot's share is the difference between a process that
boots 3 times and one that boots once (both after one boot that warms the
process up), divided by 2.

    python bench/bench_host_insns.py [-O 2] [--timing tcg] [--kind warm|cold]

Needs valgrind (Debian's `valgrind`); without it, says so and exits 0.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def boots(image: Path, store: Path, timing: str, kind: str, count: int) -> None:
    """The child: one boot to warm the process up, then `count` more, each
    as bench_boot times them."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_boot import vm_run
    from vm.cpu.codecache import CodeCache
    disk = image.read_bytes()
    for _ in range(1 + count):
        cache = CodeCache(store if kind == "warm" else None)
        result = vm_run(disk, timing, cache)[1]
        if result.reason != "poweroff":
            sys.exit(f"the boot did not power off: {result.reason}")
        cache.save()          # the priming run's boot fills a warm run's store
    print(result.insns, result.cycles)


def counted(args, image: Path, store: Path, count: int) -> tuple[int, str]:
    """(host instructions, the child's output) of a child that boots `count` times."""
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, __file__, "--child", str(image), str(store), args.timing, args.kind, str(count)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode or refs is None:
        sys.exit(f"valgrind run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(refs.group(1).replace(",", "")), done.stdout.strip()


def main() -> int:
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        image, store, timing, kind, count = sys.argv[2:]
        boots(Path(image), Path(store), timing, kind, int(count))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-O", dest="opt", type=int, default=2, choices=(0, 1, 2))
    ap.add_argument("--timing", default="tcg", help="VM timing profile (tcg, kvm, off)")
    ap.add_argument("--kind", default="warm", choices=("warm", "cold"),
                    help="warm: translations from an earlier boot's store; cold: none")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not installed: skipped")
        return 0
    sys.path.insert(0, str(ROOT))
    from compiler.build import build
    with tempfile.TemporaryDirectory() as tmp:
        image = build(ROOT, opt=args.opt, out_dir=Path(tmp)).disk_image
        store = Path(tmp) / "blocks.sqlite"
        # the store first, so both counted processes warm up alike
        subprocess.run([sys.executable, __file__, "--child", str(image), str(store), args.timing, args.kind, "0"],
                       check=True, capture_output=True, cwd=ROOT)
        once, out = counted(args, image, store, 1)
        thrice, _ = counted(args, image, store, 3)
    insns, cycles = out.split()
    print(f"VM (-O{args.opt}, {args.timing}, {args.kind}): {(thrice - once) // 2:,} host instructions a boot "
          f"(guest instructions {insns}, emulated cycles {cycles}; valgrind cachegrind, PYTHONHASHSEED=0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
