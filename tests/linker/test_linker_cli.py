"""python -m compiler.linker: by-hand links and the ld.lld script, errors without tracebacks."""
from compiler.linker.__main__ import main

from lk_objects import make_object

TOML = """
[targets.boot]
format = "bootsector"
entry = "_start"
vma = 0x7C00
  [[targets.boot.sections]]
  name = ".text"
  inputs = [".text.entry", ".text .text.*"]
"""


def test_links_objects_and_writes_map(tmp_path):
    obj = tmp_path / "a.o"
    obj.write_bytes(make_object("define i32 @main() nounwind { ret i32 3 }"))
    assert main([str(obj), "-o", str(tmp_path / "a.elf"), "--entry", "main", "--map", str(tmp_path / "a.map")]) == 0
    assert (tmp_path / "a.elf").read_bytes()[:4] == b"\x7fELF"
    assert "main" in (tmp_path / "a.map").read_text()


def test_boot_sector_from_a_build_toml(tmp_path):
    (tmp_path / "build.toml").write_text(TOML)
    obj = tmp_path / "mbr.o"
    obj.write_bytes(make_object(asm='.code16\n.section .text.entry,"ax"\n.globl _start\n_start: hlt\n'))
    out = tmp_path / "mbr.bin"
    assert main([str(obj), "-o", str(out), "--layout", str(tmp_path / "build.toml"), "--target", "boot"]) == 0
    data = out.read_bytes()
    assert len(data) == 512 and data[0] == 0xF4 and data[510:] == b"\x55\xaa"


def test_lld_script(tmp_path, capsys):
    (tmp_path / "build.toml").write_text(TOML)
    assert main(["--layout", str(tmp_path / "build.toml"), "--target", "boot", "--lld-script"]) == 0
    assert "ENTRY(_start)" in capsys.readouterr().out


def test_errors_are_messages(tmp_path, capsys):
    assert main([str(tmp_path / "missing.o"), "-o", str(tmp_path / "x")]) == 1
    assert "missing.o: No such file or directory" in capsys.readouterr().err
    (tmp_path / "junk.o").write_bytes(b"junk")
    assert main([str(tmp_path / "junk.o"), "-o", str(tmp_path / "x")]) == 1
    assert "not an ELF file" in capsys.readouterr().err


def test_unwritable_output_writes_nothing(tmp_path, capsys):
    obj = tmp_path / "a.o"
    obj.write_bytes(make_object("define i32 @main() nounwind { ret i32 3 }"))
    elf, bad_map = tmp_path / "a.elf", tmp_path / "no" / "such" / "a.map"
    assert main([str(obj), "-o", str(elf), "--entry", "main", "--map", str(bad_map)]) == 1
    assert f"cannot write {bad_map}: No such file or directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.o"]      # neither the ELF nor a temporary


def test_bad_base_is_a_usage_error(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit) as exit_info:
        main(["--base", "lots", str(tmp_path / "a.o"), "-o", str(tmp_path / "x")])
    assert exit_info.value.code == 2
    assert "--base: not an address: 'lots'" in capsys.readouterr().err
