"""Our linker against Debian's ld.lld driven by the same layout (see lldscript.py)."""
import shutil

import pytest

from lk_diff import assert_links_like_lld, compile_program, lld_link, objcopy_binary
from lk_programs import programs
from lk_runner import Loaded

from compiler.linker import link

pytestmark = pytest.mark.skipif(shutil.which("ld.lld") is None,
                                reason="ld.lld not installed (apt-get install lld)")
PROGRAMS = programs()


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_same_as_lld(program, tmp_path):
    objects = compile_program(program)
    ours, theirs = assert_links_like_lld(objects, program.layout, tmp_path)
    if program.layout.format != "elf":
        flat = objcopy_binary(theirs, tmp_path / "bin")
        assert ours.flat[:len(flat)] == flat
        if program.layout.lma is None and all(s.lma is None for s in program.layout.sections):
            assert lld_link(objects, program.layout, tmp_path / "lldbin", binary=True) == flat
        assert ours.flat[len(flat):].strip(b"\0") in (b"", b"\x55\xaa")


@pytest.mark.parametrize("program", [p for p in PROGRAMS if p.calls], ids=lambda p: p.name)
def test_linked_program_runs(program, tmp_path):
    ours = link(compile_program(program), program.layout)
    machine = Loaded(ours.elf)
    for name, args, expected in program.calls:
        assert machine.call(name, *args) == expected, name


def test_identical_strings_are_stored_once():
    by_name = {p.name: p for p in PROGRAMS}
    merged = link(compile_program(by_name["merged-strings"]), by_name["merged-strings"].layout)
    plain = link(compile_program(by_name["unmerged-strings"]), by_name["unmerged-strings"].layout)
    assert merged.flat.count(b"shared\0") == 1 and plain.flat.count(b"shared\0") == 3
    assert len(merged.flat) < len(plain.flat)
    machine = Loaded(merged.elf)
    for n in range(3):
        assert machine.read(machine.call(f"shared_{n}"), 7) == b"shared\0"
        assert machine.read(machine.call(f"own_{n}"), 6) == f"own{n:02d}".encode() + b"\0"
