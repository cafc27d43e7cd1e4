"""Run options in QEMU's spirit, shared by `kpyc run` and `python -m vm`.

Exit statuses of a run:
  0        the guest powered off through ACPI (PM1a control, S5)
  odd      the guest wrote v to the isa-debug-exit port 0xF4: (v << 1) | 1
  1        bad input: missing or malformed image, ROM or kernel, bad option value
  2        bad command line (argparse)
  4        triple fault (with --no-reboot, the default for the VM)
  6        hlt that nothing can wake (IF=0, or no unmasked interrupt source)
  8        --max-insns or --max-cycles reached
  10       --timeout reached (wall clock)
  12       no bootable device
  14       the guest reset the machine while --no-reboot is set
  16       internal emulator error (a bug in the VM; the report says where)
  130      interrupted with Ctrl-C
  137      killed from gdb (`kill`)
"""

import argparse
import datetime
import sys
from pathlib import Path

LOG_CATEGORIES = ("int", "cpu_reset", "guest_errors", "post", "a20", "firmware")
EXIT_HELP = ("exit status: 0 power-off (ACPI S5); odd = isa-debug-exit write v: (v<<1)|1; 1 bad input; "
             "2 bad command line; 4 triple fault (or an exception loop); 6 hlt that nothing can wake; 8 instruction or cycle "
             "limit; 10 timeout; 12 no bootable device; 14 guest reset with --no-reboot; 16 emulator "
             "bug; 130 Ctrl-C; 137 killed from gdb")


# Debian's seabios package: bios-256k.bin is the build QEMU's -machine pc boots
# (same code layout, so the same pages run during POST); bios.bin (128 KiB)
# boots too, with --bios
SEABIOS_ROM = "/usr/share/seabios/bios-256k.bin"


class OptionError(ValueError):
    pass


