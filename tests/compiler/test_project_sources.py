"""Every kpy source of the project (kernel_src/ and runtime/) compiles at
the optimisation extremes, with and without debug info."""
import pytest

import harness
from compiler.cache import compile_all

ROOTS = [harness.ROOT / "runtime", harness.ROOT / "kernel_src"]
SOURCES = sorted(p for r in ROOTS for p in r.rglob("*.kpy"))


@pytest.mark.parametrize("opt,debug", [(0, False), (2, True)])
def test_project_sources_compile(tmp_path, opt, debug):
    objs = compile_all(SOURCES, roots=ROOTS, opt=opt, debug=debug, cache_dir=tmp_path, jobs=1)
    assert len(objs) == len(SOURCES)
    for data in objs.values():
        assert data[:4] == b"\x7fELF"
