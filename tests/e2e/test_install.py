"""kpyc as installed for use, with no checkout: build the wheel, install it
(not editable) into a fresh virtual environment, `kpyc init` in an empty
directory, then `kpyc run` on the VM and `kpyc run --qemu` give the same
output. The wheel must carry the runtime, the kernel library and the
templates as package data."""
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["pyproject.toml", "README.md", "compiler", "vm", "runtime"]


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, timeout=600, **kw)
    assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-4000:])
    return r


def dependency_dirs() -> list[str]:
    """Where this interpreter finds kpy's dependencies: the fresh venv sees
    those (offline, fast) but not any kpy installed beside them."""
    import elftools, lark, llvmlite, rich
    return sorted({str(Path(m.__file__).resolve().parents[1]) for m in (elftools, lark, llvmlite, rich)})


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"           # a copy: the in-tree build must not leave build/ in the checkout
    src.mkdir()
    for name in SHIPPED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src])
    wheel = next((tmp / "dist").glob("kpy-*.whl"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.decode().strip())
    (site / "kpy_test_deps.pth").write_text("\n".join(dependency_dirs()) + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])
    return wheel, env_dir


def test_wheel_ships_runtime_library_and_templates(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("compiler/runtime/divmod64.kpy", "compiler/runtime/lib/string.kpy",
                   "compiler/kpylib/kpy/printf.kpy", "compiler/templates/hello/main.kpy",
                   "compiler/templates/hello/gitignore", "compiler/templates/threads/main.kpy",
                   "compiler/kpylib/kpy/threads.kpy", "compiler/kpylib/kpy/timer.kpy"):
        assert needed in names


FIRST_LINE = {"hello": b"hello from my kernel: 6 * 7 = 42",
              "threads": b"threads: timer at 100 Hz; ping wakes every 10 ticks, pong every 25\nping: round 1\n"}


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="needs qemu-system-i386")
@pytest.mark.parametrize("template", ["hello", "threads"])
def test_init_and_run_from_the_installed_wheel(installed, tmp_path, template):
    _, env_dir = installed
    kpyc = env_dir / "bin" / "kpyc"
    where = run([env_dir / "bin" / "python", "-c", "import compiler; print(compiler.__file__)"], cwd=tmp_path)
    assert str(env_dir) in where.stdout.decode()        # the installed copy, not a checkout
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "KPY_CACHE_DIR": str(tmp_path / "cache")}
    run([kpyc, "init", "--template", template, "mine"], cwd=tmp_path, env=env)
    vm = run([kpyc, "run"], cwd=tmp_path / "mine", env=env)
    qemu = run([kpyc, "run", "--qemu"], cwd=tmp_path / "mine", env=env)
    assert vm.stdout.startswith(FIRST_LINE[template]), vm.stdout
    assert vm.stdout.endswith(b"acpi: powering off\n")
    assert qemu.stdout == vm.stdout
