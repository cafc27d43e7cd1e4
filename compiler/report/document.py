"""The report's contents as blocks (write.py renders them): per experiment a
table (seed, VM tcg, VM kvm, QEMU min/median/max, ratios), its plot, and
what it shows; the 0x2008 watch and the GDT clobber in detail."""
from __future__ import annotations

from pathlib import Path

from compiler.report import plots, story
from compiler.report.experiments import EXPERIMENTS
from compiler.report.figures import Line, figures, spread, table_lines

PLOTS = {"stack": plots.stack, "rdtsc": plots.rdtsc, "scan": plots.scan, "subpage": plots.subpage,
         "rw": plots.reads_writes, "sweep": plots.sweep, "hlt": plots.hlt}
HEADER = ["figure", "seed", "VM tcg", "VM tcg/seed", "seed kvm", "VM kvm", "VM kvm/seed kvm",
          "QEMU TCG min / median / max", "QEMU TCG/seed"]


def fmt(v, hexa=False) -> str:
    if v is None:
        return "-"
    if hexa:
        return f"{int(v):#x}"
    return f"{v:,.1f}" if v != int(v) and abs(v) < 100 else f"{v:,.0f}"


def ratio(v, seed) -> str:
    return "-" if v is None or not seed else f"{v / seed:.2f}"


def table_row(line: Line, vm: dict, kvm: dict, qemu: dict, qemu_kvm: dict | None) -> list:
    q = spread(qemu.get(line.id, []))
    row = [line.label, line.seed_text, fmt(vm.get(line.id), line.hex), ratio(vm.get(line.id), line.seed),
           line.seed_kvm_text, fmt(kvm.get(line.id), line.hex), ratio(kvm.get(line.id), line.seed_kvm),
           " / ".join(fmt(v, line.hex) for v in q) if q else "-", ratio(q[1] if q else None, line.seed)]
    if qemu_kvm is not None:
        k = spread(qemu_kvm.get(line.id, []))
        row += [" / ".join(fmt(v, line.hex) for v in k) if k else "-", ratio(k[1] if k else None, line.seed_kvm)]
    return row + [line.where]


def blocks(results: dict, out_dir: Path, notes: list[str], qemu_kvm_on: bool) -> list:
    """`results`: (experiment, target) -> [Result, ...] (QEMU has one per run)."""
    def text(exp, target, i=0):
        rs = results.get((exp, target), [])
        return rs[i].text if len(rs) > i else ""

    def outputs(target, i=0):
        return {e: text(e, target, i) for e in EXPERIMENTS}

    vm, kvm = figures(outputs("vm-tcg")), figures(outputs("vm-kvm"))
    qemu_runs = max([len(results.get((e, "qemu-tcg"), [])) for e in EXPERIMENTS] + [0])
    qfigs = [figures(outputs("qemu-tcg", i)) for i in range(qemu_runs)]
    qemu = {k: [f[k] for f in qfigs] for k in vm}
    qkvm_runs = max([len(results.get((e, "qemu-kvm"), [])) for e in EXPERIMENTS] + [0])
    qkvm = ({k: [figures(outputs("qemu-kvm", i))[k] for i in range(qkvm_runs)] for k in vm}
            if qemu_kvm_on else None)
    qemu_median = {k: spread(v)[1] for k, v in qemu.items() if spread(v)}
    header = HEADER + (["QEMU KVM min / median / max", "QEMU KVM/seed kvm"] if qemu_kvm_on else []) + ["seed's figure from"]

    out = [("h1", "kpy: the seed's experiments, replayed"),
           ("p", "The seed (../shared/seed/hmm.md) measured a hobby kernel under QEMU. Here the same experiments "
                 "(kernel_src/exp/, one kernel build, `exp=NAME` on the boot command line) run on kpy's VM under "
                 "its `tcg` and `kvm` timing profiles and on qemu-system-i386 on the same image. The seed's "
                 "figures come from vm/timing/seed_figures.toml, each with its place in the notes.")]
    out += [("p", n) for n in notes]
    lines = table_lines()
    for exp in EXPERIMENTS:
        out.append(("h2", f"exp={exp}"))
        rows = [table_row(ln, vm, kvm, qemu, qkvm) for ln in lines if ln.experiment == exp]
        out.append(("table", header, rows))
        texts = {"VM tcg": text(exp, "vm-tcg"), "VM kvm": text(exp, "vm-kvm")}
        if qemu_runs:
            texts["QEMU TCG"] = text(exp, "qemu-tcg")
        texts = {k: v for k, v in texts.items() if v}
        if exp in PLOTS and texts:
            png = PLOTS[exp](texts, out_dir / f"{exp}.png")
            out.append(("img", f"exp={exp}", png))
        out += _details(exp, results, out_dir, vm, kvm, qemu_median, texts)
    return out


def _details(exp, results, out_dir, vm, kvm, qemu, texts) -> list:
    write = story.WRITERS[exp]
    first = (results.get((exp, "vm-tcg")) or [None])[0]
    if exp == "hhdm":
        watch = first.watch if first else []
        out = [("p", "What this shows: " + write(vm, kvm, qemu, texts, watch=watch))]
        if watch:
            rows = [[f"{e['cycle']:,}", f"{e['eip']:#010x}", e.get("function", "?"), e["insn"], f"{e['paddr']:#x}",
                     f"{e['before']:#x}", f"{e['after']:#x}", "page walk (A/D bits only)" if e["walker"] else "store"]
                    for e in watch]
            out.append(("table", ["cycle", "EIP", "function", "instruction", "address", "before", "after", "writer"],
                        rows))
            out.append(("img", "0x2008 timeline", plots.hhdm_timeline(watch, out_dir / "hhdm.png")))
        return out
    if exp == "funmemset":
        gdt = first.gdt if first else {}
        out = [("p", "What this shows: " + write(vm, kvm, qemu, texts, gdt=gdt))]
        if first:
            fault = [ln for ln in first.text.splitlines() if "fault" in ln or "called from" in ln or "halted" in ln]
            out.append(("pre", "\n".join(fault) + ("\n\n" + first.report if first.report else "")))
            if gdt:
                out.append(("pre", f"GDT at {gdt['gdt_base']:#x} (limit {gdt['gdt_limit']:#x}); entry "
                                   f"{gdt['selector']:#x} after the memset: {gdt['entry']}\n"
                                   f"faulting instruction at {gdt['eip'] or 0:#x} in {gdt.get('function', '?')}: "
                                   f"{gdt['insn']}"))
        return out
    if not texts.get("VM tcg"):
        return [("p", "What this shows: no VM tcg output (the run failed or was interrupted).")]
    return [("p", "What this shows: " + write(vm, kvm, qemu, texts))]