def parse_size(text: str) -> int:
    """QEMU's -m: a number of MiB, or with a K/M/G suffix."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = str(text).strip().upper().removesuffix("B")
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale else text
    try:
        return int(float(number) * (scale or 1 << 20))
    except (ValueError, OverflowError):
        raise OptionError(f"bad memory size {text!r} (try 128, 128M or 1G)") from None


def parse_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise OptionError(f"bad number {text!r}") from None


def add_run_options(parser: argparse.ArgumentParser):
    g = parser.add_argument_group("machine (reference VM)", EXIT_HELP)
    g.add_argument("-m", "--memory", default="128", metavar="SIZE", help="RAM size: MiB or with K/M/G (default 128)")
    g.add_argument("--serial", default="stdio", metavar="stdio|file:PATH|none", help="where COM1 output goes")
    g.add_argument("--serial-input", metavar="FILE", help="bytes the guest receives on COM1 ('-' = stdin)")
    g.add_argument("--debugcon", default="none", metavar="stdio|file:PATH|none", help="port 0xE9 debug console")
    g.add_argument("--teletype", default="none", metavar="stdio|stderr|file:PATH|none",
                   help="also copy BIOS int 10h teletype output (what a boot sector prints on screen) here")
    g.add_argument("--bios", metavar="FILE", help="raw ROM (64 KiB multiple) run from the reset vector instead of the built-in BIOS")
    g.add_argument("--firmware", choices=("builtin", "seabios"), default="builtin",
                   help="seabios: run Debian's SeaBIOS (" + SEABIOS_ROM + ") with QEMU's fw_cfg/PCI devices")
    g.add_argument("--kernel", metavar="ELF", help="boot a Multiboot v1 kernel directly (like qemu -kernel)")
    g.add_argument("--append", metavar="CMDLINE", help="Multiboot command line for --kernel")
    g.add_argument("--no-reboot", action="store_true", default=True, help="stop on triple fault or guest reset (default)")
    g.add_argument("--reboot", dest="no_reboot", action="store_false", help="reset like QEMU without -no-reboot")
    g.add_argument("--max-insns", type=parse_int, metavar="N",
                   help="stop after N guest instructions (each item of a rep counts as one)")
    g.add_argument("--max-cycles", type=parse_int, metavar="N", help="stop after N emulated cycles")
    g.add_argument("--timeout", type=float, metavar="SECONDS", help="stop after this much wall-clock time")
    g.add_argument("-d", dest="log", default="", metavar="LIST", help="log categories: " + ",".join(LOG_CATEGORIES))
    g.add_argument("-D", dest="log_file", metavar="FILE", help="write the -d log here instead of stderr")
    g.add_argument("--trace", metavar="FILE", help="instruction trace (one line per instruction)")
    g.add_argument("--watch-phys", action="append", default=[], metavar="ADDR[,LEN]",
                   help="log every write to this physical range with EIP (repeatable)")
    g.add_argument("--engine", metavar="cpython|pypy",
                   help="Python that runs the machine (default: $KPY_ENGINE, else this one); pypy needs pypy3")
    g.add_argument("--timing", default="tcg", metavar="tcg|kvm|off|FILE", help="emulated timing profile")
    g.add_argument("--rtc", default=None, metavar="YYYY-MM-DDTHH:MM:SS", help="fixed RTC start time")
    g.add_argument("--vga-dump", action="store_true", help="print the final VGA text screen on exit")
    g.add_argument("--post-codes", action="store_true", help="print the POST codes written to port 0x80")
    g.add_argument("--gdb", type=parse_int, metavar="PORT", help="GDB remote stub on 127.0.0.1:PORT")
    g.add_argument("-s", dest="gdb", action="store_const", const=1234, help="shorthand for --gdb 1234")
    g.add_argument("--wait-gdb", "-S", action="store_true", help="wait for gdb before the first instruction")
    g.add_argument("--quiet-report", action="store_true", help="do not print the report of an abnormal end")
    g.add_argument("--profile", action="store_true",
                   help="print where the emulated cycles went: by timing rule, by kernel symbol and by physical page")
    g.add_argument("--symbols", metavar="ELF", help="kernel ELF for --profile (default: kernel.elf beside the image)")


class _Outputs:
    """Opened host files, closed when the run ends."""

    def __init__(self):
        self.files = []

    def stream(self, spec: str, what: str):
        if spec in (None, "", "none", "null"):
            return None
        if spec == "stdio":
            return sys.stdout.buffer
        if spec == "stderr":
            return sys.stderr.buffer
        if spec.startswith("file:"):
            return self.open(spec[5:], "wb", what)
        raise OptionError(f"--{what} {spec!r}: use stdio, file:PATH or none")

    def open(self, path: str, mode: str, what: str):
        try:
            f = open(path, mode)
        except OSError as err:
            raise OptionError(f"cannot open {what} file {path}: {err.strerror}") from None
        self.files.append(f)
        return f

    def close(self):
        for f in self.files:
            f.close()


def _serial_input(path) -> bytes:
    if path is None:
        return b""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise OptionError(f"cannot read serial input {path}: {err.strerror}") from None


def _live_input(args):
    """Typing on the terminal reaches COM1 with `--serial stdio` (like QEMU's
    -serial stdio), unless --serial-input gives the input instead."""
    if getattr(args, "serial", "stdio") != "stdio" or getattr(args, "serial_input", None) is not None:
        return None
    try:
        return sys.stdin if sys.stdin is not None and sys.stdin.isatty() else None
    except (AttributeError, ValueError):
        return None


def _rtc_time(text):
    from vm.devices.cmos import DEFAULT_TIME
    if text is None:
        return DEFAULT_TIME
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise OptionError(f"bad --rtc time {text!r} (use YYYY-MM-DDTHH:MM:SS)") from None


def _log_categories(text: str):
    categories = [c for c in text.split(",") if c]
    for c in categories:
        if c not in LOG_CATEGORIES:
            raise OptionError(f"unknown -d category {c!r}; known: {', '.join(LOG_CATEGORIES)}")
    return categories


def check_options(args):
    """Reject option values no run can honour (before anything is opened)."""
    import math
    g = lambda name, default=None: getattr(args, name, default)   # noqa: E731 (kpyc may lack some options)
    for name in ("max_insns", "max_cycles"):
        if g(name) is not None and g(name) < 0:
            raise OptionError(f"--{name.replace('_', '-')} {g(name)}: must be 0 or more")
    if g("timeout") is not None and not (math.isfinite(g("timeout")) and g("timeout") > 0):
        raise OptionError(f"--timeout {g('timeout')}: give a number of seconds above 0")
    if g("append") is not None and g("kernel") is None:
        raise OptionError("--append only applies with --kernel (as QEMU's -append needs -kernel)")
    for w in g("watch_phys", []) or []:
        _parse_watch(w)


def build_machine(args, disk_image, outputs: _Outputs):
    from vm.machine import Machine
    g = lambda name, default=None: getattr(args, name, default)   # noqa: E731 (kpyc may lack some options)
    check_options(args)
    log_file = outputs.open(g("log_file"), "w", "log") if g("log_file") else sys.stderr
    machine = Machine(
        ram_size=parse_size(g("memory", "128")), timing=g("timing", "tcg"), disk=disk_image,
        bios=_bios_rom(args), serial=outputs.stream(g("serial", "stdio"), "serial"),
        kernel=g("kernel"), cmdline=g("append") or g("cmdline") or "",
        serial_input=_serial_input(g("serial_input")), debugcon=outputs.stream(g("debugcon", "none"), "debugcon"),
        no_reboot=g("no_reboot", True), rtc_time=_rtc_time(g("rtc")),
        log=_log_categories(g("log", "")), log_file=log_file, live_input=_live_input(args),
        teletype=outputs.stream(g("teletype", "none"), "teletype"))
    symbols = _kernel_symbols(args, disk_image) if isinstance(disk_image, (str, Path, type(None))) else None
    if symbols is not None:
        from vm.symbols import Symbolizer
        machine.symbols = Symbolizer.from_path(symbols)      # None: not an ELF32 (a flat image)
    for base, length in (_parse_watch(w) for w in g("watch_phys", [])):
        machine.watch_physical(base, length, log_file)
    if g("trace"):
        machine.trace_to(outputs.open(g("trace"), "w", "trace"))
    return machine


def _bios_rom(args):
    bios = getattr(args, "bios", None)
    if getattr(args, "firmware", "builtin") == "seabios" and bios is None:
        if not Path(SEABIOS_ROM).is_file():
            raise OptionError(f"--firmware seabios: {SEABIOS_ROM} is missing (apt-get install seabios)")
        return SEABIOS_ROM
    return bios


def _parse_watch(text: str):
    parts = text.split(",")
    if len(parts) > 2:
        raise OptionError(f"bad --watch-phys {text!r}: use ADDR or ADDR,LEN")
    base = parse_int(parts[0])
    length = parse_int(parts[1]) if len(parts) == 2 else 1
    if length <= 0 or base < 0:
        raise OptionError(f"bad --watch-phys {text!r}: the range is empty")
    if base + length > 1 << 32:
        raise OptionError(f"bad --watch-phys {text!r}: the range ends above 4 GiB (physical addresses are 32-bit)")
    return base, length


def _kernel_symbols(args, disk_image):
    """The ELF whose symbols name the profile's addresses, if one is known."""
    explicit = getattr(args, "symbols", None) or getattr(args, "kernel", None)
    if explicit:
        return explicit
    if disk_image is not None and (Path(disk_image).parent / "kernel.elf").is_file():
        return Path(disk_image).parent / "kernel.elf"
    return None


