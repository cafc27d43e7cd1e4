"""From what the runs printed to the report's numbers. The calibration
table's parsers and rows (calibration/table.py) read the figures it
has; the rows it lacks (stack, rdtsc with a stack temporary, the scan,
hhdm, funmemset) are read here, each beside the seed's figure from
vm/timing/seed_figures.toml."""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from calibration import table as cal
from vm.timing.seed import seed_rows, seed_series

from compiler.report.experiments import EXPERIMENTS


@dataclass
class Line:
    """One table row: a figure, the seed's value for it (tcg and kvm), and
    where in the notes the seed's value is."""
    id: str
    experiment: str
    label: str
    seed_text: str = "-"
    seed: float | None = None
    seed_kvm_text: str = "-"
    seed_kvm: float | None = None
    where: str = ""
    hex: bool = False


def _series_lines() -> list[Line]:
    s = seed_series()
    scan = s["scan"]
    at = dict(zip(scan["addr"], scan["cycles"]))
    sub = dict(zip(s["subpage"]["addr"], s["subpage"]["cycles"]))
    below = statistics.mean(c for a, c in sub.items() if a < 0xC0007000)
    return [
        Line("stack_boot", "stack", "write loop on the boot stack", "3060", 3060, where=s["stack"]["where"]),
        Line("stack_other", "stack", "write loop on another stack", "8", 8, where=s["stack"]["where"]),
        Line("rdtsc_stack_boot", "rdtsc", "rdtsc with a stack temporary, boot stack", "10963", 10963,
             where=s["rdtsc_stack"]["where"]),
        Line("rdtsc_stack_other", "rdtsc", "rdtsc with a stack temporary, other stack", "190", 190,
             where=s["rdtsc_stack"]["where"]),
        Line("scan_slow", "scan", f"pages at or above {scan['threshold']} cycles/op", str(len(at)), len(at),
             where=scan["where"]),
        Line("scan_7000", "scan", "scan: page 0xC0007000", str(at[0xC0007000]), at[0xC0007000], where=scan["where"]),
        Line("scan_8000", "scan", "scan: page 0xC0008000", str(at[0xC0008000]), at[0xC0008000], where=scan["where"]),
        Line("subpage_6000", "subpage", "every 512 bytes, page 0xC0006000 (mean)", f"{below:.1f}", below,
             where=s["subpage"]["where"]),
        Line("rw_read_7000", "rw", "read-only loop, page 0xC0007000", "5", 5,
             where="hmm.md:284 (## slow memory speed: reads never cause the outliers)"),
        Line("hhdm_before", "hhdm", "byte at phys 0x2008 before the check", "0x03", 0x03,
             where=s["hhdm"]["where"], hex=True),
        Line("hhdm_after", "hhdm", "byte at phys 0x2008 after the check", "0x23", 0x23,
             where=s["hhdm"]["where"], hex=True),
        Line("funmemset_error", "funmemset", "#GP error code after the GDT clobber", "0x8", 8,
             where=s["funmemset"]["where"], hex=True),
    ]


def table_lines() -> list[Line]:
    """Every row of the report, grouped by experiment in EXPERIMENTS order."""
    kvm = seed_rows("kvm")
    lines = []
    for fid, seed in seed_rows("tcg").items():
        k = kvm.get(fid)
        lines.append(Line(fid, "", seed.label, seed.text, seed.value, k.text if k else "-",
                          k.value if k else None, seed.where))
    for fid, seed in kvm.items():          # rows only the KVM run of the seed has
        if fid not in {line.id for line in lines}:
            lines.append(Line(fid, "", seed.label, seed_kvm_text=seed.text, seed_kvm=seed.value, where=seed.where))
    sources = {r.id: r.source.split()[0] for r in cal.tcg_rows(_empty()) + cal.kvm_rows(_empty())}
    for line in lines:
        line.experiment = sources[line.id]
    lines += _series_lines()
    return sorted(lines, key=lambda ln: EXPERIMENTS.index(ln.experiment))


def _empty() -> dict:
    return {name: "" for name in EXPERIMENTS}


# ---- the figures of one target (all its experiments' output) ---------------------------------

def _cycles_ops(text: str) -> list[int]:
    return [int(v) for v in re.findall(r"cycles/op=(\d+)", text)]


def figures(outputs: dict[str, str]) -> dict[str, float | None]:
    """Row id -> the figure these outputs (experiment -> text) give. The
    calibration rows are the calibration table's own: one source of truth."""
    out = dict(_empty(), **outputs)
    got = {r.id: r.vm for r in cal.tcg_rows(out)}
    got.update({r.id: r.vm for r in cal.kvm_rows(out) if r.id not in got})
    stack = _cycles_ops(out["stack"])
    stacked = out["rdtsc"].split("rdtsc in registers:", 1)[0]
    tsc = [int(v) for v in re.findall(r"time between rdtsc=(\d+)", stacked)]
    scan = cal.address_figures(out["scan"])
    sub = cal.address_figures(out["subpage"])
    rw = cal.rw_figures(out["rw"])
    below = [c for a, c in sub.items() if a < 0xC0007000]
    hhdm = [int(v, 16) for v in re.findall(r"byte at phys 0x2008 (?:before|after) the check: 0x([0-9a-f]+)", out["hhdm"])]
    gp = re.search(r"#GP general protection fault: error=0x([0-9a-f]+)", out["funmemset"])
    got.update({
        "stack_boot": stack[0] if stack else None,
        "stack_other": stack[1] if len(stack) > 1 else None,
        "rdtsc_stack_boot": tsc[0] if tsc else None,
        "rdtsc_stack_other": tsc[1] if len(tsc) > 1 else None,
        "scan_slow": len(scan) if out["scan"] else None,
        "scan_7000": scan.get(0xC0007000),
        "scan_8000": scan.get(0xC0008000),
        "subpage_6000": statistics.mean(below) if below else None,
        "rw_read_7000": rw[0xC0007000][0] if 0xC0007000 in rw else None,
        "hhdm_before": hhdm[0] if hhdm else None,
        "hhdm_after": hhdm[1] if len(hhdm) > 1 else None,
        "funmemset_error": int(gp.group(1), 16) if gp else None,
    })
    return got


def spread(values: list) -> tuple | None:
    """(min, median, max) of the figures that are there, or None."""
    vals = [v for v in values if v is not None]
    return (min(vals), statistics.median(vals), max(vals)) if vals else None


# ---- series for the plots ---------------------------------------------------------------

def sweep_series(text: str) -> tuple[list, list, list, list]:
    """(executed bytes, cycles/op, cleared bytes, cycles/op) from exp=sweep."""
    sw = cal.sweep_figures(text)
    ex = sorted((int(k.split()[1]), v) for k, v in sw.items() if k.startswith("executed "))
    cl = sorted((int(k.split()[1]), v) for k, v in sw.items() if k.startswith("cleared "))
    return [b for b, _ in ex], [c for _, c in ex], [b for b, _ in cl], [c for _, c in cl]


def per_executed_byte(text: str) -> float | None:
    """Least-squares slope of cycles/op against executed bytes (the rise)."""
    xs, ys, _, _ = sweep_series(text)
    if len(xs) < 2:
        return None
    return statistics.linear_regression(xs, ys).slope


def hlt_series(text: str) -> list[tuple[int, bool]]:
    """(cycles, first run after a hlt) for every isqrt run of exp=hlt."""
    runs, after = [], False
    for line in text.splitlines():
        line = line.strip()
        if line == "hlt":
            after = True
        elif line.startswith("cycles="):
            runs.append((int(line.split("=", 1)[1]), after))
            after = False
    return runs
