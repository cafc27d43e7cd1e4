"""The PC: RAM, ROM, the devices, the firmware, and the run loop.

`Machine(...).run()` executes until the guest powers off, asks to exit, or
the run ends abnormally (triple fault, hlt that nothing can wake, a limit);
every end is a `RunResult` with a reason, an exit status and, for abnormal
ends, a report. Guest faults never escape as Python exceptions.

The run loop asks the CPU to run until the next device event (the PIT's
next IRQ0 edge), fires due events, and when the CPU halts with interrupts
enabled skips emulated time straight to the next event — idle time costs
no host time, and everything stays deterministic.
"""

import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from vm.collector import relaxed_collector
from vm.cpu import codecache
from vm.bios.disk import HEADS, SECTORS_PER_TRACK, Disk
from vm.bios.firmware import BuiltinBios
from vm.bios.multiboot import MultibootKernel
from vm.bios.rom import ROM_BASE, ROM_SIZE, load_rom_file
from vm.devices.acpi_pm import AcpiPM
from vm.devices.clock import CPU_HZ
from vm.devices.cmos import CMOS, DEFAULT_TIME
from vm.devices.debug_exit import DebugExit
from vm.devices.debugcon import DebugConsole
from vm.devices.host_input import HostInput
from vm.devices.kbc import KeyboardController
from vm.devices.pic import DualPIC
from vm.devices.pit import PIT8254
from vm.devices.post import PostPort
from vm.devices.system_control import SystemControl
from vm.devices.uart import UART16550
from vm.devices.protocols import TimedDevice
from vm.devices.vga import VGAText

# Process exit status for each way a run ends (debug-exit gives (v << 1) | 1,
# always odd; the abnormal ends are even so the two never collide).
EXIT_STATUS = {
    "poweroff": 0,
    "bad-input": 1,
    "triple-fault": 4,
    "hlt-no-interrupts": 6,
    "insn-limit": 8,
    "cycle-limit": 8,
    "timeout": 10,
    "no-boot-device": 12,
    "reset": 14,
    "internal-error": 16,
    "interrupted": 130,
    "killed": 137,                  # gdb's kill (128 + SIGKILL, as a shell reports a killed QEMU)
}
MIN_RAM = 2 << 20
MAX_RAM = 3 << 30
TIMEOUT_SLICE = 1_000_000       # cycles between wall-clock checks (--timeout, live input)
LIVE_INPUT_WAIT = 0.1           # seconds the idle machine waits for typed input per check
EFLAGS_IF = 0x200


class MachineError(ValueError):
    """Bad configuration or input (image, ROM, kernel): a user error, not a guest fault."""


@dataclass
class RunResult:
    reason: str
    exit_code: int
    report: str = ""
    cycles: int = 0
    insns: int = 0
    post_codes: list = field(default_factory=list)


