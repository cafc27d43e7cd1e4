"""Which Python runs the machine: `--engine cpython|pypy` or `KPY_ENGINE`.

vm/ is pure Python 3.9, so the same code runs on CPython and on PyPy, whose
tracing JIT makes long guest runs several times faster.  When the engine
asked for is not the one running, the run options are handed as JSON to a
new process of the other interpreter (`<python> -m vm.engine PAYLOAD`),
which runs the machine exactly as this process would have; its output goes
to the same streams and its exit status becomes ours, and a gdb stub binds
in it the same way.  The parsed options are passed rather than argv, so
`kpyc run` (whose argv is not the VM's) and `python -m vm` share one path.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ENGINES = {"cpython": "python3", "pypy": "pypy3"}     # engine -> the program that runs it
PACKAGES = {"cpython": "python3", "pypy": "pypy3"}    # ... and its Debian package
BAD_INPUT = 1                                         # the VM's "bad input" exit status


NURSERY = "8MB"        # PYPY_GC_NURSERY for the pypy3 child unless the caller set one


def current() -> str:
    return "pypy" if sys.implementation.name == "pypy" else "cpython"


def requested(args) -> str:
    """The engine the options (else KPY_ENGINE, else this process) ask for;
    ValueError with a message when it is not one we know."""
    name = getattr(args, "engine", None) or os.environ.get("KPY_ENGINE") or current()
    name = name.strip().lower()
    if name not in ENGINES:
        raise ValueError(f"unknown engine '{name}' (use {' or '.join(ENGINES)})")
    return name


def _plain(value):
    """`value` as JSON can carry it, or a marker that it cannot (argparse
    defaults such as functions are not run options)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _SKIP if _SKIP in items else items
    return _SKIP


_SKIP = "\0skip"


def payload(args, disk_image, engine: str) -> str:
    options = {k: _plain(v) for k, v in vars(args).items()}
    options = {k: v for k, v in options.items() if v != _SKIP}
    options["engine"] = engine
    return json.dumps({"options": options, "image": None if disk_image is None else str(disk_image)})


def child_environment(engine: str) -> dict:
    """The environment of a process of `engine` that runs vm/ (bench/ uses it too)."""
    root = str(Path(__file__).resolve().parent.parent)       # where the vm package lies
    env = dict(os.environ, KPY_ENGINE=engine)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    # PyPy sizes its young generation from the host's cache sizes (~230 MiB
    # on one host: 340 MiB peak RSS for any boot). 8 MiB costs no measurable
    # time now that slow paths stay out of traces (jit_hints.py; before,
    # some nursery sizes made the JIT stop inlining wr32: a 3x slower scan)
    env.setdefault("PYPY_GC_NURSERY", NURSERY)
    return env


def run_in(engine: str, args, disk_image) -> int:
    """Run the machine in a process of `engine`; its exit status."""
    program = shutil.which(os.environ.get("KPY_PYPY", "pypy3") if engine == "pypy" else ENGINES[engine])
    if program is None:
        print(f"kpy vm: error: --engine {engine} needs {ENGINES[engine]} on PATH "
              f"(Debian package {PACKAGES[engine]}; or set KPY_ENGINE=cpython)", file=sys.stderr)
        return BAD_INPUT
    sys.stdout.flush()
    sys.stderr.flush()
    child = subprocess.Popen([program, "-m", "vm.engine", payload(args, disk_image, engine)],
                             env=child_environment(engine))
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:      # the child got the same Ctrl-C: let it end its run and report
            continue


def main(argv) -> int:
    if len(argv) != 1:
        print("usage: python -m vm.engine PAYLOAD (started by --engine; not for direct use)", file=sys.stderr)
        return 2
    data = json.loads(argv[0])
    from vm.cli import run_from_args
    return run_from_args(argparse.Namespace(**data["options"]), data["image"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
