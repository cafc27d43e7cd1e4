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
