"""The compile cache: unchanged modules are not recompiled; a changed body
of an imported module does not invalidate its importers, a changed
interface does."""
import os
from pathlib import Path

import pytest

import compiler.cache as cache_mod
from compiler.cache import compile_cached
from compiler.driver import compile_file

LIB_V1 = "def helper(x: u32) -> u32:\n    return x + 1\n"
LIB_BODY = "def helper(x: u32) -> u32:\n    return x + 2\n"
LIB_SIG = "def helper(x: u32, y: u32) -> u32:\n    return x + y\n"
MAIN = "from lib2.util import helper\n\ndef f() -> u32:\n    return helper(1)\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "lib2").mkdir(parents=True)
    (src / "lib2" / "util.kpy").write_text(LIB_V1)
    (src / "app.kpy").write_text(MAIN)
    calls = []
    real = cache_mod.compile_module

    def counting(src_text, filename, module, *a, **kw):
        calls.append(module)
        return real(src_text, filename, module, *a, **kw)
    monkeypatch.setattr(cache_mod, "compile_module", counting)
    return src, tmp_path / "cache", calls


def build(src: Path, cache: Path):
    return [compile_cached(src / p, roots=[src], opt=1, cache_dir=cache) for p in ("app.kpy", "lib2/util.kpy")]


def test_warm_build_compiles_nothing(project):
    src, cache, calls = project
    first = build(src, cache)
    assert sorted(calls) == ["app", "lib2.util"]
    calls.clear()
    assert build(src, cache) == first
    assert calls == []
    assert first[0] == compile_file(src / "app.kpy", roots=[src], opt=1)


def test_body_change_recompiles_only_that_module(project):
    src, cache, calls = project
    build(src, cache)
    calls.clear()
    (src / "lib2" / "util.kpy").write_text(LIB_BODY)
    build(src, cache)
    assert calls == ["lib2.util"]


def test_interface_change_recompiles_importers(project):
    src, cache, calls = project
    build(src, cache)
    calls.clear()
    (src / "lib2" / "util.kpy").write_text(LIB_SIG)
    (src / "app.kpy").write_text(MAIN.replace("helper(1)", "helper(1, 2)"))
    build(src, cache)
    assert sorted(calls) == ["app", "lib2.util"]
    calls.clear()
    (src / "app.kpy").write_text(MAIN)         # now wrong: one argument
    with pytest.raises(cache_mod.CompileError):
        compile_cached(src / "app.kpy", roots=[src], opt=1, cache_dir=cache)


def test_options_are_part_of_the_key(project):
    src, cache, calls = project
    a = compile_cached(src / "app.kpy", roots=[src], opt=0, cache_dir=cache)
    b = compile_cached(src / "app.kpy", roots=[src], opt=2, cache_dir=cache)
    c = compile_cached(src / "app.kpy", roots=[src], opt=2, debug=True, cache_dir=cache)
    assert calls == ["app", "app", "app"]
    assert len({a, b, c}) == 3


def test_compile_all_matches_compile_file(project):
    from compiler.cache import compile_all
    src, cache, calls = project
    paths = [src / "app.kpy", src / "lib2" / "util.kpy"]
    got = compile_all(paths, roots=[src], opt=2, cache_dir=cache, jobs=2)
    assert [got[p] for p in paths] == [compile_file(p, roots=[src], opt=2) for p in paths]
    again = compile_all(paths, roots=[src], opt=2, cache_dir=cache, jobs=2)
    assert again == got


def _note_output(log_dir, path, output):
    """compile_all's `each` for the test below: one file per output (it runs
    in a forked worker, whose memory the test does not see)."""
    (log_dir / f"{path.stem}.{os.getpid()}").write_bytes(output)


def test_compile_all_hands_each_compiled_output_to_each(project, tmp_path):
    from functools import partial

    from compiler.cache import compile_all
    src, cache, calls = project
    paths = [src / "app.kpy", src / "lib2" / "util.kpy"]
    log = tmp_path / "log"
    log.mkdir()
    got = compile_all(paths, roots=[src], opt=2, cache_dir=cache, jobs=2, each=partial(_note_output, log))
    noted = {f.name.split(".")[0]: f.read_bytes() for f in log.iterdir()}
    assert noted == {p.stem: got[p] for p in paths}
    assert all(int(f.name.split(".")[1]) != os.getpid() for f in log.iterdir())     # in the workers
    for f in log.iterdir():
        f.unlink()
    compile_all(paths, roots=[src], opt=2, cache_dir=cache, jobs=2, each=partial(_note_output, log))
    assert not list(log.iterdir())          # cache hits: nothing compiled, nothing handed over


def test_compile_all_reports_every_failing_source(tmp_path):
    from compiler.cache import compile_all
    (tmp_path / "a.kpy").write_text("def f() -> u32:\n    return x\n")
    (tmp_path / "b.kpy").write_text("def g() -> u32:\n    return y\n")
    with pytest.raises(cache_mod.CompileError) as ei:
        compile_all([tmp_path / "a.kpy", tmp_path / "b.kpy"], roots=[tmp_path], cache_dir=tmp_path / "c", jobs=2)
    assert len(ei.value.diagnostics) == 2
