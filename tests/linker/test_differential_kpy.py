"""kpyc's own output against ld.lld: every program of the language's corpus
(tests/compiler/corpus, imports followed, with the runtime) compiled by kpyc
with -g, linked by ours and by Debian's ld.lld from the same layout (the
kernel's: run at 0xFE000000, loaded at 0x400000; and again with gc_sections):
byte-identical loadable sections, the same symbol addresses, the same
relocated DWARF."""
import copy
import re
import shutil
from pathlib import Path

import pytest

from compiler.build import TargetSpec, _ObjectCache, target_objects
from lk_diff import assert_links_like_lld
from lk_programs import kernel_layout

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "compiler" / "corpus"
ROOTS = [CORPUS, ROOT / "runtime"]



def first_expected_function(path: Path) -> str | None:
    match = re.search(r"^# expect: (\w+)\(", path.read_text(), re.M)
    return match.group(1) if match else None


# Programs with an `# expect: f(...)` line; `f` is the entry of the link.
PROGRAMS = [p for p in sorted(CORPUS.glob("*.kpy")) if first_expected_function(p)]

pytestmark = pytest.mark.skipif(shutil.which("ld.lld") is None,
                                reason="ld.lld not installed (apt-get install lld)")


@pytest.fixture(scope="module")
def cache():
    return _ObjectCache(ROOTS, opt=2, debug=True)


def test_the_corpus_is_big_enough():
    assert len(PROGRAMS) >= 10


@pytest.mark.parametrize("gc", [False, True], ids=["", "gc"])
@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_kpyc_program_links_as_lld_links_it(program, gc, cache, tmp_path):
    entry = first_expected_function(program)
    layout = copy.deepcopy(kernel_layout(entry=entry, gc=gc))
    spec = TargetSpec("kernel", layout, [program.stem], True, ["runtime/*.kpy", "runtime/lib/*.kpy"], [])
    cache.prefetch([program])
    objects = target_objects(spec, ROOT, ROOTS, cache)
    assert_links_like_lld(objects, layout, tmp_path)
