"""Cycle profile: where the emulated cycles went, by timing rule, by
symbol (from the kernel ELF) and by physical page.

The profiler wraps, on one CPU instance, every place a timing rule charges
cycles (the translated blocks for the static costs, the slow paths for the
dynamic ones) and books each charge *exclusively* (a page walk inside a
store is the walk's, not the store's) to the rule, to the symbol of the
block that was running and to the physical page the charge is about: the
code page for instruction costs, the accessed page for memory rules.
Cycles no wrapper saw (the CPU idling in `hlt` until the next interrupt)
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

RULES = {
    "static": "instructions (static block cost)",
    "ordinary_memory": "ordinary loads/stores (static block cost)",
    "code_write": "stores to pages holding executed code",
    "mmio": "MMIO accesses",
    "first_touch": "first touch of host memory",
    "page_walk": "page walks",
    "io": "I/O port accesses",
    "interrupt": "interrupt and exception delivery",
    "cold": "cold period after hlt",
    "memory": "other slow-path loads/stores (unmapped, ROM, watched)",
}


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

    def _charged(self, rule_of, fn):
        """Wrap fn so the cycles it charges itself are booked to rule_of(args)."""
        cpu, frames = self.cpu, self.frames

        def wrapper(*args, **kwargs):
            frames.append([cpu.cycles, 0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, nested = frames.pop()
                spent = cpu.cycles - start
                if frames:
                    frames[-1][1] += spent
                rule, page = rule_of(*args)
                self._book(rule, spent - nested, page)
        return wrapper

    # ---- what each slow path is about ----------------------------------------------------
    def _page_of(self, lin):
        paddr = self.cpu.probe(lin)
        return None if paddr is None else paddr >> 12

    def _access_rule(self, lin, *_):
        page = self._page_of(lin)
        mem = self.cpu.mem
        if page is None:
            return "memory", None
        region = mem.page_region.get(page)
        if region is not None and region.kind == "mmio":
            return "mmio", page
        if mem.code_count.get(page):
            return "code_write", page
        return "memory", page

    def _read_rule(self, lin, *_):
        rule, page = self._access_rule(lin)
        return ("memory" if rule == "code_write" else rule), page

    def _install(self):
        from vm.cpu.mmu import make_accessors
        cpu = self.cpu
        running_page = lambda *_: (self.running[1] if self.running else None)
        cpu.slow_read = self._charged(self._read_rule, cpu.slow_read)
        cpu.slow_write = self._charged(self._access_rule, cpu.slow_write)
        cpu._walk = self._charged(lambda lin, *_: ("page_walk", None), cpu._walk)
        cpu._touch_chunk = self._charged(lambda page, *_: ("first_touch", page), cpu._touch_chunk)
        cpu.port_in = self._charged(lambda *_: ("io", None), cpu.port_in)
        cpu.port_out = self._charged(lambda *_: ("io", None), cpu.port_out)
        cpu.deliver_exception = self._charged(lambda *_: ("interrupt", None), cpu.deliver_exception)
        cpu.deliver_irq = self._charged(lambda *_: ("interrupt", None), cpu.deliver_irq)
        cpu.charge_cold = self._charged(lambda *_: ("cold", running_page()), cpu.charge_cold)
        original_translate = cpu._translate

        def translate(lin, phys, key, cache):
            blk = self._block(original_translate(lin, phys, key, cache), cpu.eip, phys >> 12)
            cache[key] = blk
            return blk
        cpu._translate = translate
        # the generated code reaches the slow paths through these closures
        acc = make_accessors(cpu)
        cpu.globals.update(acc)
        cpu.rd = {1: acc["rd8"], 2: acc["rd16"], 4: acc["rd32"]}
        cpu.wr = {1: acc["wr8"], 2: acc["wr16"], 4: acc["wr32"]}
        cpu.flush_code_cache()

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
