"""The same machine on CPython and on PyPy: identical serial output, emulated
cycles, instruction counts and exit status for the default boot and every
`exp=` program (vm/ is pure Python 3.9; PyPy only runs it faster).  Also:
every vm/ file is Python 3.9 (compiled by pypy3), `--engine pypy` re-runs a
machine in a pypy3 process with the same output and exit status, and a
missing pypy3 is a clear error.  Skipped where pypy3 is not installed."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPY = shutil.which("pypy3")
needs_pypy = pytest.mark.skipif(PYPY is None, reason="pypy3 is not installed (Debian package pypy3)")
# every program of the kernel's table, so a new one is covered too
TABLE = (ROOT / "kernel_src/kernel/programs.kpy").read_text()
PROGRAMS = re.findall(r'Program\(name="(\w+)"', TABLE)
pytestmark = pytest.mark.xdist_group("pypy")     # one pypy3 at a time: the runs are long


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("KPY_ENGINE", None)
    return env


def _runs(python: str, images: list) -> list:
    out = subprocess.run([python, "-m", "tests.kernel.engine_run", *map(str, images)], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def _vm_files():
    return sorted((ROOT / "vm").rglob("*.py"))


def test_vm_has_no_syntax_newer_than_python_3_9():
    """No match statements, no `X | Y` outside postponed annotations,
    no parenthesised context managers: PyPy 3.9 must read every file."""
    for path in _vm_files():
        tree = ast.parse(path.read_text(), str(path))
        assert not any(type(node).__name__ == "Match" for node in ast.walk(tree)), f"{path}: match statement"
        future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__"
                     and any(a.name == "annotations" for a in n.names) for n in tree.body)
        annotations = set()
        if future:
            for node in ast.walk(tree):
                for ann in _annotations(node):
                    annotations.update(id(n) for n in ast.walk(ann))
        for node in ast.walk(tree):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and id(node) not in annotations:
                assert not _looks_like_type(node), f"{path}:{node.lineno}: `X | Y` type at runtime"


def _annotations(node):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = node.args
        for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if a is not None and a.annotation is not None:
                yield a.annotation
        if node.returns is not None:
            yield node.returns
    elif isinstance(node, ast.AnnAssign):
        yield node.annotation


def _looks_like_type(node) -> bool:
    """`int | None`-like: both sides are names of types or None."""
    names = {"int", "str", "bytes", "float", "bool", "list", "dict", "tuple", "set", "None", "Path", "type"}
    def is_type(n):
        return (isinstance(n, ast.Name) and n.id in names) or (isinstance(n, ast.Constant) and n.value is None) \
            or (isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) and _looks_like_type(n))
    return is_type(node.left) and is_type(node.right)


@needs_pypy
def test_pypy_compiles_every_vm_file(tmp_path):
    files = [str(p) for p in _vm_files()]
    code = "import sys, py_compile\nfor f in sys.argv[1:]: py_compile.compile(f, cfile=sys.argv[0] + '.pyc', doraise=True)"
    script = tmp_path / "compile_all.py"
    script.write_text(code)
    out = subprocess.run([PYPY, str(script), *files], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@needs_pypy
def test_every_program_runs_identically_on_cpython_and_pypy(kernel_build, tmp_path):
    build = kernel_build(2)
    images = [tmp_path / "default.img"]
    images[0].write_bytes(build.image)
    for name in PROGRAMS:
        images.append(tmp_path / f"{name}.img")
        images[-1].write_bytes(build.image_with(f"exp={name}"))
    assert len(PROGRAMS) == int(re.search(r"PROGRAM_COUNT: Final\[u32\] = (\d+)", TABLE).group(1))
    cpython, pypy = _runs(sys.executable, images), _runs(PYPY, images)
    assert len(cpython) == len(pypy) == len(images)
    for ours, theirs in zip(cpython, pypy):
        assert ours["serial"], ours["image"]
        assert ours == theirs, ours["image"]
    assert cpython[0]["reason"] == "poweroff" and cpython[0]["exit"] == 0


def _vm(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vm", *args], cwd=ROOT, env=env or _env(),
                          capture_output=True, text=True, timeout=600)


@needs_pypy
def test_engine_pypy_gives_the_same_run(kernel_build, tmp_path):
    image = tmp_path / "printf.img"
    image.write_bytes(kernel_build(2).image_with("exp=printf"))
    here = _vm(str(image))
    there = _vm(str(image), "--engine", "pypy")
    by_env = _vm(str(image), env=dict(_env(), KPY_ENGINE="pypy"))
    assert here.returncode == there.returncode == by_env.returncode == 0
    assert "running exp=printf" in here.stdout
    assert here.stdout == there.stdout == by_env.stdout


@needs_pypy
def test_engine_pypy_keeps_the_exit_status(tmp_path):
    """A bad image is reported by the pypy3 process, with the VM's bad-input status."""
    bad = tmp_path / "tiny.img"
    bad.write_bytes(b"\x00" * 7)
    here, there = _vm(str(bad)), _vm(str(bad), "--engine", "pypy")
    assert here.returncode == there.returncode != 0
    assert here.stderr == there.stderr


def test_missing_pypy_is_a_clear_error(tmp_path):
    out = _vm("--bios", str(tmp_path / "none.rom"), "--engine", "pypy",
              env=dict(_env(), KPY_PYPY=str(tmp_path / "no-pypy3")))
    assert out.returncode == 1
    assert "needs pypy3" in out.stderr and "Traceback" not in out.stderr


def test_unknown_engine_is_a_clear_error(tmp_path):
    out = _vm("--bios", str(tmp_path / "none.rom"), "--engine", "jython")
    assert out.returncode == 1
    assert "unknown engine 'jython'" in out.stderr and "Traceback" not in out.stderr


def test_code_stores_are_per_engine():
    """Each engine's translations go to a store of its own (code objects differ)."""
    from vm.cpu import codecache
    name = codecache._shared().store_path.name if codecache._shared().store_path else ""
    assert codecache._engine_tag() in name
    out = subprocess.run([PYPY or sys.executable, "-c", "from vm.cpu import codecache; print(codecache._engine_tag())"],
                         cwd=ROOT, env=_env(), capture_output=True, text=True)
    if PYPY:
        assert out.stdout.strip().startswith("pypy") and codecache._engine_tag().startswith("cpython")
