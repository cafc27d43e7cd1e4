"""build() with real kpy sources: modules, followed imports, runtime sources, outputs kept on failure."""
import pytest

from compiler.build import BuildError, build

from lk_runner import Loaded

driver = pytest.importorskip("compiler.driver", reason="the kpy compiler is not available yet")

MAIN = '''from app.util import twice

@extern
def helper_value() -> u32: ...

@section(".text.entry")
def _entry() -> u32:
    return twice(21) + helper_value()
'''
UTIL = '''def twice(x: u32) -> u32:
    return x * 2
'''
RUNTIME = '''def helper_value() -> u32:
    return 100
'''
TOML = '''
[targets.kernel]
format = "elf"
modules = ["app.main"]
sources = ["runtime/*.kpy"]
entry = "_entry"
vma = 0x200000
  [[targets.kernel.sections]]
  name = ".text"
  inputs = [".text.entry", ".text .text.*"]
  [[targets.kernel.sections]]
  name = ".data"
  inputs = [".rodata .rodata.* .data .data.*"]
  [[targets.kernel.sections]]
  name = ".bss"
  inputs = [".bss .bss.* COMMON"]
'''


def project(tmp_path, main=MAIN):
    (tmp_path / "kernel_src" / "app").mkdir(parents=True)
    (tmp_path / "runtime").mkdir()
    (tmp_path / "kernel_src" / "build.toml").write_text(TOML)
    (tmp_path / "kernel_src" / "app" / "main.kpy").write_text(main)
    (tmp_path / "kernel_src" / "app" / "util.kpy").write_text(UTIL)
    (tmp_path / "runtime" / "extra.kpy").write_text(RUNTIME)
    return tmp_path


def test_modules_imports_and_sources_are_linked(tmp_path):
    res = build(project(tmp_path), opt=1)
    machine = Loaded(res.kernel_elf.read_bytes())
    assert machine.symbols["_entry"] == 0x200000
    assert machine.call("_entry") == 142
    mapped = res.map_file.read_text()
    assert "kernel_src/app/util.kpy:(.text)" in mapped and "runtime/extra.kpy:(.text)" in mapped


def test_link_error_keeps_previous_outputs(tmp_path):
    root = project(tmp_path)
    good = build(root, opt=1)
    before = {p: p.read_bytes() for p in good.outputs}
    (root / "runtime" / "extra.kpy").write_text(RUNTIME.replace("helper_value", "renamed_value"))
    with pytest.raises(BuildError) as err:
        build(root, opt=1)
    assert "link of target kernel failed" in str(err.value)
    assert "undefined symbol: helper_value" in str(err.value)
    assert "referenced by kernel_src/app/main.kpy: function _entry" in str(err.value)
    assert {p: p.read_bytes() for p in good.outputs} == before
    # no temporary files left behind (the compile cache may keep its own dot-directory)
    left = sorted(p.name for p in root.joinpath("build").iterdir() if p.name != ".kpyc-cache")
    assert left == sorted(p.name for p in good.outputs)


def test_compile_error_is_reported_as_build_error(tmp_path):
    root = project(tmp_path, main="def broken(:\n")
    with pytest.raises(BuildError) as err:
        build(root)
    assert "main.kpy:1:" in str(err.value)


def test_missing_module_is_named(tmp_path):
    root = project(tmp_path)
    (root / "kernel_src" / "build.toml").write_text(TOML.replace('"app.main"', '"app.mian"'))
    with pytest.raises(BuildError) as err:
        build(root)
    assert "module 'app.mian' not found" in str(err.value)


def test_debug_build_maps_entry_to_its_kpy_line(tmp_path):
    import shutil
    import subprocess
    if shutil.which("addr2line") is None:
        pytest.skip("binutils not installed")
    res = build(project(tmp_path), opt=0, debug=True)
    entry = Loaded(res.kernel_elf.read_bytes()).symbols["_entry"]
    out = subprocess.run(["addr2line", "-e", str(res.kernel_elf), hex(entry)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out.split(":")[0].endswith("app/main.kpy"), out
    assert out.split(":")[1].split()[0] in ("7", "8"), out        # the def line or its first statement


@pytest.mark.parametrize("key, value", [("sources", "/etc/*.kpy"), ("sources", "a**.kpy"),
                                        ("modules", "app.**x"), ("modules", "nothing.*")])
def test_bad_patterns_are_build_errors(tmp_path, key, value):
    root = project(tmp_path)
    toml = TOML.replace('modules = ["app.main"]', f'modules = ["app.main"]\n{key} = ["{value}"]') \
        if key == "sources" else TOML.replace('"app.main"', f'"{value}"')
    if key == "sources":
        toml = toml.replace('sources = ["runtime/*.kpy"]\n', "")
    (root / "kernel_src" / "build.toml").write_text(toml)
    with pytest.raises(BuildError) as err:
        build(root)
    assert value in str(err.value)
