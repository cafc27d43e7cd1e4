"""A kernel of one's own: `kpyc init`, finding the project from the cwd, the
runtime linked on demand, and an ELF-only (Multiboot) target booted by
`kpyc run` on the VM and on QEMU with the same output."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED = (b"hello from my kernel: 6 * 7 = 42, 2**40 / 3 = 366503875925\n",
            b"acpi: powering off\n")


def kpyc(*args, cwd):
    return subprocess.run([sys.executable, "-m", "compiler.cli", *map(str, args)],
                          cwd=cwd, capture_output=True, timeout=300)


def check_hello(out: bytes):
    assert out.startswith(EXPECTED[0]), out
    assert out.endswith(EXPECTED[1]), out
    assert b"acpi: RSDP 0x" in out


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj") / "mykernel"
    r = kpyc("init", root, cwd=root.parent)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in root.iterdir()) == [".gitignore", "README.md", "build.toml", "main.kpy"]
    return root


def test_init_then_run_boots_on_the_vm(project):
    r = kpyc("run", cwd=project)
    assert r.returncode == 0, r.stderr
    check_hello(r.stdout)
    # the runtime is linked because printf divides u64s, not because the project lists it
    kernel_map = (project / "build" / "kernel.map").read_text()
    assert "__udivdi3" in kernel_map and "memset" not in kernel_map


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="needs qemu-system-i386")
def test_same_output_on_qemu(project):
    vm = kpyc("run", cwd=project)
    qemu = kpyc("run", "--qemu", cwd=project)
    assert qemu.returncode == 0, qemu.stderr
    assert qemu.stdout == vm.stdout
    check_hello(qemu.stdout)


def test_project_found_from_a_subdirectory(project):
    sub = project / "deep" / "er"
    sub.mkdir(parents=True, exist_ok=True)
    r = kpyc("build", cwd=sub)
    assert r.returncode == 0, r.stderr
    assert str(project / "build" / "kernel.elf") in r.stderr.decode()


@pytest.mark.parametrize("command", ["build", "run"])
def test_outside_any_project_is_an_error(tmp_path, command):
    r = kpyc(command, cwd=tmp_path)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "not inside a kpy project" in err and "kpyc init" in err and "Traceback" not in err


def test_init_refuses_a_non_empty_directory_and_unknown_template(tmp_path):
    (tmp_path / "x").write_text("mine")
    r = kpyc("init", tmp_path, cwd=tmp_path)
    assert r.returncode == 1 and b"not an empty directory" in r.stderr
    assert (tmp_path / "x").read_text() == "mine"
    r = kpyc("init", tmp_path / "new", "--template", "nope", cwd=tmp_path)
    assert r.returncode == 1 and b"--template 'nope'" in r.stderr


THREADS_OUTPUT = (b"threads: timer at 100 Hz; ping wakes every 10 ticks, pong every 25\n"
                  b"ping: round 1\nping: round 2\npong: round 1\nping: round 3\npong: round 2\npong: round 3\n"
                  b"threads: both done; the timer ticked at least 75 times\n")


@pytest.fixture(scope="module")
def threads_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj") / "threaded"
    r = kpyc("init", "--template", "threads", root, cwd=root.parent)
    assert r.returncode == 0, r.stderr
    return root


def test_threads_template_boots_on_the_vm(threads_project):
    r = kpyc("run", cwd=threads_project)
    assert r.returncode == 0, r.stderr
    # ping wakes at ticks 10, 20, 30 and pong at 25, 50, 75: the order is the timer's
    assert r.stdout.startswith(THREADS_OUTPUT), r.stdout
    assert r.stdout.endswith(EXPECTED[1]), r.stdout
    # the library modules come from kpyc, not from the project
    assert sorted(p.name for p in threads_project.iterdir() if p.suffix == ".kpy") == ["main.kpy"]


@pytest.mark.skipif(shutil.which("qemu-system-i386") is None, reason="needs qemu-system-i386")
def test_threads_template_same_output_on_qemu(threads_project):
    vm = kpyc("run", cwd=threads_project)
    qemu = kpyc("run", "--qemu", cwd=threads_project)
    assert qemu.returncode == 0, qemu.stderr
    assert qemu.stdout == vm.stdout
    assert qemu.stdout.startswith(THREADS_OUTPUT)
