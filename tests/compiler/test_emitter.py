"""LLVM runs in one forked child per process (compiler/emitter.py): a child
that dies is mapped back to the module it was serving, which gets a
located diagnostic; the other modules still compile, and kpyc lives on."""
import os

import pytest

from compiler import emitter
from compiler.cache import compile_all
from compiler.driver import CompileError, compile_source

GOOD = "def f(a: u32) -> u32:\n    return a + 1\n"
KILLS_LLVM = 'def g() -> None:\n    pass\n\nglobal_asm(".org -1")\n'     # LLVM exits the process


def _pid(_unused):
    return os.getpid()


def _abort(_unused):
    os.abort()


def test_one_child_serves_every_request():
    first = emitter.isolated(_pid, None)
    assert first != os.getpid()
    assert emitter.isolated(_pid, None) == first


def test_a_dead_child_fails_only_its_request_and_is_replaced():
    before = emitter.isolated(_pid, None)
    with pytest.raises(emitter.EmitFailure) as ei:
        emitter.isolated(_abort, None)
    assert "LLVM stopped" in ei.value.report
    after = emitter.isolated(_pid, None)
    assert after not in (before, os.getpid())


def test_module_that_kills_llvm_is_located_and_the_next_compiles():
    with pytest.raises(CompileError) as ei:
        compile_source(KILLS_LLVM, filename="bad.kpy", module="bad", opt=2)
    assert "bad.kpy:4:1: error: asm: invalid .org offset" in str(ei.value)
    assert compile_source(GOOD, filename="good.kpy", module="good", opt=2)[:4] == b"\x7fELF"


@pytest.mark.parametrize("jobs", [1, 2])
def test_compile_all_blames_the_module_that_killed_llvm(tmp_path, jobs):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "c", "d"):
        (src / f"{name}.kpy").write_text(GOOD)
    (src / "b.kpy").write_text(KILLS_LLVM)
    paths = sorted(src.glob("*.kpy"))
    with pytest.raises(CompileError) as ei:
        compile_all(paths, roots=[src], opt=1, cache_dir=tmp_path / "cache", jobs=jobs)
    report = str(ei.value)
    assert report.count(": error:") == 1, report
    assert f"{src / 'b.kpy'}:4:1: error: asm: invalid .org offset" in report, report
    (src / "b.kpy").write_text(GOOD)
    objects = compile_all(paths, roots=[src], opt=1, cache_dir=tmp_path / "cache", jobs=jobs)
    assert all(obj[:4] == b"\x7fELF" for obj in objects.values())


def _sleep(seconds):
    import time
    time.sleep(seconds)
    return "slept"


def test_an_interrupted_request_does_not_leak_its_answer_into_the_next():
    import signal

    def interrupt(*_):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            emitter.isolated(_sleep, 5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert emitter.isolated(_pid, None) != os.getpid()      # a fresh child, answering this request
    assert emitter.isolated(_sleep, 0) == "slept"
