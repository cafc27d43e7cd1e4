"""kpyc as a user meets it: errors are messages with a location and a
non-zero exit status, never a Python traceback, and never lose outputs."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def kpyc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "compiler.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def assert_clean_failure(r, status=1):
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_syntax_error_has_location_line_and_caret(tmp_path):
    src = write(tmp_path / "bad.kpy", """
        def f(a: u32) -> u32:
            return a +* 2
        """)
    r = kpyc("compile", src)
    assert_clean_failure(r)
    lines = r.stderr.splitlines()
    loc = next(i for i, l in enumerate(lines) if "bad.kpy:2:" in l and "error:" in l)
    assert "return a +* 2" in lines[loc + 1]
    assert lines[loc + 2].strip() == "^"


def test_type_error_names_both_types(tmp_path):
    src = write(tmp_path / "types.kpy", """
        def f(p: ptr[u8]) -> u32:
            x: u32 = p
            return x
        """)
    r = kpyc("compile", src)
    assert_clean_failure(r)
    assert "types.kpy:2:" in r.stderr
    assert "ptr[u8]" in r.stderr and "u32" in r.stderr


def test_emit_llvm_and_asm(tmp_path):
    src = write(tmp_path / "ok.kpy", """
        def twice(a: u32) -> u32:
            return a * 2
        """)
    r = kpyc("compile", src, "--emit", "llvm")
    assert r.returncode == 0, r.stderr
    assert "define" in r.stdout and "twice" in r.stdout
    r = kpyc("compile", src, "--emit", "asm", "-O2")
    assert r.returncode == 0, r.stderr
    assert "twice:" in r.stdout


def test_bad_flag_is_a_usage_error():
    r = kpyc("build", "--no-such-flag")
    assert_clean_failure(r, status=2)
    assert "usage:" in r.stderr


def test_missing_source_and_image(tmp_path):
    r = kpyc("compile", tmp_path / "nope.kpy")
    assert_clean_failure(r)
    assert "nope.kpy" in r.stderr
    r = kpyc("run", "--image", tmp_path / "nope.img")
    assert_clean_failure(r)
    assert "nope.img" in r.stderr


MINI_TOML = """
[build]
roots = ["src"]

[targets.kernel]
format = "elf"
modules = ["main"]
entry = "_entry"
vma = 0x100000

  [[targets.kernel.sections]]
  name = ".text"
  inputs = [".text.entry", ".text .text.*", ".rodata .rodata.*", ".data .data.*", ".bss .bss.* COMMON"]
"""


def mini_project(tmp_path: Path, body: str) -> Path:
    write(tmp_path / "kernel_src" / "build.toml", MINI_TOML)
    write(tmp_path / "src" / "main.kpy", body)
    return tmp_path


def test_undefined_symbol_names_symbol_and_object_and_keeps_outputs(tmp_path):
    root = mini_project(tmp_path, """
        @section(".text.entry")
        def _entry() -> None:
            pass
        """)
    r = kpyc("build", "--root", root)
    assert r.returncode == 0, r.stderr
    assert "kernel.elf" in r.stderr and "disk.img" not in r.stderr   # no [image]: no disk image
    r = kpyc("run", "--root", root)
    assert_clean_failure(r)
    assert "Multiboot header" in r.stderr        # an ELF-only build boots through --kernel
    elf = root / "build" / "kernel.elf"
    good = elf.read_bytes()

    write(root / "src" / "main.kpy", """
        @extern
        def missing_function(x: u32) -> u32: ...

        @section(".text.entry")
        def _entry() -> None:
            missing_function(1)
        """)
    r = kpyc("build", "--root", root)
    assert_clean_failure(r)
    assert "missing_function" in r.stderr
    assert "main.kpy" in r.stderr
    assert elf.read_bytes() == good, "a failed build must leave the previous outputs untouched"


def test_bad_run_options_are_messages(tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(510) + b"\x55\xaa")
    r = kpyc("run", "--image", image, "--qemu", "-m", "abc")
    assert_clean_failure(r)
    assert "bad memory size" in r.stderr
    r = kpyc("run", "--image", image, "--qemu", "--accel", "bogus")
    assert_clean_failure(r, status=2)
    assert "--accel" in r.stderr
