"""The report's PNG plots (matplotlib, Agg: no display needed). Each takes
the seed's series and the runs' outputs (a label -> serial text map, one per
target) and writes one PNG."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from calibration import table as cal  # noqa: E402
from vm.timing.seed import seed_series  # noqa: E402

from compiler.report.figures import hlt_series, sweep_series  # noqa: E402

SEED_STYLE = dict(color="black", marker="o", linestyle="none", label="seed (QEMU TCG, hmm.md)")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def sweep(texts: dict[str, str], path: Path) -> Path:
    """Cycles/op of the write loop against executed bytes: the rise while
    more of the page is executed, the fall while it is overwritten."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    s = seed_series()["sweep_tcg"]
    ax.plot(s["executed_bytes"], s["executed_cycles"], **SEED_STYLE)
    ax.plot(s["cleared_bytes"], s["cleared_cycles"], color="black", marker="x", linestyle="none",
            label="seed, overwritten")
    k = seed_series()["sweep_kvm"]
    ax.plot(k["executed_bytes"], k["executed_cycles"], color="grey", marker="s", linestyle="none",
            label="seed (QEMU KVM)")
    for label, text in texts.items():
        xe, ye, xc, yc = sweep_series(text)
        line, = ax.plot(xe, ye, label=f"{label}, executed")
        ax.plot(xc, yc, linestyle="--", color=line.get_color(), label=f"{label}, overwritten")
    ax.set_xlabel("bytes of the page executed (solid) / overwritten again (dashed)")
    ax.set_ylabel("cycles per store")
    ax.set_title("exp=sweep: a store to a page holding executed code")
    ax.legend(fontsize=7)
    return _save(fig, path)


def scan(texts: dict[str, str], path: Path) -> Path:
    """Every page the scan printed (at or above its threshold) by address,
    one slot per address any series has, the seed's slow pages ringed."""
    s = seed_series()["scan"]
    found = {label: cal.address_figures(text) for label, text in texts.items()}
    addrs = sorted(set(s["addr"]).union(*[set(f) for f in found.values()]))
    slot = {a: i for i, a in enumerate(addrs)}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.scatter([slot[a] for a in s["addr"]], s["cycles"], s=90, facecolors="none", edgecolors="black",
               label="seed's slow pages (hmm.md:240-254)")
    for label, f in found.items():
        ax.scatter([slot[a] for a in f], list(f.values()), s=16, label=label)
    ax.set_xticks(range(len(addrs)))
    ax.set_xticklabels([f"{a:x}" for a in addrs], rotation=90, fontsize=6)
    ax.set_yscale("log")
    ax.set_xlabel("page address (only pages at or above the threshold are printed)")
    ax.set_ylabel("cycles per store (log)")
    ax.set_title(f"exp=scan: pages at or above {s['threshold']} cycles/store")
    ax.legend(fontsize=7)
    return _save(fig, path)


