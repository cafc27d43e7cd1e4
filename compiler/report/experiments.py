"""Running the seed's experiments: one kernel build, one image per
experiment (`with_cmdline`), each run on the VM (in a pool of worker
processes) and on qemu-system-i386. A run is a picklable Job and gives a
Result with everything it printed; the figures are read from that text
later (figures.py), with the calibration table's own parsers."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

EXPERIMENTS = ("stack", "rdtsc", "scan", "subpage", "rw", "sweep", "hlt", "hhdm", "funmemset")
VM_TARGETS = ("vm-tcg", "vm-kvm")
QEMU_TIMEOUT = 300          # seconds; a QEMU run that takes longer is reported as timed out
VM_TIMEOUT = 600
KVM_PROBE_SECONDS = 10
HHDM_WATCH = (0x2008, 4)    # the page-table entry that maps linear 0x2000 (kernel_src/exp/hhdm.kpy)
ACCESSED_DIRTY = 0x60
HALTED = b"kernel halted"   # the fault handler's last words: QEMU will not power off after them


@dataclass
class Job:
    experiment: str
    target: str             # vm-tcg, vm-kvm, qemu-tcg, qemu-kvm
    run: int
    image: Path
    elfs: tuple = ()        # the build's ELF files, for naming the functions at EIPs

    @property
    def name(self) -> str:
        return f"{self.experiment} on {self.target}" + (f" (run {self.run})" if self.target.startswith("qemu") else "")


@dataclass
class Result:
    job: Job
    text: str = ""
    reason: str = ""            # poweroff, halted, timeout, error, ...
    report: str = ""            # the VM's fault report when it did not power off
    seconds: float = 0.0
    watch: list = field(default_factory=list)    # exp=hhdm: the page-table entry's writes
    gdt: dict = field(default_factory=dict)      # exp=funmemset: the clobbered entry, the faulting insn

    @property
    def ok(self) -> bool:
        if self.job.experiment == "funmemset":      # it is meant to end in the fault handler
            return HALTED.decode() in self.text
        return self.reason == "poweroff"


SEED_STORES = 10_000                                # the seed's stores a page
SIZED = ("scan", "subpage", "rw", "sweep")          # the programs that read stores=N


def build_images(root: Path, out_dir: Path, full: bool = False) -> tuple[dict[str, Path], tuple]:
    """One build; one image file per experiment, the command line set in each;
    and the build's ELF files (kernel, boot sector, stage 2)."""
    from compiler.build import build
    from compiler.image import with_cmdline
    res = build(root, out_dir=out_dir / "build")
    disk = res.disk_image.read_bytes()
    elfs = tuple(sorted(str(p) for p in (out_dir / "build").glob("*.elf")))
    images = {}
    for name in EXPERIMENTS:
        cmdline = f"exp={name}" + (f" stores={SEED_STORES}" if full and name in SIZED else "")
        path = out_dir / "images" / f"{name}.img"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(with_cmdline(disk, cmdline))
        images[name] = path
    return images, elfs


