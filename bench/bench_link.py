"""Link-time figures: the kernel of kernel_src/ (when it compiles) and a synthetic program.

    python bench/bench_link.py            # prints seconds per link (best of N)

Objects are compiled once; only the link (read objects, resolve, place,
relocate, write ELF + map + flat) is timed. Target: kernel link < 0.3 s.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "linker"))

from compiler.linker import link  # noqa: E402


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def kernel_objects():
    """The kernel target's objects, compiled through the build driver; None if it cannot build yet."""
    from compiler.build import BuildError, _ObjectCache, load_description, target_objects
    try:
        desc = load_description(ROOT)
    except BuildError as exc:
        print(f"kernel: no build description ({exc})")
        return None
    spec = desc.targets[desc.kernel or next(iter(desc.targets))]
    for debug in (True, False):
        try:
            objects = target_objects(spec, ROOT, desc.roots, _ObjectCache(desc.roots, opt=2, debug=debug))
            return objects, spec.layout, f"kernel (-O2{' -g' if debug else ''})"
        except BuildError as exc:
            print(f"kernel{' with -g' if debug else ''}: cannot build ({str(exc).splitlines()[0]})")
    return None


def synthetic_objects():
    from lk_objects import make_object
    from lk_programs import kernel_layout, many_objects
    sources = many_objects(count=60, funcs=25)
    return [(s.name, make_object(s.ir, s.asm, opt=s.opt)) for s in sources], kernel_layout(entry="f_0_0")



def report(name: str, objects, layout) -> None:
    result = link(objects, layout)
    relocs = sum(len(s.relocs) for o in _inputs(objects) for s in o.sections if s is not None)
    seconds = best_of(lambda: link(objects, layout))
    print(f"{name}: {len(objects)} objects, {sum(len(d) for _, d in objects)} bytes in, {relocs} relocations, "
          f"{len(result.elf)} bytes ELF out: link {seconds * 1000:.1f} ms (best of 5)")


def report_warm_build() -> None:
    """The whole build() with a warm compile cache: import scan, cache lookups, 3 links, image, writes."""
    import tempfile
    from compiler.build import build
    with tempfile.TemporaryDirectory() as out:
        build(ROOT, out_dir=out)
        seconds = best_of(lambda: build(ROOT, out_dir=out), repeat=3)
    print(f"warm build() of kernel_src (all targets + disk image): {seconds * 1000:.0f} ms (best of 3)")


def _inputs(objects):
    from compiler.linker.objfile import read_object
    return [read_object(n, d) for n, d in objects]


def main() -> int:
    kernel = kernel_objects()
    if kernel is not None:
        objects, layout, name = kernel
        report(name, objects, layout)
        report_warm_build()
    objects, layout = synthetic_objects()
    report("synthetic (60 objects x 25 functions)", objects, layout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