def subpage(texts: dict[str, str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    s = seed_series()["subpage"]
    ax.plot(s["addr"], s["cycles"], **SEED_STYLE)
    for label, text in texts.items():
        pts = sorted(cal.address_figures(text).items())
        ax.step([a for a, _ in pts], [c for _, c in pts], where="post", label=label)
    ax.set_xticks([0xC0006000, 0xC0007000, 0xC0008000, 0xC0009000])
    ax.set_xticklabels(["c0006000", "c0007000", "c0008000", "c0009000"])
    ax.set_ylabel("cycles per store")
    ax.set_title("exp=subpage: every 512 bytes; the page boundary is the edge")
    ax.legend(fontsize=7)
    return _save(fig, path)


def reads_writes(texts: dict[str, str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = list(texts)
    width = 0.8 / max(1, 2 * len(labels))
    pages = [cal.ORDINARY, 0xC0007000, 0xC0008000, cal.VGA]
    for i, label in enumerate(labels):
        rw = cal.rw_figures(texts[label])
        for j, kind in enumerate(("reads", "writes")):
            xs = [p + (2 * i + j) * width - 0.4 for p in range(len(pages))]
            ax.bar(xs, [rw.get(a, (0, 0))[j] for a in pages], width, label=f"{label} {kind}")
    ax.set_xticks(range(len(pages)))
    ax.set_xticklabels([f"{a:x}" for a in pages])
    ax.set_yscale("log")
    ax.set_ylabel("cycles per op (log)")
    ax.set_title("exp=rw: reads stay flat, writes pay on boot-code pages and VGA")
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def hlt(texts: dict[str, str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    for key, label in (("hlt_tcg", "seed (QEMU TCG)"), ("hlt_kvm", "seed (QEMU KVM)")):
        ys = seed_series()[key]["cycles"]
        ax.plot(range(1, len(ys) + 1), ys, color="black" if key == "hlt_tcg" else "grey", marker="o",
                linestyle=":", label=label)
    for label, text in texts.items():
        runs = hlt_series(text)
        line, = ax.plot(range(1, len(runs) + 1), [c for c, _ in runs], marker=".", label=label)
        cold = [(i + 1, c) for i, (c, after) in enumerate(runs) if after]
        ax.plot([i for i, _ in cold], [c for _, c in cold], marker="^", linestyle="none", color=line.get_color())
    ax.set_xlabel("isqrt run (a hlt after every third; triangles: first run after a hlt)")
    ax.set_ylabel("cycles")
    ax.set_title("exp=hlt: isqrt(314159265), cold after hlt")
    ax.legend(fontsize=7)
    return _save(fig, path)


def stack(texts: dict[str, str], path: Path) -> Path:
    return _bars(texts, path, seed_series()["stack"]["cycles"], lambda t: [
        int(v) for v in re.findall(r"cycles/op=(\d+)", t)],
        ["boot stack", "another stack", "boot stack again"], "exp=stack: the write loop's cycles/op by stack")


def rdtsc(texts: dict[str, str], path: Path) -> Path:
    import re

    def readings(t):
        return [int(v) for v in re.findall(r"time between rdtsc=(\d+)", t)]
    seed = seed_series()["rdtsc_stack"]["cycles"] + seed_series()["rdtsc_registers"]["cycles"]
    names = [f"{w}, {s}" for w in ("stack temp", "registers") for s in ("boot", "other", "boot")]
    return _bars(texts, path, seed, readings, names, "exp=rdtsc: cycles between back-to-back rdtsc")


def _bars(texts, path, seed, read, names, title) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4))
    series = [("seed", seed)] + [(label, read(text)) for label, text in texts.items()]
    width = 0.8 / len(series)
    for i, (label, ys) in enumerate(series):
        ys = (list(ys) + [0] * len(names))[:len(names)]
        ax.bar([x + i * width - 0.4 for x in range(len(names))], [max(y, 0.5) for y in ys], width, label=label)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("cycles (log)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def hhdm_timeline(events: list, path: Path) -> Path:
    """The value of the page-table entry at 0x2008 over the run's cycles."""
    fig, ax = plt.subplots(figsize=(8, 2.8))
    if events:
        xs = [e["cycle"] for e in events]
        ys = [e["after"] & 0xFF for e in events]
        ax.step(xs, ys, where="post", color="tab:blue")
        for e in events:
            ax.annotate(f"{e['before'] & 0xff:02x}->{e['after'] & 0xff:02x}\n{'walker' if e['walker'] else 'store'}"
                        f" @{e['eip']:x}", (e["cycle"], e["after"] & 0xFF), fontsize=6)
    ax.set_yticks([0, 0x03, 0x23])
    ax.set_yticklabels(["0x00", "0x03", "0x23"])
    ax.set_ylim(-8, 0x40)
    ax.set_xlabel("cycle")
    ax.set_ylabel("low byte at 0x2008")
    ax.set_title("exp=hhdm: writes to physical 0x2008 (VM tcg, watch_physical)", pad=12)
    return _save(fig, path)