def qemu_kvm_works(probe_image: Path) -> tuple[bool, str]:
    """QEMU's -accel kvm needs /dev/kvm open for reading and writing, and a
    host whose KVM really runs the guest (nested setups may not): one short
    boot of `probe_image` must power off within KVM_PROBE_SECONDS."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as err:
        return False, f"/dev/kvm cannot be opened read-write here ({err.strerror}): no QEMU KVM column"
    res = run_qemu(Job("probe", "qemu-kvm", 0, probe_image), timeout=KVM_PROBE_SECONDS)
    if res.reason != "poweroff":
        last = [ln for ln in res.text.splitlines() if ln.strip()][-1:] or ["no output"]
        return False, (f"/dev/kvm opens, but a boot with -accel kvm did not power off within "
                       f"{KVM_PROBE_SECONDS} s ({res.reason}; last line: {last[0].strip()!r}): KVM does not "
                       f"work on this host, so there is no QEMU KVM column")
    return True, "/dev/kvm opens and a boot with -accel kvm powers off: QEMU runs with -accel kvm too"


def ignore_sigint() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_job(job: Job) -> Result:
    start = time.monotonic()
    try:
        res = run_vm(job) if job.target.startswith("vm") else run_qemu(job)
    except Exception as err:  # noqa: BLE001 - one failed run must not lose the others
        res = Result(job, reason="error", report=f"{type(err).__name__}: {err}")
    res.seconds = time.monotonic() - start
    return res


# ---- the VM -------------------------------------------------------------------------------

def run_vm(job: Job) -> Result:
    from vm.machine import Machine
    out = io.BytesIO()
    machine = Machine(timing=job.target.split("-", 1)[1], disk=job.image.read_bytes(), serial=out)
    watch = watch_page_table_entry(machine) if job.experiment == "hhdm" else None
    result = machine.run(timeout=VM_TIMEOUT)
    res = Result(job, out.getvalue().decode("latin-1"), result.reason, result.report)
    name = function_names(job.elfs)
    if watch is not None:
        res.watch = [dict(e, insn=machine.describe_instruction(e["eip"]), function=name(e["eip"])) for e in watch]
    if job.experiment == "funmemset":
        res.gdt = gdt_after_fault(machine, res.text)
        res.gdt["function"] = name(res.gdt["eip"]) if res.gdt["eip"] is not None else "?"
    return res


def function_names(elfs):
    """addr -> the function it is in ("?" when there are no symbols)."""
    from vm.profiler import ProfilerError, Symbols
    try:
        symbols = Symbols([p for p in elfs if Path(p).is_file()])
    except ProfilerError:
        return lambda addr: "?"
    return symbols.name


def watch_page_table_entry(machine) -> list:
    """Every write into physical 0x2008-0x200b during the run, with the value
    before it (the watch fires before the write lands) and who wrote it. A
    write that only adds Accessed/Dirty bits is the page walker's."""
    events = []
    base, length = HHDM_WATCH
    memory, cpu = machine.memory, machine.cpu

    def seen(paddr, size, value, eip):
        before = memory.read_phys(paddr, size)
        events.append({"cycle": cpu.cycles, "eip": eip, "paddr": paddr, "size": size, "before": before,
                       "after": value, "walker": size == 4 and (before ^ value) & ~ACCESSED_DIRTY == 0
                       and value != before})
    memory.add_write_watch(base, length, seen)
    return events


def gdt_after_fault(machine, text: str) -> dict:
    """The GDT entry the memset cleared, as the CPU sees it after the fault,
    and the instruction at the faulting EIP (the iret that loaded it)."""
    import re
    cpu = machine.cpu
    base, limit = cpu.gdtr
    m = re.search(r"clearing GDT descriptor (0x[0-9a-f]+)", text)
    selector = int(m.group(1), 16) if m else 0x8
    paddr = cpu.translate(base + selector)
    entry = machine.memory.read(paddr, 8).hex(" ") if paddr is not None else "??"
    f = re.search(r"#GP general protection fault: error=(0x[0-9a-f]+) eip=(0x[0-9a-f]+)", text)
    eip = int(f.group(2), 16) if f else None
    return {"gdt_base": base, "gdt_limit": limit, "selector": selector, "entry": entry,
            "error": f.group(1) if f else None, "eip": eip,
            "insn": machine.describe_instruction(eip) if eip is not None else "??"}


# ---- QEMU ---------------------------------------------------------------------------------

def qemu_command(image: Path, accel: str) -> list:
    import argparse
    from vm.cli import qemu_command as vm_qemu_command
    return vm_qemu_command(argparse.Namespace(), image) + ["-accel", accel]


def run_qemu(job: Job, timeout: float = QEMU_TIMEOUT) -> Result:
    """Boot the image on qemu-system-i386 and collect the serial output. A
    run that halts in the fault handler (exp=funmemset) never powers off,
    so it is stopped once the handler says so."""
    cmd = qemu_command(job.image, job.target.split("-", 1)[1])
    log = job.image.with_suffix(f".{job.experiment}.{job.target}.{job.run}.out")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        reason = wait_qemu(proc, log, timeout)
    text = log.read_bytes().decode("latin-1")
    return Result(job, text, reason, "" if reason in ("poweroff", "halted") else text[-2000:])


def wait_qemu(proc, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(timeout=0.2)
            return "poweroff" if b"powering off" in log.read_bytes() else f"exit {proc.returncode}"
        except subprocess.TimeoutExpired:
            pass
        if HALTED in log.read_bytes() or time.monotonic() > deadline:
            halted = HALTED in log.read_bytes()
            proc.terminate()
            proc.wait()
            return "halted" if halted else "timeout"
