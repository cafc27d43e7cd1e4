"""python -m compiler.linker: link objects by hand, or show a target as an ld.lld script.

    python -m compiler.linker a.o b.o -o prog.elf [--base 0x100000] [--entry main] [--map prog.map]
    python -m compiler.linker a.o b.o -o boot.bin --layout kernel_src/build.toml --target boot
    python -m compiler.linker --layout kernel_src/build.toml --target kernel --lld-script
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from .errors import LinkError
from .layout import TargetLayout, flat_layout
from .link import link
from .lldscript import linker_script


def _layout(args) -> TargetLayout:
    if args.layout is None:
        return flat_layout(args.base, args.entry)
    try:
        table = tomllib.loads(Path(args.layout).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LinkError(f"{args.layout}: {exc}") from None
    targets = table.get("targets", {})
    if args.target not in targets:
        raise LinkError(f"{args.layout}: no [targets.{args.target}]; targets: {', '.join(targets) or 'none'}")
    return TargetLayout.from_dict(args.target, targets[args.target])


def _write_all(outputs) -> None:
    """Write every output or none: temporaries beside each, renamed once all are written."""
    import os
    import tempfile
    temps = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, data in outputs:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o666 & ~umask)
        for tmp, path in temps:
            os.replace(tmp, path)
    except OSError as exc:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise LinkError(f"cannot write {path}: {exc.strerror}") from None


def _address(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address: {text!r} (try 0x100000)") from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m compiler.linker", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("objects", nargs="*", type=Path, help="ELF32 i386 relocatable objects")
    p.add_argument("-o", "--output", type=Path, help="output: the ELF, or the flat binary for flat targets")
    p.add_argument("--map", type=Path, help="write the map file here")
    p.add_argument("--base", type=_address, default=0x100000, help="base of the default layout")
    p.add_argument("--entry", help="entry symbol of the default layout")
    p.add_argument("--layout", type=Path, help="a build.toml to take the layout from")
    p.add_argument("--target", default="kernel", help="target in --layout (default: kernel)")
    p.add_argument("--lld-script", action="store_true", help="print the layout as an ld.lld linker script")
    args = p.parse_args(argv)
    try:
        layout = _layout(args)
        if args.lld_script:
            sys.stdout.write(linker_script(layout))
            return 0
        if not args.objects or args.output is None:
            p.error("give objects and -o OUTPUT (or --lld-script)")
        objects = []
        for path in args.objects:
            try:
                objects.append((str(path), path.read_bytes()))
            except OSError as exc:
                raise LinkError(f"{path}: {exc.strerror}") from None
        result = link(objects, layout)
        outputs = [(args.output, result.elf if layout.format == "elf" else result.flat)]
        if args.map:
            outputs.append((args.map, result.map_text.encode()))
        _write_all(outputs)
    except (LinkError, OSError) as exc:
        print(f"link: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
