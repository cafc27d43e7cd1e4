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

from compiler import parser as kparser  # noqa: E402
from compiler.astbuild import build_module  # noqa: E402
from compiler.cache import CompileCache, _source_memo  # noqa: E402
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


def build_all(cache_dir: Path) -> float:
    cache = CompileCache(cache_dir)
    t0 = time.perf_counter()
    for p in sources():
        cache.compile(p, ROOTS, opt=2)
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


def main() -> None:
    files = sources()
    parse_lps, check_lps, lines = front_end_speed(files)
    print(f"sources: {len(files)} files, {lines} lines (kernel_src/ + runtime/)")
    print(f"front end, parse only:          {parse_lps:8.0f} lines/s")
    print(f"front end, parse + check:       {check_lps:8.0f} lines/s")
    with tempfile.TemporaryDirectory() as d:
        kparser._trees.clear()
        _source_memo.clear()
        cold = build_all(Path(d))
        warm = build_all(Path(d))
        _source_memo.clear()
        warm_fresh = build_all(Path(d))
    print(f"compile all, from scratch -O2:  {cold:8.3f} s   (target < 2 s)")
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


if __name__ == "__main__":
    main()
