"""kpyc: the command line of the kpy toolchain.

    kpyc init     write a new kernel project (build.toml, main.kpy, README) from a template
    kpyc build    compile the project found from the cwd (build.toml, or this
                  repository's kernel_src/build.toml), link, write build/
    kpyc run      build when needed, then boot the image (or an ELF-only build's
                  Multiboot kernel) on the VM (or --qemu)
    kpyc compile  compile one .kpy module and emit LLVM IR, assembly or an object
    kpyc report   the seed's experiments on the VM and QEMU: report.md, report.html

Every user error ends in a message and a non-zero exit status; a Python
traceback is shown only for internal errors and only with KPY_TRACEBACK=1.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 70


class UsageError(Exception):
    """A mistake in how kpyc was called (bad path, missing tool)."""


def is_project(d: Path) -> bool:
    """A project of one's own has ROOT/build.toml; this repository has
    ROOT/kernel_src/build.toml (so kernel_src/ itself is not a project root)."""
    if (d / "kernel_src" / "build.toml").is_file():
        return True
    return (d / "build.toml").is_file() and not (d.name == "kernel_src" and (d.parent / "runtime").is_dir())


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory, from `start` (the cwd) upwards, that is a project."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if is_project(d):
            return d
    raise UsageError(f"not inside a kpy project: no build.toml in {here} or any directory above it; "
                     "create one with `kpyc init DIR`, or pass --root DIR")


# ---------------------------------------------------------------- options

def kpyc_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("kpy")
    except (ImportError, PackageNotFoundError):
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """--version, asking importlib.metadata (~15 ms) only when given."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"kpyc {kpyc_version()}")
        parser.exit()


def add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2), default=None,
                   help="optimisation level (default 2)")
    p.add_argument("-g", dest="debug", action="store_true", help="emit DWARF debug info")
    p.add_argument("--cmdline", default="", help="boot command line stored in the image "
                   "(an ELF-only build gets it as the Multiboot command line)")
    p.add_argument("--root", type=Path, help="project directory (default: found from the cwd)")
    p.add_argument("-o", "--out-dir", type=Path, help="output directory (default ROOT/build)")
    p.add_argument("--grub", action="store_true",
                   help="also write grub.img: Debian's GRUB (grub-pc-bin) multiboot-loading the kernel "
                        "ELF with --cmdline; `kpyc run --grub` boots that image")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpyc", description="the kpy kernel toolchain")
    parser.add_argument("--version", action=_VersionAction, help="print kpyc's version and exit")
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

    i = sub.add_parser("init", help="write a new kernel project (build.toml, main.kpy, README) into DIR")
    i.add_argument("directory", type=Path, metavar="DIR", help="the new project's directory (created; must be empty)")
    i.add_argument("--template", default="hello",
                   help="which template: hello (COM1 and ACPI power-off, the default) or threads (two threads on the timer)")

    c = sub.add_parser("compile", help="compile one module")
    c.add_argument("source", type=Path, metavar="SOURCE", help="the .kpy module to compile")
    c.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2), default=2,
                   help="optimisation level (default 2)")
    c.add_argument("-g", dest="debug", action="store_true", help="emit DWARF debug info")
    c.add_argument("--emit", choices=("llvm", "asm", "obj"), default="obj",
                   help="what to write: LLVM IR, i386 assembly or an ELF object (default obj)")
    c.add_argument("-I", dest="include", type=Path, action="append", default=[],
                   help="extra source root (repeatable; the source's directory, the runtime and "
                        "the kernel library are always searched)")
    c.add_argument("-o", dest="output", type=Path,
                   help="output file; - for standard output (default: stdout for llvm/asm, SOURCE.o for obj)")
    rp = sub.add_parser("report", help="run the seed's experiments on the VM and QEMU; write report.md/.html")
    from compiler.report.options import add_options as add_report_options
    add_report_options(rp)
    return parser


# ---------------------------------------------------------------- commands

def do_build(args, for_run: bool = False) -> "object":
    from compiler.build import build, load_description
    root = args.root.resolve() if args.root else find_project_root()
    if str(args.out_dir) == "-":
        raise UsageError("-o -: a build writes several files (ELF, map, disk image); give a directory")
    out_dir = args.out_dir or root / "build"
    cmdline = args.cmdline
    if for_run:
        desc = load_description(root)
        if not (desc.mbr and desc.kernel):
            cmdline = ""        # an ELF-only build: run_elf passes it as the Multiboot command line
    res = build(root, opt=2 if args.opt is None else args.opt, debug=args.debug, cmdline=cmdline,
                out_dir=out_dir, progress=args.stages)
    if getattr(args, "grub", False):
        from compiler.grubimage import write_grub_image
        args.stages("writing grub.img (grub-mkimage)")
        res.grub_image = write_grub_image(res.kernel_elf, Path(out_dir) / "grub.img", args.cmdline)
        res.outputs.append(res.grub_image)
    return res


