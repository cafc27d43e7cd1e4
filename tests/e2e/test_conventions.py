"""The command-line conventions users expect from kpyc: --version, help for
every option, `-o -`, each diagnostic once, stage lines for long builds,
options honoured or refused by name, a shell-quoted QEMU command line."""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cli import make_parser

ROOT = Path(__file__).resolve().parents[2]
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="needs qemu-system-i386")


def kpyc(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "compiler.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def project(tmp_path):
    r = kpyc("init", tmp_path / "p", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / "p"


def test_version(tmp_path):
    r = kpyc("--version", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    name, version = r.stdout.split()
    assert name == "kpyc" and version[0].isdigit()


def test_every_option_of_every_subcommand_has_help():
    parser = make_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in [("kpyc", parser), *subs.choices.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings or action.dest)


def test_compile_help_explains_O_g_emit(tmp_path):
    r = kpyc("compile", "-h", cwd=tmp_path)
    assert "optimisation level" in r.stdout and "DWARF" in r.stdout and "assembly" in r.stdout


def test_dash_o_dash_is_stdout(project):
    r = subprocess.run([sys.executable, "-m", "compiler.cli", "compile", "main.kpy", "-o", "-"],
                       cwd=project, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout[:4] == b"\x7fELF"
    assert not (project / "-").exists()
    r = kpyc("compile", "main.kpy", "--emit", "llvm", "-o", "-", cwd=project)
    assert "define" in r.stdout and "kmain" in r.stdout and not (project / "-").exists()
    r = kpyc("build", "-o", "-", cwd=project)        # several outputs: refused, not a directory "-"
    assert r.returncode == 1 and "-o -" in r.stderr and not (project / "-").exists()


def test_a_missing_module_is_reported_once(project):
    for name in ("a", "b"):
        (project / f"{name}.kpy").write_text(f"from nothere import f\n\n\ndef {name}() -> None:\n    f()\n")
    main = project / "main.kpy"
    main.write_text("from a import a\nfrom b import b\nfrom nothere import f\n" + main.read_text())
    r = kpyc("build", cwd=project)
    assert r.returncode == 1
    assert r.stderr.count("cannot find module 'nothere'") == 1, r.stderr


def test_a_cold_build_names_each_stage_once(project, tmp_path):
    # no quiet period (KPY_PROGRESS_AFTER=0), so the test does not depend on how fast the host is
    env = dict(os.environ, KPY_CACHE_DIR=str(tmp_path / "cold-cache"), KPY_PROGRESS_AFTER="0")
    r = kpyc("build", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    for stage in ("kpyc: linking kernel", f"kpyc: writing {project / 'build'}"):
        assert lines.count(stage) == 1, r.stderr


@needs_qemu
def test_vm_only_options_are_refused_with_qemu(project):
    r = kpyc("run", "--qemu", "--max-insns", "5", cwd=project)
    assert r.returncode == 1
    assert "--max-insns" in r.stderr and "reference VM" in r.stderr
    assert not (project / "build").exists()     # refused before anything was built


def test_build_options_are_refused_with_image(tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(512))
    for option in (["-O1"], ["-g"], ["--root", str(tmp_path)]):
        r = kpyc("run", "--image", image, *option, cwd=tmp_path)
        assert r.returncode == 1 and option[0].rstrip("1") in r.stderr and "--image" in r.stderr, r.stderr


@needs_qemu
def test_timeout_is_honoured_on_qemu_and_the_command_line_is_quoted(project):
    (project / "main.kpy").write_text(
        "from kpy.multiboot import MULTIBOOT_MAGIC\n\n\n"
        "def kmain(magic: u32, info: u32) -> None:\n"
        "    while True:\n        asm(\"cli\\n\\thlt\")\n")
    r = kpyc("run", "--qemu", "--timeout", "2", "--cmdline", "x=1 y='2'", cwd=project)
    assert r.returncode == 10, r.stderr                  # the VM's status for --timeout
    assert "--timeout 2: stopped qemu-system-i386" in r.stderr
    line = next(l for l in r.stderr.splitlines() if l.startswith("kpy vm: qemu-system-i386"))
    argv = shlex.split(line[len("kpy vm: "):])
    assert argv[argv.index("-append") + 1] == "x=1 y='2'"
    assert argv[argv.index("-kernel") + 1] == str(project / "build" / "kernel.elf")


def test_cmdline_with_image_boots_a_rewritten_copy(tmp_path):
    out = tmp_path / "out"
    r = kpyc("build", "--root", ROOT, "-o", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    before = (out / "disk.img").read_bytes()
    r = kpyc("run", "--image", out / "disk.img", "--cmdline", "exp=nope", cwd=tmp_path)
    assert "unknown exp=nope" in r.stdout, r.stdout[-2000:]
    assert (out / "disk.img").read_bytes() == before
