"""Calibration of the timing profiles against the seed's figures.

Boots the kernel's experiment programs (kernel_src/exp/, `exp=NAME`) on the
VM under a profile, reads the figures they print (`cycles/op=...`,
`cycles=...`), and lines them up with the seed's (seed_figures.toml, from
../shared/seed/hmm.md; ../shared/design/VM.md, "Calibration targets").
Nothing here is fitted: the VM figure of every row is what the guest printed.
"""
from __future__ import annotations

import io
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from vm.timing.seed import seed_rows

TOLERANCE = 0.25
EXPERIMENTS = ("rw", "sweep", "subpage", "rdtsc", "hlt")


@dataclass
class Row:
    what: str
    seed_text: str       # as the seed reported it ("~300-400")
    seed: float          # the number compared against (a range's midpoint)
    vm: float | None
    source: str          # which kernel program measured it
    id: str = ""         # the row's key in seed_figures.toml

    @property
    def ratio(self) -> float | None:
        return None if self.vm is None or not self.seed else self.vm / self.seed

    @property
    def ok(self) -> bool:
        return self.ratio is not None and abs(self.ratio - 1) <= TOLERANCE


class CalibrationError(Exception):
    pass


def build_images(root: Path, out_dir: Path, opt: int = 2, names=EXPERIMENTS) -> dict[str, bytes]:
    """One disk image per experiment: one build, the command line (which
    travels in the image) set per experiment."""
    from compiler.build import build
    from compiler.image import with_cmdline
    disk = build(root, opt=opt, out_dir=out_dir).disk_image.read_bytes()
    return {name: with_cmdline(disk, f"exp={name}") for name in names}


def run_experiment(image: bytes, timing: str, ram_size: int = 128 << 20) -> str:
    """What the experiment printed; `ram_size`: a smaller machine scans a
    smaller direct map (exp=scan), the other programs print the same."""
    from vm.machine import Machine
    out = io.BytesIO()
    machine = Machine(ram_size=ram_size, timing=timing, disk=image, serial=out)
    result = machine.run(timeout=600)
    text = out.getvalue().decode("latin-1")
    if result.reason != "poweroff":
        raise CalibrationError(f"experiment did not power off ({result.reason}):\n{result.report}\n{text}")
    return text


# ---- reading what the programs printed ----------------------------------------------------

def rw_figures(text: str) -> dict[int, tuple[int, int]]:
    """exp=rw: address -> (read cycles/op, load-and-store cycles/op)."""
    return {int(a, 16): (int(r), int(w)) for a, r, w in
            re.findall(r"addr=([0-9a-f]+) reads cycles/op=(\d+) writes cycles/op=(\d+)", text)}


def sweep_figures(text: str) -> dict[str, int]:
    """exp=sweep: 'fresh', 'filled', 'executed N', 'cleared N' -> cycles/op."""
    out = {}
    m = re.search(r"fresh, crunchy ram\.\.\.\s+cycles/op=(\d+)", text)
    if m:
        out["fresh"] = int(m.group(1))
    m = re.search(r"executable instructions\.\.\.\s+cycles/op=(\d+)", text)
    if m:
        out["filled"] = int(m.group(1))
    for kind, n, cyc in re.findall(r"(Executed|Cleared) (\d+)/4095 bytes\.\.\.\s+cycles/op=(\d+)", text):
        out[f"{kind.lower()} {n}"] = int(cyc)
    return out


def address_figures(text: str) -> dict[int, int]:
    """exp=subpage (and exp=scan): address -> cycles/op."""
    return {int(a, 16): int(c) for a, c in re.findall(r"addr=([0-9a-f]+) cycles/op=(\d+)", text)}


def rdtsc_figures(text: str) -> list[int]:
    """exp=rdtsc, registers-only part: the three readings (boot stack, other, boot)."""
    part = text.split("rdtsc in registers:", 1)[-1]
    return [int(v) for v in re.findall(r"time between rdtsc=(\d+)", part)]


def hlt_figures(text: str) -> tuple[list[int], list[int]]:
    """exp=hlt: (warm runs, first runs after hlt). The very first run is
    neither: nothing halted before it."""
    warm, cold = [], []
    after_hlt = False
    first = True
    for line in text.splitlines():
        if line.strip() == "hlt":
            after_hlt = True
            continue
        m = re.match(r"cycles=(\d+)", line.strip())
        if not m:
            continue
        if after_hlt:
            cold.append(int(m.group(1)))
        elif not first:
            warm.append(int(m.group(1)))
        after_hlt = first = False
    return warm, cold