class Machine:
    def __init__(self, ram_size=128 << 20, timing="tcg", disk=None, bios=None, serial=None,
                 kernel=None, cmdline="", serial_input=b"", debugcon=None, no_reboot=True,
                 rtc_time=DEFAULT_TIME, log=(), log_file=None, cpu_hz=CPU_HZ, live_input=None, teletype=None,
                 code_cache=codecache.SHARED, qemu_board=None):
        """`code_cache`: where translated blocks are shared (vm.cpu.codecache);
        the default reuses them across machines and runs."""
        if not MIN_RAM <= ram_size <= MAX_RAM or ram_size % 4096:
            raise MachineError(f"RAM size must be a multiple of 4 KiB between 2 MiB and 3 GiB, not {ram_size}")
        self.ram_size = ram_size
        self.cpu_hz = cpu_hz
        self.no_reboot = no_reboot
        self.log_categories = set(log)
        self.log_file = log_file if log_file is not None else sys.stderr
        self.stop = None            # (reason, exit_code, message) once the run must end
        self.paused = False
        self._pending_reset = None
        self.resets = 0
        self.full_disassembly = True     # capstone's AT&T text in traces and reports, when installed
        self.symbols = None      # a vm.symbols.Symbolizer: traces and reports name addresses
        self.teletype = teletype    # host stream that also gets int 10h teletype output
        self._build_cpu(timing, code_cache)
        self.disk = _load_disk(disk) if disk is not None else None
        geometry = None if self.disk is None else (self.disk.cylinders, HEADS, SECTORS_PER_TRACK)
        self._build_devices(serial, serial_input, debugcon, rtc_time, geometry)
        self.live_input = HostInput(live_input) if live_input is not None else None
        # SeaBIOS's devices (vm.devices.qemu_board): with a ROM, or when asked
        self.qemu_board = bios is not None if qemu_board is None else qemu_board
        self._build_firmware(bios, kernel, cmdline)

    # ------------------------------------------------------------ construction
    def _build_cpu(self, timing, code_cache):
        from vm.cpu import CPU
        from vm.memory import PhysicalMemory
        from vm.ports import PortBus
        from vm.timing import ProfileError, load_profile
        try:
            profile = load_profile(timing)
        except (ProfileError, OSError, ValueError) as err:
            raise MachineError(f"timing profile {timing!r}: {err}") from None
        self.memory = PhysicalMemory(self.ram_size)
        self.ports = PortBus()
        self.cpu = CPU(self.memory, self.ports, timing=profile, code_cache=code_cache)

    def _build_devices(self, serial, serial_input, debugcon, rtc_time, disk_geometry):
        self.pic = DualPIC(self.cpu)
        self.cpu.intc = self.pic
        self.pit = PIT8254(self, self.cpu_hz)
        self.uart = UART16550(self, serial, serial_input)
        self.cmos = CMOS(self, self.ram_size, rtc_time, self.cpu_hz, disk_geometry)
        self.vga = VGAText()
        self.post = PostPort(self)
        self.debugcon = DebugConsole(debugcon)
        self.acpi = AcpiPM(self, self.cpu_hz)
        self.system_control = SystemControl(self)
        self.devices = [self.pic, self.pit, self.uart, self.cmos, self.vga, self.post, self.debugcon,
                        DebugExit(self), self.acpi, self.system_control, KeyboardController(self)]
        for device in self.devices:
            device.register(self.ports, self.memory)
        # the run loop asks these for their next event (vm/devices/protocols.py)
        self.timed_devices = [d for d in self.devices if isinstance(d, TimedDevice)]
        if "int" in self.log_categories:
            self.cpu.on_exception = self._log_interrupt
        self._a20 = True

    def _build_firmware(self, bios, kernel, cmdline):
        if bios is not None and kernel is not None:
            raise MachineError("--kernel needs the built-in BIOS; it cannot be combined with --bios")
        if bios is not None:
            rom = bios if isinstance(bios, (bytes, bytearray)) else _checked(load_rom_file, bios)
            if len(rom) % ROM_SIZE or not rom:
                raise MachineError("BIOS ROM must be a non-empty multiple of 64 KiB")
            self.firmware = None
            self.firmware_name = firmware_name(rom, bios)
            # the last 64 KiB at 0xF0000 (or PAM's mapping), the whole ROM at the top of the 4 GiB space
            if not self.qemu_board:
                self.memory.add_rom(ROM_BASE, rom[-ROM_SIZE:])
            self.memory.add_rom((1 << 32) - len(rom), rom)
        else:
            self.firmware_name = "the built-in BIOS"
            multiboot = None
            if kernel is not None:
                image = kernel if isinstance(kernel, (bytes, bytearray)) else _read(kernel, "kernel")
                if not isinstance(kernel, (bytes, bytearray)):
                    cmdline = f"{kernel} {cmdline}"      # QEMU passes "<kernel path> <-append>"
                multiboot = _checked(MultibootKernel, bytes(image), self.ram_size, cmdline)
            self.firmware = BuiltinBios(self, self.disk, multiboot)
            self.firmware.install(self.memory, self.cpu)
        if self.qemu_board:
            from vm.devices.qemu_board import QemuBoard
            self.qemu_board = QemuBoard(self, rom if bios is not None else None)
        self.power_on()

    def power_on(self):
        """Reset the CPU to F000:FFF0, where the ROM's reset vector is."""
        self.set_a20(True)
        reset = getattr(self.cpu, "reset", None)
        if reset is not None:
            reset()
        else:
            self.cpu.load_seg(1, 0xF000)
            self.cpu.eip = 0xFFF0

    # ------------------------------------------------------------ board services for devices
    def cycles(self) -> int:
        return self.cpu.cycles

    def events_changed(self):
        """A device's next event moved (the guest programmed it): the running
        CPU must come back by then, and a long rep yields to it."""
        cpu = self.cpu
        event = cpu.device_event = self._device_event()
        if event < cpu.cyc_limit:
            cpu.cyc_limit = event
            cpu.attention()          # the run loop takes the new limit at the next block boundary

    def set_irq(self, irq: int, level: bool):
        self.pic.set_irq(irq, level)

    def pulse_irq(self, irq: int):
        self.pic.pulse_irq(irq)

    def set_a20(self, enabled: bool):
        if enabled != self._a20:
            self.log("a20", f"A20 {'on' if enabled else 'off'}")
        self._a20 = enabled
        self.memory.set_a20(enabled)

    def request_exit(self, reason: str, exit_code, message: str = ""):
        if self.stop is None:
            code = EXIT_STATUS[reason] if exit_code is None else exit_code
            self.stop = (reason, code, message)
        self.cpu.request_stop()

    def request_reset(self, why: str):
        self.log("cpu_reset", f"reset requested: {why}")
        if self.no_reboot:
            self.request_exit("reset", None, f"the guest reset the machine ({why}) and --no-reboot is set")
        else:
            self._pending_reset = why
            self.cpu.request_stop()

    def _log_interrupt(self, vector, error_code, eip, is_interrupt):
        self.log("int", f"cycle={self.cpu.cycles} " + _format_exception((vector, error_code, eip, is_interrupt))
                 + f" CS={self.cpu.get_seg(1):04x}" + self.where(eip))

    def where(self, eip: int, lines: bool = False) -> str:
        """` <symbol+off>` (and ` file:line`) for an EIP when symbols are loaded, else ""."""
        if self.symbols is None:
            return ""
        return self.symbols.where((self.cpu.sbase[1] + eip) & 0xFFFFFFFF, lines)

    def log(self, category: str, message: str):
        if category in self.log_categories:
            print(f"[{category}] {message}", file=self.log_file)

    # ------------------------------------------------------------ observability
    def watch_physical(self, base: int, length: int, out):
        """--watch-phys: log every write into [base, base+length) with the writer's EIP."""
        def report(paddr, size, value, eip):
            print(f"[watch] cycle={self.cpu.cycles} eip={eip:08x}{self.where(eip)} wrote {size} byte(s) "
                  f"{value:#0{2 + 2 * size}x} at {paddr:#010x}", file=out)
        self.memory.add_write_watch(base, length, report)

    def describe_instruction(self, eip=None, capstone=True) -> str:
        """The bytes and mnemonic at CS:EIP, read without side effects ("??" if unreadable)."""
        from vm.cpu.decoder import Decoder
        cpu, memory = self.cpu, self.memory

        def fetch(offset):
            linear = (cpu.sbase[1] + offset) & 0xFFFFFFFF
            paddr = cpu.translate(linear) if cpu.cr[0] & 0x80000000 else linear
            if paddr is None:
                raise ValueError("unmapped")
            return memory.read(paddr, 1)[0]
        try:
            insn = Decoder(fetch).decode(cpu.eip if eip is None else eip, cpu.code32)
        except Exception:                        # a description must never stop the guest
            return "??"
        from vm.symbols import disassemble
        at = cpu.eip if eip is None else eip
        text = None
        if capstone and self.full_disassembly:
            text = disassemble(insn.raw, (cpu.sbase[1] + at) & 0xFFFFFFFF, cpu.code32)
        if text is None:                         # the VM's own decoder: the same on every engine
            text = insn.text()
        return f"{insn.raw.hex():<16} {text}"

    def trace_to(self, out):
        """--trace: one line per executed instruction: cycle, CS:EIP, bytes, mnemonic."""
        if not hasattr(self.cpu, "trace"):
            raise MachineError("--trace: this CPU has no instruction trace hook")
        cpu = self.cpu

        def trace(*_):
            print(f"{cpu.cycles:>12} {cpu.get_seg(1):04x}:{cpu.eip:08x}  {self.describe_instruction()}"
                  f"{self.where(cpu.eip)}", file=out)
        cpu.trace = trace

    # ------------------------------------------------------------ run loop
    def run(self, max_insns=None, timeout=None, max_cycles=None) -> RunResult:
        """Run to the end; every end is a RunResult, never an exception."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.advance(max_insns=max_insns, max_cycles=max_cycles, deadline=deadline):
            pass                                     # paused by a device hook without a debugger
        return self.result()

    def advance(self, max_insns=None, max_cycles=None, deadline=None, pause_insns=None) -> bool:
        """Run until the machine ends (True) or pauses (False): `pause()` was called
        (a debugger breakpoint) or the instruction count reached `pause_insns`."""
        self.paused = False
        self._ctrl_c = False
        previous = self._catch_ctrl_c()
        try:
            with relaxed_collector():
                self._run_steps(max_insns, max_cycles, deadline, pause_insns)
        except KeyboardInterrupt:
            self.stop = ("interrupted", EXIT_STATUS["interrupted"], "interrupted from the keyboard (Ctrl-C)")
        except Exception:                            # an emulator bug: report it, never raise
            self.stop = ("internal-error", EXIT_STATUS["internal-error"],
                         "the emulator failed (a bug in kpy's VM):\n" + traceback.format_exc())
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        self._flush_outputs()
        return self.stop is not None

    def _run_steps(self, max_insns, max_cycles, deadline, pause_insns):
        while self.stop is None and not self.paused:
            if self._ctrl_c:
                raise KeyboardInterrupt
            if pause_insns is not None and self.insns() >= pause_insns:
                break
            self._step(max_insns, max_cycles, deadline, pause_insns)

    def _catch_ctrl_c(self):
        """In the main thread, Ctrl-C asks the CPU to stop at the next block boundary, so
        the report's counts and registers are consistent; a second Ctrl-C interrupts at once."""
        if threading.current_thread() is not threading.main_thread() \
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None

        def on_ctrl_c(signum, frame):
            if self._ctrl_c:
                raise KeyboardInterrupt
            self._ctrl_c = True
            self.cpu.request_stop()
        return signal.signal(signal.SIGINT, on_ctrl_c)

    def pause(self):
        """Stop before the next instruction without ending the run (debugger)."""
        self.paused = True
        self.cpu.request_stop()

    def _step(self, max_insns, max_cycles, deadline, pause_insns=None):
        cpu = self.cpu
        if max_insns is not None and self.insns() >= max_insns:
            return self.request_exit("insn-limit", None, f"stopped after {max_insns} instructions (--max-insns)")
        if max_cycles is not None and cpu.cycles >= max_cycles:
            return self.request_exit("cycle-limit", None, f"stopped after {max_cycles} cycles")
        if deadline is not None and time.monotonic() >= deadline:
            return self.request_exit("timeout", None, "wall-clock timeout (--timeout)")
        cpu.device_event = self._device_event()     # a long rep yields to it
        until = self._run_until(cpu.device_event, max_cycles, deadline)
        limits = [n - self.insns() for n in (max_insns, pause_insns) if n is not None]
        reason = cpu.run(max_insns=min(limits) if limits else None, until_cycle=until)
        if self._live():
            self.uart.feed(self.live_input.poll())
        self._fire_events()
        self._flush_outputs()
        if self._pending_reset:
            self._reset()
        elif reason == "hlt" and self.stop is None and not self.paused:
            self._idle(max_cycles, deadline)
        elif reason == "triple-fault":
            self._triple_fault()

    def _run_until(self, event, max_cycles, deadline):
        """The cycle the CPU runs to: the next device event, the cycle limit
        or the end of a time slice (to look at the clock or live input)."""
        until = event if max_cycles is None else min(event, max_cycles)
        if deadline is not None or self._live():
            until = min(until, self.cpu.cycles + TIMEOUT_SLICE)
        return until

    def _next_event(self):
        events = [e for e in (d.next_event_cycle() for d in self.timed_devices) if e is not None]
        return min(events) if events else None

    def _device_event(self) -> float:
        event = self._next_event()
        return float("inf") if event is None else event

    def _fire_events(self):
        now = self.cpu.cycles
        for device in self.timed_devices:
            due = device.next_event_cycle()
            if due is not None and due <= now:
                device.advance(now)

    def _live(self) -> bool:
        return self.live_input is not None and self.live_input.open

    def _wait_for_input(self, deadline):
        """Halted with nothing scheduled: only the user's typing can wake the guest."""
        while self._live() and (deadline is None or time.monotonic() < deadline):
            data = self.live_input.wait(LIVE_INPUT_WAIT)
            if data:
                self.uart.feed(data)
                return

    def _idle(self, max_cycles, deadline=None):
        """hlt: skip emulated time to the next event that delivers an interrupt.

        While the CPU is halted nothing changes the PIC's masks or in-service
        bits, so once every timed device has fired without waking the CPU
        (its request latched but masked or blocked), none ever will."""
        cpu = self.cpu
        if not cpu.get_eflags() & EFLAGS_IF:
            return self.request_exit("hlt-no-interrupts", None, "hlt with interrupts disabled (IF=0): "
                                     "nothing can wake the CPU")
        for _ in range(len(self.timed_devices) + 1):
            if cpu.irq_pending:
                return
            event = self._next_event()
            if event is None and self._live():
                return self._wait_for_input(deadline)
            if event is None:
                return self.request_exit("hlt-no-interrupts", None, "hlt with IF=1 but no interrupt "
                                         "source is active (PIT not running)")
            if max_cycles is not None and event > max_cycles:
                cpu.cycles = max(cpu.cycles, max_cycles)
                return
            cpu.cycles = max(cpu.cycles, event)
            self._fire_events()
        if not cpu.irq_pending and self._live():
            self._wait_for_input(deadline)
        elif not cpu.irq_pending:
            self.request_exit("hlt-no-interrupts", None, "hlt with IF=1 but the timer interrupt is "
                              "masked or still in service at the PIC (no EOI?)")

    def _triple_fault(self):
        self.log("cpu_reset", f"triple fault at EIP={self.cpu.eip:#010x}")
        why = (self.cpu.triple_fault_report or "").split("\n", 1)[0]
        if self.no_reboot and "exception loop" in why:
            self.request_exit("triple-fault", None, why)      # a guest that can only fault (cpu/interrupts.py)
        elif self.no_reboot:
            self.request_exit("triple-fault", None, "triple fault: an exception occurred while the CPU "
                              "could not deliver a double fault")
        else:
            self._pending_reset = "triple fault"
            self._reset()

    def host_reset(self, why: str):
        """A reset the host asks for (gdb's `monitor system_reset`), at once."""
        self._pending_reset = why
        self._reset()

    def _reset(self):
        why, self._pending_reset = self._pending_reset, None
        self.resets += 1
        self.log("cpu_reset", f"machine reset #{self.resets} ({why})")
        if self.qemu_board:
            self.qemu_board.reset()
        self.power_on()

    def insns(self) -> int:
        return getattr(self.cpu, "insns", 0)

    def _flush_outputs(self):
        for stream in (self.uart.output, self.debugcon.output, self.teletype):
            flush = getattr(stream, "flush", None)
            if flush is not None:
                try:
                    flush()
                except (OSError, ValueError):
                    pass

    # ------------------------------------------------------------ results
    def result(self) -> RunResult:
        self._flush_outputs()
        reason, code, message = self.stop
        report = "" if reason in ("poweroff", "debug-exit") else self.report(reason, message)
        return RunResult(reason, code, report, self.cpu.cycles, self.insns(), list(self.post.codes))

    def _interrupt_state(self) -> str:
        """PIC registers and the timer, for reports of machines that stopped waiting."""
        channel = self.pit.channels[0]
        timer = (f"PIT ch0 mode {channel.mode} divisor {channel.period}" if channel.load_tick is not None
                 else "PIT ch0 idle")
        return (f"PIC master {_chip_state(self.pic.master)}, slave {_chip_state(self.pic.slave)}; {timer}")

    def report(self, reason: str, message: str) -> str:
        cpu = self.cpu
        lines = [f"kpy vm: {reason}: {message}"]
        try:
            cs = cpu.get_seg(1)
            lines.append(f"  EIP={cpu.eip:08x} CS={cs:04x} EFLAGS={cpu.get_eflags():08x} "
                         f"CR0={cpu.cr[0]:08x} CR2={cpu.cr[2]:08x} CR3={cpu.cr[3]:08x}")
            lines.append(f"  EAX={cpu.eax:08x} EBX={cpu.ebx:08x} ECX={cpu.ecx:08x} EDX={cpu.edx:08x}")
            lines.append(f"  ESI={cpu.esi:08x} EDI={cpu.edi:08x} EBP={cpu.ebp:08x} ESP={cpu.esp:08x}")
        except Exception as err:                     # the report must not fail
            lines.append(f"  (registers unavailable: {err})")
        lines.append(f"  cycles={cpu.cycles} instructions={self.insns()} resets={self.resets}")
        if reason == "triple-fault" and getattr(cpu, "triple_fault_report", None):
            lines.append("  " + cpu.triple_fault_report.replace("\n", "\n  "))
        exceptions = list(getattr(cpu, "recent_exceptions", ()))
        if exceptions:
            lines.append("  last exceptions and interrupts:")
            lines += [f"    {_format_exception(e)}" for e in exceptions]
        eips = list(getattr(cpu, "recent_eips", ()))
        if eips:
            lines.append("  last instructions: " + _runs(eips))
        # the VM's own text, so a report is the same with or without capstone (PyPy has none)
        lines.append(f"  at EIP: {self.describe_instruction(capstone=False)}")
        if self.where(cpu.eip):
            lines.append(f"  in:{self.where(cpu.eip, lines=True)}")
        named = [self.where(e).strip(" <>").split("+")[0] for e in eips]
        if any(named):                     # the functions the last instructions ran in, oldest first
            lines.append("  last functions: " + " ".join(dict.fromkeys(n for n in named if n)))
        lines.append("  " + self._interrupt_state())
        if self.post.codes:
            lines.append("  POST codes: " + " ".join(f"{v:02x}" for _, v in list(self.post.codes)[-16:]))
        return "\n".join(lines) + "\n"