def cmd_build(args) -> int:
    res = do_build(args)
    wrote = res.disk_image if res.disk_image in res.outputs else res.kernel_elf
    print(f"kpyc: wrote {wrote}", file=sys.stderr)
    if getattr(args, "grub", False):
        print(f"kpyc: wrote {res.grub_image}", file=sys.stderr)
    return 0


def check_run_options(args) -> None:
    """Refuse, naming it, every option this run could not honour."""
    if args.image is not None:
        given = [name for name, on in (("-O", args.opt is not None), ("-g", args.debug),
                                       ("--root", args.root), ("-o/--out-dir", args.out_dir)) if on]
        if getattr(args, "grub", False):
            given.append("--grub")
        if given:
            raise UsageError(f"{', '.join(given)}: no effect with --image, which boots an image already built")
    if args.qemu:
        from vm.cli import vm_only_options
        refused = vm_only_options(args)
        if refused:
            raise UsageError(f"{' '.join(refused)}: only the reference VM has "
                             f"{'this option' if len(refused) == 1 else 'these options'}; drop it for --qemu")


def image_with_cmdline(image: Path, cmdline: str) -> Path:
    """A temporary copy of `image` whose boot info carries `cmdline` (the image is not touched)."""
    import atexit
    import tempfile
    from compiler.image import ImageError, with_cmdline
    try:
        data = with_cmdline(image.read_bytes(), cmdline)
    except ImageError as exc:
        raise UsageError(f"--cmdline with --image {image}: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--image {image}: cannot read: {exc.strerror or exc}") from None
    fd, name = tempfile.mkstemp(prefix="kpyc-", suffix=".img")
    atexit.register(lambda: os.path.exists(name) and os.unlink(name))
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def cmd_run(args) -> int:
    check_run_options(args)
    image = args.image
    if image is None:
        res = do_build(args, for_run=True)
        image = res.grub_image if getattr(args, "grub", False) else res.disk_image
        if image not in res.outputs:
            return run_elf(res.kernel_elf, args)
    elif not image.is_file():
        raise UsageError(f"no such image: {image}")
    elif args.cmdline:
        image = image_with_cmdline(image, args.cmdline)
    args.stages(f"booting {image} on {'qemu-system-i386' if args.qemu else 'the VM'}", hands_over=True)
    if args.qemu:
        return run_on_qemu(image, args)
    from vm.cli import run_from_args
    return run_from_args(args, image)


def run_elf(elf: Path, args) -> int:
    """A build with no [image] table: boot its kernel ELF through Multiboot
    (the VM's --kernel, QEMU's -kernel), the command line as -append."""
    args.kernel = str(elf)
    args.stages(f"booting {elf} (Multiboot) on {'qemu-system-i386' if args.qemu else 'the VM'}", hands_over=True)
    if getattr(args, "append", None) is None:
        args.append = args.cmdline or ""
    if args.qemu:
        return run_on_qemu(None, args)
    from vm.cli import run_from_args
    return run_from_args(args, None)


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
    from compiler.resources import standard_roots
    roots = list(dict.fromkeys([src.parent.resolve(), *[d.resolve() for d in args.include], *standard_roots()]))
    out = compile_file(src, roots=roots, opt=args.opt, debug=args.debug, emit=args.emit)
    if str(args.output) == "-":
        if isinstance(out, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(out)
        else:
            sys.stdout.write(out)
    elif args.emit == "obj":
        dest = args.output or src.with_suffix(".o")
        dest.write_bytes(out)
        print(f"kpyc: wrote {dest}", file=sys.stderr)
    elif args.output:
        args.output.write_text(out)
    else:
        sys.stdout.write(out)
    return 0


def cmd_init(args) -> int:
    from compiler.init import init_project
    for path in init_project(args.directory, args.template):
        print(f"kpyc: wrote {path}", file=sys.stderr)
    print(f"kpyc: now: cd {shlex.quote(str(args.directory))} && kpyc run   (or kpyc run --qemu)", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from compiler.report.command import cmd_report as report
    return report(args)


COMMANDS = {"build": cmd_build, "run": cmd_run, "compile": cmd_compile, "init": cmd_init,
            "report": cmd_report}


def user_error_types() -> tuple[type, ...]:
    """The exceptions that carry a message meant for the user."""
    types: list[type] = [UsageError]
    for mod, name in (("compiler.driver", "CompileError"), ("compiler.build", "BuildError"),
                      ("compiler.linker", "LinkError"), ("compiler.init", "InitError"),
                      ("compiler.grubimage", "GrubImageError")):
        try:
            types.append(getattr(__import__(mod, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    return tuple(types)


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    from compiler.progress import make_stages
    from vm.collector import relaxed_collector
    args.stages = make_stages()
    try:
        try:
            with relaxed_collector():      # a build and a run keep what they make (vm/collector.py)
                return COMMANDS[args.command](args)
        finally:
            args.stages.done()
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
