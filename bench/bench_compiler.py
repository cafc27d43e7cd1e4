"""Compiler figures: front-end speed (source lines/s) and the time to build
all of kernel_src/ and runtime/ from scratch and with a warm cache.

    python bench/bench_compiler.py

Targets (issue 3): from scratch < 2 s, no-change rebuild < 0.3 s.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler import emitter  # noqa: E402
from compiler import parser as kparser  # noqa: E402
from compiler.astbuild import build_module  # noqa: E402
from compiler.cache import CompileCache, _source_memo, compile_all  # noqa: E402
from compiler.diagnostics import DiagnosticSink  # noqa: E402
from compiler.driver import check_only  # noqa: E402

ROOTS = [ROOT / "runtime", ROOT / "kernel_src"]


def sources() -> list[Path]:
    return sorted(p for r in ROOTS for p in r.rglob("*.kpy"))


def module_of(p: Path) -> str:
    for r in ROOTS:
        if p.is_relative_to(r):
            return ".".join(p.relative_to(r).with_suffix("").parts)
    return p.stem


def front_end_speed(files: list[Path]) -> tuple[float, float]:
    """Lines/s for parsing alone, and for parse + import + type check."""
    texts = [(str(p), p.read_text()) for p in files]
    lines = sum(t.count("\n") for _, t in texts)
    kparser.get_parser()
    kparser._trees.clear()
    t0 = time.perf_counter()
    for name, text in texts:
        tree = kparser._parse(text, name)
        build_module(tree, name, "m", DiagnosticSink({name: text}))
    parse_s = time.perf_counter() - t0
    kparser._trees.clear()
    t0 = time.perf_counter()
    for p, (name, text) in zip(files, texts):
        check_only(text, name, module_of(p), ROOTS)
    check_s = time.perf_counter() - t0
    return lines / parse_s, lines / check_s, lines


def build_all(cache_dir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to compile every source."""
    cache = CompileCache(cache_dir)
    t0, c0 = time.perf_counter(), cpu_seconds()
    for p in sources():
        cache.compile(p, ROOTS, opt=2)
    emitter.shutdown()      # LLVM's child: waited for, so its CPU time is counted
    return time.perf_counter() - t0, cpu_seconds() - c0


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (LLVM runs in a
    forked child): the figure that does not depend on machine load."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def build_all_parallel(cache_dir: Path) -> float:
    t0 = time.perf_counter()
    compile_all(sources(), ROOTS, opt=2, cache_dir=cache_dir)
    return time.perf_counter() - t0


def full_build(cache_dir: Path) -> float | None:
    try:
        from compiler.build import build
    except ImportError:
        return None
    os.environ["KPY_CACHE_DIR"] = str(cache_dir)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        build(ROOT, opt=2, debug=False, cmdline="", out_dir=Path(out))
        return time.perf_counter() - t0


def fresh_process_builds() -> list[tuple[float, float]] | None:
    """`kpyc build` as a user runs it: a new Python process each time, an
    empty cache, then the same command again with nothing changed. These
    are the figures the targets are about (they include Python's start-up,
    imports, the link and the image)."""
    import subprocess
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, KPY_CACHE_DIR=cache)
        cmd = [sys.executable, "-m", "compiler.cli", "build", "--root", str(ROOT), "-o", out]
        times = []
        for _ in range(2):
            t0, c0 = time.perf_counter(), cpu_seconds()
            r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            times.append((time.perf_counter() - t0, cpu_seconds() - c0))
            if r.returncode != 0:
                print(f"kpyc build (new process): failed: {(r.stderr or r.stdout).strip().splitlines()[:1]}")
                return None
        return times


def main() -> None:
    files = sources()
    parse_lps, check_lps, lines = front_end_speed(files)
    print(f"sources: {len(files)} files, {lines} lines (kernel_src/ + runtime/)")
    print(f"front end, parse only:          {parse_lps:8.0f} lines/s")
    print(f"front end, parse + check:       {check_lps:8.0f} lines/s")
    print(f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall times grow with it)")
    with tempfile.TemporaryDirectory() as d:
        kparser._trees.clear()
        _source_memo.clear()
        cold, cold_cpu = build_all(Path(d))
        warm, _ = build_all(Path(d))
        _source_memo.clear()
        warm_fresh, _ = build_all(Path(d))
    with tempfile.TemporaryDirectory() as d:
        kparser._trees.clear()
        _source_memo.clear()
        par = build_all_parallel(Path(d))
    print(f"compile all, from scratch -O2:  {cold:8.3f} s   ({cold_cpu:.3f} s CPU; target < 2 s)")
    print(f"  same, compile_all on {os.cpu_count()} CPUs: {par:6.3f} s")
    print(f"compile all, warm cache:        {warm:8.3f} s   (target < 0.3 s)")
    print(f"  (warm, sources re-read):      {warm_fresh:8.3f} s")
    with tempfile.TemporaryDirectory() as d:
        kparser._trees.clear()
        _source_memo.clear()
        try:
            cold_b = full_build(Path(d))
            warm_b = full_build(Path(d))
        except Exception as e:      # the build is another part's; report, do not fail
            print(f"kpyc build (compiler.build.build): failed: {e}".splitlines()[0])
            return
    if cold_b is not None:
        print(f"kpyc build (link + image), from scratch: {cold_b:6.3f} s")
        print(f"kpyc build (link + image), no change:    {warm_b:6.3f} s")
    fresh = fresh_process_builds()
    if fresh is not None:
        note = " (PYTHONDONTWRITEBYTECODE is set: Python recompiles its own modules every run)" \
            if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""
        (cold_w, cold_c), (warm_w, warm_c) = fresh
        print(f"kpyc build, new process, from scratch:   {cold_w:6.3f} s   ({cold_c:.3f} s CPU over all its processes; target < 2 s)")
        print(f"kpyc build, new process, no change:      {warm_w:6.3f} s   ({warm_c:.3f} s CPU; target < 0.3 s){note}")


if __name__ == "__main__":
    main()
