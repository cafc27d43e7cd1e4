"""A GDB remote-protocol stub on 127.0.0.1 (`--gdb PORT`, `--wait-gdb`).

Serves one gdb connection: an i386 target description (core registers, the
x87 registers gdb insists on, which read as zero, and CR0/CR2/CR3/CR4 as
QEMU names them), registers, memory
(linear addresses, translated through the page tables when paging is on),
continue, single step, software breakpoints (Z0/Z1, as CPU exec hooks),
watchpoints (Z2/Z3/Z4 on linear ranges, as physical write/read watches),
Ctrl-C, monitor commands, detach (the stub keeps listening) and kill.
When the guest ends the run, gdb gets the exit status (`W`).
"""

import select
import socket

from vm.cpu.faults import Fault

GPR_NAMES = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags")
SEG_NAMES = ("cs", "ss", "ds", "es", "fs", "gs")
SEG_INDEX = {"es": 0, "cs": 1, "ss": 2, "ds": 3, "fs": 4, "gs": 5}
FPU_CONTROL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
CONTROL = ("cr0", "cr2", "cr3", "cr4")    # after the x87 registers, as QEMU numbers them
FIRST_CONTROL = 16 + 8 + 8
NUM_REGS = FIRST_CONTROL + len(CONTROL)
SLICE_INSNS = 20_000          # instructions between checks for Ctrl-C from gdb
SIGTRAP, SIGINT = 5, 2
WATCH_KINDS = {"2": "watch", "3": "rwatch", "4": "awatch"}    # Z2/Z3/Z4 and their stop replies
# Hostile lengths are refused (E22, EINVAL as QEMU answers) before any loop:
# a memory packet fits the PacketSize we announce, a watchpoint one page.
MAX_MEMORY_PACKET = 0x1000
MAX_WATCH_LENGTH = 0x1000


def target_xml() -> str:
    regs = [f'<reg name="{n}" bitsize="32" type="{_reg_type(n)}"/>' for n in GPR_NAMES + SEG_NAMES]
    regs += [f'<reg name="st{i}" bitsize="80" type="i387_ext"/>' for i in range(8)]
    regs += [f'<reg name="{n}" bitsize="32" type="int" group="float"/>' for n in FPU_CONTROL]
    control = [f'<reg name="{n}" bitsize="32" type="int32" group="system"/>' for n in CONTROL]
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>i386</architecture>'
            '<feature name="org.gnu.gdb.i386.core">' + "".join(regs) + "</feature>"
            '<feature name="org.qemu.gdb.i386.sys">' + "".join(control) + "</feature></target>")


def _reg_type(name: str) -> str:
    return {"esp": "data_ptr", "ebp": "data_ptr", "eip": "code_ptr", "eflags": "int"}.get(name, "int32")


def checksum(data: bytes) -> bytes:
    return b"%02x" % (sum(data) & 0xFF)