def _attach_profiler(args, machine, disk_image):
    if not getattr(args, "profile", False):
        return None
    from vm.profiler import ProfilerError, attach
    try:
        return attach(machine, _kernel_symbols(args, disk_image))
    except (ProfilerError, OSError) as err:
        raise OptionError(f"--profile: {err}") from None


def run_from_args(args, disk_image) -> int:
    """Boot `disk_image` (a path, or None with --kernel/--bios) with the options; the exit status."""
    from vm import engine
    from vm.machine import EXIT_STATUS, MachineError
    try:
        wanted = engine.requested(args)
    except ValueError as err:
        print(f"kpy vm: error: {err}", file=sys.stderr)
        return EXIT_STATUS["bad-input"]
    if wanted != engine.current():
        return engine.run_in(wanted, args, disk_image)
    outputs = _Outputs()
    try:
        machine = build_machine(args, disk_image, outputs)
        if machine.firmware is None:      # a ROM: say which, since firmware pages show in exp=scan
            print(f"kpy vm: firmware: {machine.firmware_name}", file=sys.stderr)
        profiler = machine.profiler = _attach_profiler(args, machine, disk_image)    # gdb: monitor profile
        gdb_port = getattr(args, "gdb", None)
        if gdb_port is not None:
            from vm.gdbstub import GdbStub
            stub = GdbStub(machine, gdb_port)
            waiting = "waiting for gdb" if getattr(args, "wait_gdb", False) else "gdb may attach"
            print(f"kpy vm: {waiting} on 127.0.0.1:{stub.port}", file=sys.stderr)
            result = stub.serve(wait=getattr(args, "wait_gdb", False),
                                max_insns=getattr(args, "max_insns", None), timeout=getattr(args, "timeout", None))
        else:
            result = machine.run(max_insns=getattr(args, "max_insns", None), timeout=getattr(args, "timeout", None),
                                 max_cycles=getattr(args, "max_cycles", None))
    except (OptionError, MachineError) as err:
        print(f"kpy vm: error: {err}", file=sys.stderr)
        outputs.close()
        return EXIT_STATUS["bad-input"]
    _print_epilogue(args, machine, result)
    if profiler is not None:
        sys.stderr.write(profiler.report())
    outputs.close()
    return result.exit_code & 0xFF


