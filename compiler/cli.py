"""kpyc: the command line of the kpy toolchain.

    kpyc build    compile kernel_src/ and runtime/, link, write build/disk.img
    kpyc run      build when needed, then boot the image on the VM (or --qemu)
    kpyc compile  compile one .kpy module and emit LLVM IR, assembly or an object
    kpyc report   the seed's experiments on the VM and QEMU: report.md, report.html

Every user error ends in a message and a non-zero exit status; a Python
traceback is shown only for internal errors and only with KPY_TRACEBACK=1.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 70


class UsageError(Exception):
    """A mistake in how kpyc was called (bad path, missing tool)."""


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory (from `start` upwards) holding kernel_src/build.toml,
    else the checkout this package was installed from."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "kernel_src" / "build.toml").is_file():
            return d
    installed = Path(__file__).resolve().parent.parent
    if (installed / "kernel_src" / "build.toml").is_file():
        return installed
    raise UsageError("no kernel_src/build.toml here or above; pass --root DIR")


# ---------------------------------------------------------------- options

def add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2), default=2,
                   help="optimisation level (default 2)")
    p.add_argument("-g", dest="debug", action="store_true", help="emit DWARF debug info")
    p.add_argument("--cmdline", default="", help="boot command line stored in the image")
    p.add_argument("--root", type=Path, help="project directory (default: found from the cwd)")
    p.add_argument("-o", "--out-dir", type=Path, help="output directory (default ROOT/build)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpyc", description="the kpy kernel toolchain")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    b = sub.add_parser("build", help="compile, link and write the disk image")
    add_build_options(b)

    r = sub.add_parser("run", help="build if needed, then boot the image")
    add_build_options(r)
    r.add_argument("--image", type=Path, help="boot this image instead of building")
    r.add_argument("--qemu", action="store_true", help="boot on qemu-system-i386 instead of the VM")
    r.add_argument("--accel", default="tcg", choices=("tcg", "kvm"),
                   help="with --qemu: tcg (default) or kvm (only where /dev/kvm works)")
    try:
        from vm.cli import add_run_options
    except ImportError:
        pass
    else:
        add_run_options(r)

    c = sub.add_parser("compile", help="compile one module")
    c.add_argument("source", type=Path)
    c.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2), default=2)
    c.add_argument("-g", dest="debug", action="store_true")
    c.add_argument("--emit", choices=("llvm", "asm", "obj"), default="obj")
    c.add_argument("-I", dest="include", type=Path, action="append", default=[],
                   help="extra source root")
    c.add_argument("-o", dest="output", type=Path, help="output file (default: stdout for text, SOURCE.o)")
    rp = sub.add_parser("report", help="run the seed's experiments on the VM and QEMU; write report.md/.html")
    from compiler.report.command import add_options as add_report_options
    add_report_options(rp)
    return parser


# ---------------------------------------------------------------- commands

def do_build(args) -> "object":
    from compiler.build import build
    root = args.root.resolve() if args.root else find_project_root()
    out_dir = args.out_dir or root / "build"
    return build(root, opt=args.opt, debug=args.debug, cmdline=args.cmdline, out_dir=out_dir)


def cmd_build(args) -> int:
    res = do_build(args)
    wrote = res.disk_image if res.disk_image in res.outputs else res.kernel_elf
    print(f"kpyc: wrote {wrote}", file=sys.stderr)
    return 0


def cmd_run(args) -> int:
    image = args.image
    if image is None:
        res = do_build(args)
        image = res.disk_image
        if image not in res.outputs:
            raise UsageError("the build description has no [image] table: nothing to boot")
    elif not image.is_file():
        raise UsageError(f"no such image: {image}")
    if args.qemu:
        return run_on_qemu(image, args)
    from vm.cli import run_from_args
    return run_from_args(args, image)


def kvm_usable() -> bool:
    """QEMU's -accel kvm needs /dev/kvm open for reading and writing."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def run_on_qemu(image: Path, args) -> int:
    from vm.cli import run_on_qemu as run_qemu
    extra = []
    if args.accel == "kvm":
        if not kvm_usable():
            raise UsageError("--accel kvm: /dev/kvm cannot be opened read-write here; use --accel tcg")
        extra = ["-accel", "kvm"]
    return run_qemu(args, image, extra)


def cmd_compile(args) -> int:
    from compiler.driver import compile_file
    src: Path = args.source
    if not src.is_file():
        raise UsageError(f"no such file: {src}")
    # dict.fromkeys: one entry per root, in the order given
    roots = list(dict.fromkeys([src.parent.resolve(), *[d.resolve() for d in args.include]]))
    out = compile_file(src, roots=roots, opt=args.opt, debug=args.debug, emit=args.emit)
    if args.emit == "obj":
        dest = args.output or src.with_suffix(".o")
        dest.write_bytes(out)
        print(f"kpyc: wrote {dest}", file=sys.stderr)
    elif args.output:
        args.output.write_text(out)
    else:
        sys.stdout.write(out)
    return 0


def cmd_report(args) -> int:
    from compiler.report.command import cmd_report as report
    return report(args)


COMMANDS = {"build": cmd_build, "run": cmd_run, "compile": cmd_compile, "report": cmd_report}


def user_error_types() -> tuple[type, ...]:
    """The exceptions that carry a message meant for the user."""
    types: list[type] = [UsageError]
    for mod, name in (("compiler.driver", "CompileError"), ("compiler.build", "BuildError"),
                      ("compiler.linker", "LinkError")):
        try:
            types.append(getattr(__import__(mod, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    return tuple(types)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("kpyc: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence against tracebacks
        if isinstance(err, user_error_types()):
            msg = str(err)
            if not msg.startswith("kpyc:") and ": error:" not in msg:
                msg = f"kpyc: error: {msg}"
            print(msg, file=sys.stderr)
            return EXIT_USER_ERROR
        if os.environ.get("KPY_TRACEBACK"):
            raise
        print(f"kpyc: internal error: {type(err).__name__}: {err}\n"
              "  this is a bug in kpy; rerun with KPY_TRACEBACK=1 for the traceback",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