class GdbStub:
    def __init__(self, machine, port: int, host: str = "127.0.0.1"):
        from vm.machine import MachineError
        if not 0 <= port <= 0xFFFF:
            raise MachineError(f"--gdb {port}: a TCP port is 0..65535")
        self.machine = machine
        self.cpu = machine.cpu
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, port))
        except OSError as err:
            raise MachineError(f"--gdb {port}: cannot listen on {host}:{port}: {err.strerror}") from None
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.buffer = b""
        self.breakpoints = {}           # linear address -> physical it maps to now (None: unmapped)
        self.hooked = set()             # physical addresses with our exec hook
        self.hit = False                # a breakpoint or watchpoint stopped the guest
        self.mmu_changed = False
        self.watchpoints = {}           # (kind, linear, length) -> (physical pieces, memory hook)
        self.phys_watches = []          # `monitor watch-phys` hooks
        self.running = False            # watches fire for guest accesses only, not gdb's own
        self.resume_from = None         # breakpoint address to step over once
        self.stop_reason = f"S{SIGTRAP:02x}"
        self.ack = True

    # ------------------------------------------------------------ lifecycle
    def serve(self, wait: bool = True, max_insns=None, timeout=None):
        """Run the machine under gdb's control; returns the machine's RunResult.
        After a detach (or a lost connection) the machine runs on and the stub
        keeps listening: the next gdb finds it stopped where it attached."""
        import time
        self.max_insns = max_insns
        self.deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if wait:
                self.conn, _ = self.listener.accept()
            self.listener.setblocking(False)
            while self.machine.stop is None:
                if self.conn is None and not self._run_until_attached():
                    break
                try:
                    self._session()
                except (ConnectionError, OSError):
                    pass
                self._end_session()
        finally:
            self.listener.close()
        return self.machine.result()

    def _run_until_attached(self) -> bool:
        """Run in slices until a gdb connects (True) or the machine ends (False)."""
        machine = self.machine
        while not self._accept_nowait():
            if machine.advance(max_insns=self.max_insns, deadline=self.deadline,
                               pause_insns=machine.insns() + SLICE_INSNS):
                return False
        self.stop_reason = f"S{SIGTRAP:02x}"
        return True

    def _accept_nowait(self) -> bool:
        try:
            self.conn, _ = self.listener.accept()
        except BlockingIOError:
            return False
        self.conn.setblocking(True)
        return True

    def _end_session(self):
        """gdb detached or went away: forget its connection, breakpoints and watches."""
        if self.conn is not None:
            self.conn.close()
        self.conn, self.buffer, self.ack = None, b"", True
        self.breakpoints.clear()
        for _pieces, hook in self.watchpoints.values():
            self._unhook_watch(hook)
        for hook in self.phys_watches:
            self._unhook_watch(hook)
        self.watchpoints.clear()
        self.phys_watches.clear()

    def _session(self):
        while True:
            packet = self._receive()
            if packet is None:
                return
            reply = self.handle(packet)
            if reply is _DETACH:
                self._send(b"OK")
                return
            if reply is _KILL:
                self.machine.request_exit("killed", None, "killed from gdb")
                return
            if reply is not None:
                self._send(reply)

    # ------------------------------------------------------------ framing
    def _receive(self):
        """The next packet's payload, or None when gdb went away."""
        while True:
            start = self.buffer.find(b"$")
            if b"\x03" in self.buffer[:start if start >= 0 else len(self.buffer)]:
                self.buffer = self.buffer.replace(b"\x03", b"", 1)
                continue             # the '$' moved: find it again (a stale index read an empty packet)
            if start >= 0:
                end = self.buffer.find(b"#", start)
                if end >= 0 and len(self.buffer) >= end + 3:
                    payload = self.buffer[start + 1:end]
                    self.buffer = self.buffer[end + 3:]
                    if self.ack:
                        self.conn.sendall(b"+")
                    return _unescape(payload)
            data = self.conn.recv(65536)
            if not data:
                return None
            self.buffer += data

    def _send(self, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        self.conn.sendall(b"$" + payload + b"#" + checksum(payload))
        if self.ack:
            while True:              # wait for gdb's '+'
                if self.buffer[:1] == b"+":
                    self.buffer = self.buffer[1:]
                    return
                if self.buffer[:1] == b"-":
                    self.buffer = self.buffer[1:]
                    self.conn.sendall(b"$" + payload + b"#" + checksum(payload))
                    continue
                if self.buffer:
                    return
                data = self.conn.recv(65536)
                if not data:
                    raise ConnectionError("gdb went away")
                self.buffer += data

    def _interrupted(self) -> bool:
        ready, _, _ = select.select([self.conn], [], [], 0)
        if ready:
            data = self.conn.recv(65536)
            if not data:
                raise ConnectionError("gdb went away")
            self.buffer += data
        if b"\x03" in self.buffer:
            self.buffer = self.buffer.replace(b"\x03", b"", 1)
            return True
        return False

    # ------------------------------------------------------------ commands
    def handle(self, packet: bytes):
        text = packet.decode("latin-1")
        command, args = text[:1], text[1:]
        if not command:              # an empty packet: answer it, never resume the guest
            return ""
        try:
            if command == "?":
                return self.stop_reason
            if command == "g":
                return "".join(self._read_reg(i) for i in range(NUM_REGS))
            if command == "G":
                return self._write_all_regs(args)
            if command == "p":
                return self._read_reg(int(args, 16))
            if command == "P":
                number, value = args.split("=")
                return self._write_reg(int(number, 16), value)
            if command == "m":
                addr, length = _addr_length(args)
                return self._read_memory(addr, length) if length <= MAX_MEMORY_PACKET else "E22"
            if command == "M":
                where, data = args.split(":")
                addr, length = _addr_length(where)
                if length > MAX_MEMORY_PACKET or len(data) != 2 * length:
                    return "E22"
                return self._write_memory(addr, bytes.fromhex(data))
            if command in ("c", "s"):
                return self._resume(step=command == "s", addr=args)
            if command in ("Z", "z"):
                kind, rest = args.split(",", 1)
                _addr, length = _addr_length(rest.split(";")[0])
                if length > MAX_WATCH_LENGTH:
                    return "E22"
                return self._breakpoint(command == "Z", args)
            if command == "D":
                return _DETACH
            if command == "k":
                return _KILL
            if command == "H" or command == "T":
                return "OK"
            if command == "q":
                return self._query(args)
            if command == "Q":
                if args == "StartNoAckMode":
                    self._send(b"OK")
                    self.ack = False
                    return None
                return ""
            if text == "vCont?":
                return ""
            if text.startswith("vMustReplyEmpty"):
                return ""
        except Exception:            # a malformed packet must not take the VM down
            return "E01"
        return ""

    def _query(self, args: str):
        if args.startswith("Supported"):
            return "PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+"
        if args.startswith("Xfer:features:read:target.xml:"):
            offset, length = (int(x, 16) for x in args.rsplit(":", 1)[1].split(","))
            xml = target_xml()
            chunk = xml[offset:offset + length]
            return ("l" if offset + length >= len(xml) else "m") + chunk
        if args == "Attached":
            return "1"
        if args == "C":
            return "QC1"
        if args == "fThreadInfo":
            return "m1"
        if args == "sThreadInfo":
            return "l"
        if args.startswith("Symbol"):
            return "OK"
        if args.startswith("Rcmd,"):
            return self._monitor(bytes.fromhex(args[5:]).decode("latin-1").strip())
        return ""

    def _monitor(self, command: str) -> str:
        """`monitor cycles|insns|vga|post` in gdb: the VM's view of the machine."""
        m = self.machine
        if command == "cycles":
            text = f"{m.cpu.cycles}\n"
        elif command == "insns":
            text = f"{m.insns()}\n"
        elif command == "vga":
            text = m.vga.screen_text()
        elif command == "post":
            text = " ".join(f"{v:02x}" for _, v in m.post.codes) + "\n"
        elif command == "system_reset":
            m.host_reset("monitor system_reset")
            self._resolve_breakpoints()
            return "OK"                      # gdb: `maintenance flush register-cache` to see it
        elif command.startswith("watch-phys"):
            text = self._watch_phys(command.split()[1:])
        elif command == "profile":
            profiler = getattr(m, "profiler", None)
            text = profiler.report() if profiler is not None else "profile: run the VM with --profile\n"
        else:
            from vm import monitor
            text = monitor.run(m, command)
            if text is None:
                text = ("monitor commands: info registers, info mem, info tlb, info pic, xp/FMT ADDR, "
                        "system_reset, watch-phys ADDR LEN, cycles, insns, profile, vga, post\n")
        return text.encode().hex()

    def _watch_phys(self, args) -> str:
        """`monitor watch-phys ADDR LEN`: stop (SIGTRAP) after any write into
        the physical range, page-walker A/D updates included."""
        try:
            base, length = int(args[0], 0), int(args[1], 0) if len(args) > 1 else 4
        except (IndexError, ValueError):
            return "usage: monitor watch-phys ADDR LEN\n"
        if length <= 0 or base < 0:
            return "watch-phys: the range must be non-empty\n"

        def hook(*_access):
            if self.running and not self.hit:
                self.stop_reason = f"S{SIGTRAP:02x}"
                self.hit = True
                self.machine.pause()
        self.phys_watches.append(hook)
        self.machine.memory.add_write_watch(base, length, hook)
        return f"watching physical {base:#010x}-{base + length - 1:#010x}\n"

    # ------------------------------------------------------------ registers
    def _read_reg(self, number: int) -> str:
        cpu = self.cpu
        if number < 8:
            value = getattr(cpu, GPR_NAMES[number])
        elif number == 8:
            value = cpu.eip
        elif number == 9:
            value = cpu.get_eflags()
        elif number < 16:
            value = cpu.get_seg(SEG_INDEX[SEG_NAMES[number - 10]])
        elif number < 24:
            return "00" * 10
        elif number < FIRST_CONTROL:
            value = 0x037F if number == 24 else 0
        elif number < NUM_REGS:
            value = cpu.cr[int(CONTROL[number - FIRST_CONTROL][2])]
        else:
            return "E00"
        return (value & 0xFFFFFFFF).to_bytes(4, "little").hex()

    def _write_reg(self, number: int, hexvalue: str) -> str:
        raw = bytes.fromhex(hexvalue)
        if len(raw) < 4 and (number < 16 or number >= FIRST_CONTROL):
            return "E01"
        value = int.from_bytes(raw[:4], "little")
        cpu = self.cpu
        if number < 8:
            setattr(cpu, GPR_NAMES[number], value)
        elif number == 8:
            cpu.eip = value
        elif number == 9:
            cpu.set_eflags(value)
        elif number < 16:
            index = SEG_INDEX[SEG_NAMES[number - 10]]
            if cpu.get_seg(index) != value & 0xFFFF:
                cpu.load_seg(index, value & 0xFFFF)
        elif FIRST_CONTROL <= number < NUM_REGS:
            try:
                cpu.set_cr(int(CONTROL[number - FIRST_CONTROL][2]), value)
            except Fault:
                return "E01"              # a value the CPU refuses (#GP for a guest)
        return "OK"

    def _write_all_regs(self, hexdata: str) -> str:
        if len(hexdata) < 16 * 8:
            return "E01"
        bytes.fromhex(hexdata[:16 * 8])          # all valid hex before anything changes
        for number in range(16):
            self._write_reg(number, hexdata[8 * number:8 * number + 8])
        return "OK"

    # ------------------------------------------------------------ memory
    def physical(self, linear: int):
        """Linear → physical without side effects; None if not mapped."""
        translate = getattr(self.cpu, "translate", None)
        if translate is not None:
            return translate(linear)
        if self.cpu.cr[0] & 0x80000000:
            return None
        return linear

    def _read_memory(self, addr: int, length: int) -> str:
        out = bytearray()
        for i in range(length):
            paddr = self.physical((addr + i) & 0xFFFFFFFF)
            if paddr is None:
                break
            out += self.machine.memory.read(paddr, 1)
        return out.hex() if out or length == 0 else "E14"

    def _write_memory(self, addr: int, data: bytes) -> str:
        for i, byte in enumerate(data):
            paddr = self.physical((addr + i) & 0xFFFFFFFF)
            if paddr is None:
                return "E14"
            self.machine.memory.write(paddr, bytes((byte,)))
        return "OK"

    # ------------------------------------------------------------ breakpoints
    def _breakpoint(self, insert: bool, args: str) -> str:
        kind, addr, length = args.split(",")[:3]
        linear = int(addr, 16)
        if kind in ("0", "1"):
            if insert:
                self.breakpoints[linear] = None
                self._resolve_breakpoints()
            else:
                self.breakpoints.pop(linear, None)
            return "OK"
        if kind in WATCH_KINDS:
            key = (kind, linear, int(length, 16))
            if insert and key not in self.watchpoints:
                self.watchpoints[key] = ((), None)
                self._resolve_watchpoint(key)
            elif not insert and key in self.watchpoints:
                self._unhook_watch(self.watchpoints.pop(key)[1])
            return "OK"
        return ""

    # ------------------------------------------------------------ watchpoints
    def _physical_pieces(self, linear: int, length: int) -> tuple:
        """(physical start, length) of each mapped page piece of a linear range."""
        pieces, end = [], linear + max(1, length)
        while linear < end:
            run = min(end, (linear | 0xFFF) + 1) - linear
            paddr = self.physical(linear & 0xFFFFFFFF)
            if paddr is not None:
                pieces.append((paddr, run))
            linear += run
        return tuple(pieces)

    def _resolve_watchpoint(self, key):
        """(Re)attach a watchpoint's memory watches where its linear range
        maps now (paging may have changed since gdb set it)."""
        kind, linear, length = key
        pieces, hook = self.watchpoints[key]
        now = self._physical_pieces(linear, length)
        if now == pieces and hook is not None:
            return
        self._unhook_watch(hook)
        hook = self._watch_hook(key)
        memory = self.machine.memory
        for paddr, run in now:
            if kind in ("2", "4"):
                memory.add_write_watch(paddr, run, hook)
            if kind in ("3", "4"):
                memory.add_read_watch(paddr, run, hook)
        self.watchpoints[key] = (now, hook)

    def _resolve_watchpoints(self):
        for key in list(self.watchpoints):
            self._resolve_watchpoint(key)

    def _unhook_watch(self, hook):
        if hook is not None:
            self.machine.memory.remove_watch(hook)

    def _watch_hook(self, key):
        kind, linear, _ = key

        def hook(*_access):
            if self.running and key in self.watchpoints and not self.hit:
                self.stop_reason = f"T{SIGTRAP:02x}{WATCH_KINDS[kind]}:{linear:x};"
                self.hit = True
                self.machine.pause()
        return hook

    def _resolve_breakpoints(self):
        """Map each breakpoint's linear address through the current page tables
        (paging may have been turned on, or CR3 changed, since it was set)."""
        for linear in self.breakpoints:
            paddr = self.physical(linear)
            self.breakpoints[linear] = paddr
            if paddr is not None and paddr not in self.hooked:
                self.hooked.add(paddr)
                self.cpu.add_exec_hook(paddr, self._breakpoint_hook(paddr))

    def _breakpoint_hook(self, paddr: int):
        def hook(cpu):
            linear = self._pc_linear()
            if self.breakpoints.get(linear) != paddr:
                return
            if self.resume_from == linear:       # we are resuming from this very breakpoint
                self.resume_from = None
                return
            self.stop_reason = f"T{SIGTRAP:02x}swbreak:;"
            self.hit = True
            self.machine.pause()
        return hook

    def _mmu_changed(self):
        """CPU callback: translations changed; pause so breakpoints get re-resolved."""
        self.mmu_changed = True
        self.machine.pause()

    # ------------------------------------------------------------ execution
    def _pc_linear(self) -> int:
        """CS:EIP as a linear address."""
        cpu = self.cpu
        sbase = getattr(cpu, "sbase", None)
        if sbase is not None:
            return (sbase[1] + cpu.eip) & 0xFFFFFFFF
        if cpu.cr[0] & 1:
            return cpu.eip
        return (cpu.get_seg(1) << 4) + (cpu.eip & 0xFFFF)

    def _resume(self, step: bool, addr: str):
        if addr:
            self.cpu.eip = int(addr, 16)
        if hasattr(self.cpu, "on_mmu_change"):
            self.cpu.on_mmu_change = self._mmu_changed
        self._resolve_breakpoints()
        here = self._pc_linear()
        self.resume_from = here if here in self.breakpoints else None
        self._resolve_watchpoints()
        self.stop_reason = f"S{SIGTRAP:02x}"
        self.hit = False
        # with watchpoints the CPU takes its exact path one instruction at a
        # time (as when tracing: same cycles), so a stop comes right after the
        # accessing instruction, loads and page walks included
        stepping = bool(self.watchpoints or self.phys_watches) and self.cpu.trace is None
        if stepping:
            self.cpu.trace = _no_trace
        self.running = True
        try:
            ended = self._step() if step else self._continue()
        finally:
            self.running = False
            if stepping:
                self.cpu.trace = None
        self.resume_from = None
        if ended:
            return "W%02x" % (self.machine.result().exit_code & 0xFF)
        return self.stop_reason

    def _step(self) -> bool:
        machine = self.machine
        return machine.advance(max_insns=self.max_insns, deadline=self.deadline,
                               pause_insns=machine.insns() + 1)

    def _continue(self) -> bool:
        machine = self.machine
        while True:
            self.mmu_changed = False
            ended = machine.advance(max_insns=self.max_insns, deadline=self.deadline,
                                    pause_insns=machine.insns() + SLICE_INSNS)
            if ended or self.hit:
                return ended
            self._resolve_breakpoints()
            self._resolve_watchpoints()
            if self.mmu_changed:
                continue
            if self._interrupted():
                self.stop_reason = f"S{SIGINT:02x}"
                return False


def _no_trace(cpu):
    """A trace hook that prints nothing: it only keeps the CPU on its exact path."""


class _Marker:
    pass


_DETACH, _KILL = _Marker(), _Marker()


def _addr_length(text: str):
    """ADDR,LENGTH of an m/M/Z packet, bounded before anything loops over it:
    an address past 32 bits or a negative number is a malformed packet."""
    addr, length = (int(x, 16) for x in text.split(","))
    if not (0 <= addr <= 0xFFFFFFFF and 0 <= length <= 0xFFFFFFFF) or "-" in text:
        raise ValueError(text)
    return addr, length


def _unescape(payload: bytes) -> bytes:
    out = bytearray()
    escaped = False
    for b in payload:
        if escaped:
            out.append(b ^ 0x20)
            escaped = False
        elif b == 0x7D:
            escaped = True
        else:
            out.append(b)
    return bytes(out)


__all__ = ["GdbStub", "target_xml"]