def _print_epilogue(args, machine, result):
    if result.report and not getattr(args, "quiet_report", False):
        sys.stderr.write(result.report)
    if getattr(args, "vga_dump", False):
        sys.stderr.write("---- VGA text screen ----\n" + machine.vga.screen_text() + "-------------------------\n")
    if getattr(args, "post_codes", False):
        codes = " ".join(f"{v:02x}@{c}" for c, v in result.post_codes)
        total = machine.post.count
        more = f" (the last {len(result.post_codes)} of {total})" if total > len(result.post_codes) else ""
        sys.stderr.write(f"POST codes{more}: {codes or '(none)'}\n")


QEMU_LOG_CATEGORIES = ("int", "cpu_reset", "guest_errors")
VM_ONLY_OPTIONS = ("max_insns", "max_cycles", "trace", "watch_phys", "vga_dump", "post_codes", "profile",
                   "serial_input")


def _is_set(args, name) -> bool:
    value = getattr(args, name, None)
    return bool(value) and value != "none"


def qemu_command(args, disk_image) -> list:
    """The qemu-system-i386 command line that matches these run options (the
    VM-only ones are left out; `vm_only_options(args)` names them)."""
    g = lambda name, default=None: getattr(args, name, default)   # noqa: E731
    cmd = ["qemu-system-i386", "-machine", "pc", "-display", "none",
           "-m", f"{parse_size(g('memory', '128')) >> 20}M",
           "-serial", g("serial", "stdio") or "stdio",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if disk_image is not None:
        cmd += ["-drive", f"format=raw,file={disk_image}"]
    if g("debugcon", "none") not in (None, "none"):
        cmd += ["-debugcon", g("debugcon")]
    if g("bios"):
        cmd += ["-bios", str(g("bios"))]
    if g("kernel"):
        cmd += ["-kernel", str(g("kernel")), "-append", g("append") or g("cmdline") or ""]
    if g("no_reboot", True):
        cmd.append("-no-reboot")
    categories = [c for c in _log_categories(g("log", "")) if c in QEMU_LOG_CATEGORIES]
    if categories:
        cmd += ["-d", ",".join(categories)]
    if g("log_file"):
        cmd += ["-D", str(g("log_file"))]
    if g("rtc"):
        cmd += ["-rtc", f"base={_rtc_time(g('rtc')).isoformat()},clock=vm"]
    if g("gdb") is not None:
        cmd += ["-gdb", f"tcp:127.0.0.1:{g('gdb')}"]
    if g("wait_gdb"):
        cmd.append("-S")
    return cmd


def vm_only_options(args) -> list:
    return ["--" + name.replace("_", "-") for name in VM_ONLY_OPTIONS + ("teletype",) if _is_set(args, name)]


def run_on_qemu(args, disk_image, extra=()) -> int:
    """Run the image on qemu-system-i386 with the matching options (plus
    `extra` arguments, e.g. `-accel kvm`)."""
    import shlex
    import shutil
    import subprocess
    try:
        cmd = qemu_command(args, disk_image) + list(extra)
    except OptionError as err:
        print(f"kpy vm: error: {err}", file=sys.stderr)
        return 1
    if shutil.which(cmd[0]) is None:
        print("kpy vm: error: qemu-system-i386 is not installed (Debian package qemu-system-x86)", file=sys.stderr)
        return 1
    ignored = vm_only_options(args)
    if ignored:     # refused rather than dropped: the run would not be what was asked for
        print(f"kpy vm: error: {' '.join(ignored)}: only the reference VM has "
              f"{'this option' if len(ignored) == 1 else 'these options'}; drop it for --qemu", file=sys.stderr)
        return 1
    print("kpy vm: " + shlex.join(cmd), file=sys.stderr)
    timeout = getattr(args, "timeout", None)
    try:
        return subprocess.call(cmd, timeout=timeout)     # kills QEMU when the time is up
    except subprocess.TimeoutExpired:
        print(f"kpy vm: --timeout {timeout:g}: stopped qemu-system-i386", file=sys.stderr)
        from vm.machine import EXIT_STATUS
        return EXIT_STATUS["timeout"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vm", description="Boot a disk image on kpy's reference PC.")
    parser.add_argument("image", nargs="?", help="raw disk image (optional with --kernel or --bios)")
    parser.add_argument("--qemu", action="store_true", help="run the same image on qemu-system-i386 instead")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if args.image is None and args.kernel is None and args.bios is None and args.firmware == "builtin":
        parser.error("give a disk IMAGE, --kernel ELF or --bios ROM")
    if args.qemu:
        return run_on_qemu(args, args.image)
    return run_from_args(args, args.image)