def firmware_name(rom: bytes, source) -> str:
    """What a ROM calls itself ("SeaBIOS 1.16.2-..." from its banner and
    version string), and where it came from."""
    import re
    name = "a BIOS ROM"
    if b"SeaBIOS (version %s)" in rom:
        version = re.search(rb"\0(\d+\.\d+[\w.+~-]*)\0", rom)
        name = "SeaBIOS" + (f" {version.group(1).decode()}" if version else "")
    where = "" if isinstance(source, (bytes, bytearray)) else f" from {source}"
    return f"{name}{where}, {len(rom) >> 10} KiB"


def _chip_state(chip) -> str:
    return f"base={chip.vector_base:02x} IMR={chip.imr:02x} IRR={chip.irr:02x} ISR={chip.isr:02x}"


def _runs(eips) -> str:
    """EIPs oldest first, a repeated EIP written once with its count."""
    parts = []
    for eip in eips:
        if parts and parts[-1][0] == eip:
            parts[-1][1] += 1
        else:
            parts.append([eip, 1])
    return " ".join(f"{e:08x}" + (f" (x{n})" if n > 1 else "") for e, n in parts)


def _format_exception(entry) -> str:
    """(vector, error code or None, EIP, is-hardware-interrupt) as one line."""
    try:
        vector, error, eip, hardware = entry
    except (TypeError, ValueError):
        return str(entry)
    from vm.cpu.faults import NAMES
    kind = "interrupt" if hardware else NAMES.get(vector, "exception")
    code = "" if error is None else f" error={error:#x}"
    return f"vector {vector:#04x} ({kind}){code} at EIP {eip:#010x}"


def _read(path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise MachineError(f"cannot read {what} {path}: {err.strerror}") from None


def _load_disk(disk) -> Disk:
    data = disk if isinstance(disk, (bytes, bytearray)) else _read(disk, "disk image")
    if not data:
        raise MachineError("the disk image is empty")
    return Disk(bytes(data))


def _checked(constructor, *args):
    """Turn a loader's ValueError into a MachineError with the same message."""
    try:
        return constructor(*args)
    except ValueError as err:
        raise MachineError(str(err)) from None


__all__ = ["Machine", "RunResult", "MachineError", "EXIT_STATUS"]
