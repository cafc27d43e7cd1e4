"""binutils and gdb read what the linker writes: every program, symbols and DWARF line info."""
import shutil
import subprocess

import pytest

from compiler.linker import link

from lk_diff import compile_program
from lk_programs import debug_program, kernel_layout, programs

needs = pytest.mark.skipif(not all(shutil.which(t) for t in ("readelf", "objdump", "addr2line")),
                           reason="binutils not installed (apt-get install binutils)")


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"{cmd}: {res.stderr}"
    assert "warning" not in res.stderr.lower() and "error" not in res.stderr.lower(), f"{cmd}: {res.stderr}"
    return res.stdout


@needs
def test_readelf_and_objdump_accept_every_output(tmp_path):
    for program in programs():
        result = link(compile_program(program), program.layout)
        path = tmp_path / f"{program.name}.elf"
        path.write_bytes(result.elf)
        run(["readelf", "-a", "-W", str(path)])
        disasm = run(["objdump", "-d", "-r", str(path)])
        if program.layout.entry and program.layout.format == "elf":
            assert f"<{program.layout.entry}>:" in disasm
        if program.layout.format != "elf":
            raw = tmp_path / f"{program.name}.bin"
            raw.write_bytes(result.flat)
            run(["objdump", "-D", "-b", "binary", "-m", "i8086", str(raw)])


@pytest.fixture(scope="module")
def debug_elf(tmp_path_factory):
    result = link(compile_program(debug_program()), kernel_layout())
    path = tmp_path_factory.mktemp("dbg") / "kernel.elf"
    path.write_bytes(result.elf)
    return path, result


@needs
def test_readelf_decodes_the_relocated_dwarf(debug_elf):
    path, result = debug_elf
    info = run(["readelf", "--debug-dump=info,line,str,frames,aranges,ranges", "-W", str(path)])
    names = [line.split(": ")[-1] for line in info.splitlines() if "DW_AT_name" in line]
    assert {"kernel/main.kpy", "lib/helper.kpy", "_entry", "kmain", "helper"} <= set(names)
    producers = {line.split("(offset: ")[1] for line in info.splitlines() if "DW_AT_producer" in line}
    assert len(producers) == 1 and producers.pop().endswith("): kpyc")    # one merged string, two units
    assert f"DW_AT_low_pc      : (addr) {result.symbols['helper']:#x}" in info


@needs
def test_addr2line_maps_entry_to_its_source_line(debug_elf):
    path, result = debug_elf
    out = run(["addr2line", "-f", "-e", str(path), hex(result.symbols["_entry"]), hex(result.symbols["helper"])])
    assert out.splitlines() == ["_entry", "/src/kernel/main.kpy:10", "helper", "/src/lib/helper.kpy:5"]


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb not installed")
def test_gdb_reads_symbols_and_lines(debug_elf):
    path, result = debug_elf
    out = run(["gdb", "-nx", "-batch", "-ex", "info line *" + hex(result.symbols["kmain"]),
               "-ex", "info address helper", str(path)])
    assert 'Line 20 of "kernel/main.kpy"' in out
    assert f"Symbol \"helper\" is a function at address {result.symbols['helper']:#x}" in out


def test_gc_removes_unreferenced_function_and_lists_it(debug_elf):
    program = debug_program()
    result = link(compile_program(program), kernel_layout(gc=True))
    assert {"_entry", "helper"} <= set(result.symbols)        # the entry and what it calls
    assert not {"kmain", "unused_helper"} & set(result.symbols)
    assert "Discarded (garbage collection)" in result.map_text
    assert "main.o:(.text.kmain)" in result.map_text.split("Discarded")[1]
