"""The real kernel_src/ targets, linked by ours and by ld.lld from the same build.toml."""
import copy
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.build import BuildError, _ObjectCache, load_description, target_objects
from compiler.linker import link

from lk_diff import assert_links_like_lld, lld_link

ROOT = Path(__file__).resolve().parents[2]


def _target_names():
    try:
        return list(load_description(ROOT).targets)
    except BuildError:
        return []


@pytest.fixture(scope="module")
def compiled():
    desc = load_description(ROOT)
    return desc, _ObjectCache(desc.roots, opt=2, debug=True), _ObjectCache(desc.roots, opt=2, debug=False)


@pytest.mark.skipif(shutil.which("ld.lld") is None, reason="ld.lld not installed (apt-get install lld)")
@pytest.mark.parametrize("gc", [False, True], ids=["", "gc"])
@pytest.mark.parametrize("target", _target_names())
def test_kernel_target_matches_lld(target, gc, compiled, tmp_path):
    desc, with_debug, without_debug = compiled
    spec = desc.targets[target]
    try:           # issue 4's differential on the kernel: it must compile, -g included
        objects = target_objects(spec, ROOT, desc.roots, with_debug)
    except BuildError as exc:
        pytest.fail(f"target {target} does not compile with -g: {exc}")
    layout = copy.deepcopy(spec.layout)
    layout.gc_sections = gc
    ours, _ = assert_links_like_lld(objects, layout, tmp_path)
    if layout.format != "elf":
        flat = lld_link(objects, layout, tmp_path / "bin", binary=True)
        assert ours.flat[:len(flat)] == flat
    elf = tmp_path / "ours.elf"
    elf.write_bytes(ours.elf)
    for tool in (["readelf", "-a", "-W"], ["objdump", "-d", "-r"]):
        run = subprocess.run(tool + [str(elf)], capture_output=True, text=True)
        assert run.returncode == 0 and not run.stderr, run.stderr


@pytest.mark.skipif(shutil.which("addr2line") is None, reason="binutils not installed")
def test_addr2line_maps_kernel_entry_to_its_kpy_line(compiled, tmp_path):
    desc, with_debug, _ = compiled
    spec = desc.targets[desc.kernel]
    try:
        objects = target_objects(spec, ROOT, desc.roots, with_debug)
    except BuildError as exc:
        pytest.fail(f"the kernel does not compile with -g: {exc}")
    result = link(objects, spec.layout)
    elf = tmp_path / "kernel.elf"
    elf.write_bytes(result.elf)
    out = subprocess.run(["addr2line", "-e", str(elf), hex(result.symbols[spec.layout.entry])],
                         capture_output=True, text=True, check=True).stdout.strip()
    source, _, line = out.rpartition(":")
    assert source.endswith(".kpy"), out
    text = Path(source if Path(source).is_absolute() else ROOT / source).read_text().splitlines()
    def_line = next(i for i, l in enumerate(text, 1) if f"def {spec.layout.entry}(" in l)
    assert def_line <= int(line.split()[0]) <= def_line + 30, out


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_gdb_reads_the_kernel_symbols(compiled, tmp_path):
    desc, _, without_debug = compiled
    spec = desc.targets[desc.kernel]
    try:
        objects = target_objects(spec, ROOT, desc.roots, without_debug)
    except BuildError as exc:
        pytest.fail(f"the kernel does not compile: {exc}")
    result = link(objects, spec.layout)
    elf = tmp_path / "kernel.elf"
    elf.write_bytes(result.elf)
    entry = result.symbols[spec.layout.entry]
    out = subprocess.run(["gdb", "-nx", "-batch", "-ex", f"info symbol {entry:#x}",
                          "-ex", f"info address {spec.layout.entry}", str(elf)],
                         capture_output=True, text=True, timeout=60)
    assert f"{spec.layout.entry} in section .text" in out.stdout, out.stdout + out.stderr
    assert f"{entry:#x}" in out.stdout