# ---- the tables ---------------------------------------------------------------------------

def _get(d, key):
    return d.get(key) if d else None


def _median(values):
    return statistics.median(values) if values else None


def _mean(values):
    return statistics.fmean(values) if values else None


ORDINARY = 0xC0100000
VGA = 0xC00B8000


def _rows(profile: str, vm: dict) -> list[Row]:
    """The seed's rows for `profile` (seed_figures.toml) beside the VM's
    figure for each: `vm` maps a row's id to (figure, which program measured it)."""
    rows = []
    for fid, seed in seed_rows(profile).items():
        figure, source = vm[fid]
        rows.append(Row(seed.label, seed.text, seed.value, figure, source, fid))
    return rows


def tcg_rows(out: dict[str, str]) -> list[Row]:
    rw = rw_figures(out["rw"])
    sw = sweep_figures(out["sweep"])
    sub = address_figures(out["subpage"])
    tsc = rdtsc_figures(out["rdtsc"])
    warm, cold = hlt_figures(out["hlt"])
    ordinary = rw.get(ORDINARY, (None, None))
    return _rows("tcg", {
        "write_ordinary": (ordinary[1], "rw @c0100000"),
        "read_only": (ordinary[0], "rw @c0100000"),
        "executed_127": (_get(sw, "executed 127"), "sweep"),
        "executed_511": (_get(sw, "executed 511"), "sweep"),
        "executed_4095": (_get(sw, "executed 4095"), "sweep"),
        "cleared_127": (_get(sw, "cleared 127"), "sweep"),
        "cleared_3967": (_get(sw, "cleared 3967"), "sweep"),
        "cleared_4095": (_get(sw, "cleared 4095"), "sweep"),
        "fresh": (_get(sw, "fresh"), "sweep"),
        "filled": (_get(sw, "filled"), "sweep"),
        "vga": (rw.get(VGA, (None, None))[1], "rw @c00b8000"),
        "stack_page": (sub.get(0xC0007000), "subpage"),
        "stage2_page": (sub.get(0xC0008000), "subpage"),
        "rdtsc": (tsc[1] if len(tsc) > 1 else None, "rdtsc (other stack)"),
        "isqrt_warm": (_median(warm), "hlt (median)"),
        "isqrt_cold": (_mean(cold), "hlt (mean)"),
    })


def kvm_rows(out: dict[str, str]) -> list[Row]:
    rw = rw_figures(out["rw"])
    sw = sweep_figures(out["sweep"])
    sub = address_figures(out["subpage"])
    warm, cold = hlt_figures(out["hlt"])
    return _rows("kvm", {
        "write_ordinary": (rw.get(ORDINARY, (None, None))[1], "rw @c0100000"),
        "filled": (_get(sw, "filled"), "sweep"),
        "executed_127": (_get(sw, "executed 127"), "sweep"),
        "executed_4095": (_get(sw, "executed 4095"), "sweep"),
        "cleared_4095": (_get(sw, "cleared 4095"), "sweep"),
        "stage2_page": (sub.get(0xC0008000), "subpage"),
        "fresh": (_get(sw, "fresh"), "sweep"),
        "isqrt_warm": (_median(warm), "hlt (median)"),
        "isqrt_cold": (_mean(cold), "hlt (mean)"),
    })


ROWS_FOR = {"tcg": tcg_rows, "kvm": kvm_rows}


def calibrate(images: dict[str, bytes], timing: str) -> list[Row]:
    if timing not in ROWS_FOR:
        raise CalibrationError(f"no calibration targets for profile '{timing}' (known: tcg, kvm)")
    outputs = {name: run_experiment(image, timing) for name, image in images.items()}
    return ROWS_FOR[timing](outputs)


def format_table(timing: str, rows: list[Row]) -> str:
    lines = [f"| {timing} profile: seed experiment | seed | VM | VM/seed | within 25% | measured by |",
             "| --- | ---: | ---: | ---: | :---: | --- |"]
    for r in rows:
        vm = "-" if r.vm is None else f"{r.vm:,.0f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(f"| {r.what} | {r.seed_text} | {vm} | {ratio} | {'yes' if r.ok else 'NO'} | {r.source} |")
    return "\n".join(lines)
