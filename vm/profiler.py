"""Cycle profile: where the emulated cycles went, by timing rule, by
symbol (from the kernel ELF) and by physical page.

The profiler subscribes, on one CPU instance, to `CPU.charge` (every
dynamic cost: slow paths, interrupts, the cold period) and wraps the
translated blocks (their static costs); it books each charge *exclusively*
(a page walk inside a store is the walk's, not the block's) to the rule, to
the symbol of the block that was running and to the physical page the
charge is about: the code page for instruction costs, the accessed page for
memory rules. Cycles no charge or block saw (the CPU idling in `hlt` until the next interrupt)
are reported as idle. It changes no cycle count: a profiled run prints the
same figures as an unprofiled one.

    python -m vm.profiler [--image build/disk.img] [--elf build/kernel.elf] [--timing tcg]
"""
from __future__ import annotations

import argparse
import bisect
import io
import sys
from collections import defaultdict
from pathlib import Path

from vm.timing import RULES     # the rule names: one table for the CPU's charges, profiler and README



class Symbols:
    """Address -> function name from the symbol tables of some ELF files
    (the kernel, and the boot sector and stage 2 beside it)."""

    def __init__(self, elf_paths=()):
        if isinstance(elf_paths, (str, Path)):
            elf_paths = [elf_paths]
        funcs = []
        for path in elf_paths:
            funcs += self._functions(Path(path))
        funcs.sort()
        self.starts = [a for a, _, _ in funcs]
        self.funcs = funcs

    @staticmethod
    def _functions(path):
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
        try:
            with path.open("rb") as f:
                symtab = ELFFile(f).get_section_by_name(".symtab")
                return [(s["st_value"], s["st_size"], s.name) for s in (symtab.iter_symbols() if symtab else ())
                        if s.name and s["st_info"]["type"] == "STT_FUNC"]
        except (OSError, ELFError) as err:
            raise ProfilerError(f"cannot read symbols from {path}: {err}") from None

    def name(self, addr):
        i = bisect.bisect_right(self.starts, addr) - 1
        if i >= 0:
            start, size, name = self.funcs[i]
            if addr < start + size or size == 0:
                return name
        return f"?{addr:08x}"


class ProfilerError(Exception):
    pass


class CycleProfiler:
    def __init__(self, cpu, elf_paths=()):
        self.cpu = cpu
        self.symbols = Symbols(elf_paths or ())
        self.by_rule = defaultdict(int)
        self.by_symbol = defaultdict(lambda: defaultdict(int))
        self.by_page = defaultdict(lambda: defaultdict(int))
        self.frames = []            # [start cycles, cycles of nested charges]
        self.running = None         # (symbol, code page) of the block being run
        self.start_cycles = cpu.cycles
        self._install()

    # ---- booking ------------------------------------------------------------------------
    def _book(self, rule, cycles, page):
        if not cycles:
            return
        symbol = self.running[0] if self.running else "(outside blocks)"
        self.by_rule[rule] += cycles
        self.by_symbol[symbol][rule] += cycles
        self.by_page[page][rule] += cycles

    def _charge(self, rule, cycles, page=None):
        """Subscribed in place of CPU.charge: the same cycles, booked to
        `rule` and taken out of the running block's own (static) share."""
        self.cpu.cycles += cycles
        if self.frames:
            self.frames[-1][1] += cycles
        self._book(rule, cycles, page)

    def _install(self):
        cpu = self.cpu
        original_translate = cpu._translate

        def translate(lin, phys, key, cache):
            blk = self._block(original_translate(lin, phys, key, cache), cpu.eip, phys >> 12)
            cache[key] = blk
            return blk
        cpu._translate = translate
        cpu.observe_charges(self._charge)       # and every block from now on is a wrapped one

    def _block(self, blk, eip, page):
        cpu, frames = self.cpu, self.frames
        here = (self.symbols.name(eip), page)
        static, memory = blk.block.static_cycles, blk.block.memory_cycles

        def profiled():
            outer = self.running
            self.running = here
            frames.append([cpu.cycles, 0])
            try:
                return blk()
            finally:
                start, nested = frames.pop()
                spent = cpu.cycles - start
                if frames:
                    frames[-1][1] += spent
                own = spent - nested
                on_memory = own * memory // static if static else 0
                self._book("ordinary_memory", on_memory, page)
                self._book("static", own - on_memory, page)
                self.running = outer
        profiled.block = blk.block       # the same block (vm/cpu/stepper.py, Block)
        return profiled

    # ---- the report --------------------------------------------------------------------------
    def report(self, top=15) -> str:
        total = self.cpu.cycles - self.start_cycles
        booked = sum(self.by_rule.values())
        idle = total - booked
        out = [f"cycle profile: {total:,} cycles, {self.cpu.insns:,} instructions, timing "
               f"'{self.cpu.timing.name}'", "", "by timing rule:"]
        rows = sorted(self.by_rule.items(), key=lambda kv: -kv[1])
        if idle:
            rows.append(("idle", idle))
        for rule, cycles in rows:
            out.append(f"  {_share(cycles, total):>6}  {cycles:>15,}  "
                       f"{RULES.get(rule, 'idle in hlt until the next interrupt')}")
        out += ["", f"by symbol (top {top}):"]
        out += self._table(self.by_symbol, total, top, lambda s: s)
        out += ["", f"by physical page (top {top}; memory rules are booked to the page accessed):"]
        out += self._table(self.by_page, total, top,
                           lambda p: "(no page)" if p is None else f"0x{p << 12:08x}")
        return "\n".join(out) + "\n"

    @staticmethod
    def _table(table, total, top, label):
        rows = sorted(table.items(), key=lambda kv: -sum(kv[1].values()))[:top]
        lines = []
        for key, rules in rows:
            cycles = sum(rules.values())
            parts = ", ".join(f"{rule} {_share(c, cycles)}" for rule, c in
                              sorted(rules.items(), key=lambda kv: -kv[1]) if c)
            lines.append(f"  {_share(cycles, total):>6}  {cycles:>15,}  {label(key):<28} {parts}")
        return lines


def _share(part, whole):
    return f"{100 * part / whole:.1f}%" if whole else "-"


def attach(machine, kernel_elf=None) -> CycleProfiler:
    """Profile a vm.machine.Machine (before its run). Symbols come from
    `kernel_elf` and the boot.elf/stage2.elf the build wrote beside it."""
    paths = []
    if kernel_elf is not None:
        kernel_elf = Path(kernel_elf)
        paths = [kernel_elf] + [p for p in (kernel_elf.with_name("boot.elf"), kernel_elf.with_name("stage2.elf"))
                                if p.is_file()]
    return CycleProfiler(machine.cpu, paths)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vm.profiler",
                                 description="Boot an image on the VM and print its cycle profile.")
    ap.add_argument("--image", default="build/disk.img")
    ap.add_argument("--elf", default="build/kernel.elf", help="kernel ELF for symbol names")
    ap.add_argument("--timing", default="tcg")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--max-insns", type=int, default=None)
    args = ap.parse_args(argv)
    from vm.machine import Machine, MachineError
    from vm.timing import ProfileError
    try:
        machine = Machine(timing=args.timing, disk=args.image, serial=io.BytesIO())
        elf = args.elf if Path(args.elf).is_file() else None
        prof = attach(machine, elf)
    except (MachineError, ProfileError, ProfilerError, OSError) as err:
        print(f"vm.profiler: error: {err}", file=sys.stderr)
        return 1
    result = machine.run(max_insns=args.max_insns)
    sys.stdout.write(prof.report(args.top))
    print(f"run ended: {result.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
