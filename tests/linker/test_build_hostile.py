"""Issue 20: hostile build.toml values and command lines end in a named
BuildError, write nothing outside the output directory and leave no
temporaries behind."""
import pytest

from compiler.build import BuildError, build
from tests.linker.test_build import BUILD_TOML, make_project


def _no_temporaries(root):
    out = root / "build"
    # the build's temporaries are dot-files beside its outputs; the compile cache stays
    return not out.exists() or not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".kpyc-cache"]


@pytest.mark.parametrize("change, message", [
    (("[targets.kernel]", '[targets."../escape"]'), "a target name must be a plain file name"),
    (("[targets.kernel]", '[targets."a\\u0000b"]'), "a target name must be a plain file name"),
    (("[targets.kernel]", '[targets."sub/k"]'), "a target name must be a plain file name"),
    (('align = 4096\n  inputs = [".text.entry"', 'align = 0x80000000\n  inputs = [".text.entry"'), "'align'"),
    (('align = 4096\n  inputs = [".text.entry"', 'align = 0x10000000\n  inputs = [".text.entry"'), "'align'"),
    (("lma = 0x400000", "lma = 0xFFFFFFFF"), "lma"),
])
def test_hostile_description(tmp_path, change, message):
    old, new = change
    assert old in BUILD_TOML
    root = make_project(tmp_path, toml=BUILD_TOML.replace(old, new).replace(
        'kernel = "kernel"', 'kernel = "kernel"' if old != "[targets.kernel]" else ""))
    with pytest.raises(BuildError) as err:
        build(root)
    assert message in str(err.value), str(err.value)
    assert not (tmp_path / "escape.elf").exists() and _no_temporaries(root)


def test_non_utf8_command_line(tmp_path):
    root = make_project(tmp_path)
    with pytest.raises(BuildError) as err:
        build(root, cmdline=b"exp=\xff".decode("utf-8", "surrogateescape"))
    assert "must be UTF-8" in str(err.value) and _no_temporaries(root)


def test_non_utf8_source_is_located(tmp_path):
    from compiler.cache import read_source
    from compiler.driver import CompileError
    src = tmp_path / "bad.kpy"
    src.write_bytes(b"x: u32 = 1\ny: u32 = \xff\n")
    with pytest.raises(CompileError) as err:
        read_source(src)
    assert f"{src}:2:10: error: source is not UTF-8 (byte 0xff)" in str(err.value)


def test_entry_point_in_a_section_the_layout_does_not_place(tmp_path):
    """Found by the object campaign (tests/fuzz/build_inputs.py): an object
    whose entry symbol sits in a non-allocated section was an internal
    error (struct.error writing the ELF header)."""
    root = make_project(tmp_path, mbr_asm='.section .note.kpy,""\n.globl _start\n_start: ret\n')
    with pytest.raises(BuildError) as err:
        build(root)
    assert "the entry point _start is in section '.note.kpy', which is not in the output" in str(err.value)
    assert _no_temporaries(root)


@pytest.mark.parametrize("value", ['["obj/nope.o"]', "{}", "1"])
def test_image_role_that_is_not_a_name(tmp_path, value):
    """Found by the build.toml campaign: `[image] mbr = [...]` was an internal
    TypeError (unhashable list)."""
    root = make_project(tmp_path, toml=BUILD_TOML.replace('mbr = "boot"', f"mbr = {value}"))
    with pytest.raises(BuildError) as err:
        build(root)
    assert "[image] mbr must be a target name (a string)" in str(err.value)
