"""The CPU: architectural state, the block cache and the run loop.

Execution goes block by block.  A block is keyed by the physical address
of its first byte plus the mode bits its code depends on (default
operand size, stack size, flat data segments) and CS base; it is decoded
and translated to a Python function once (translate.py) and invalidated
when a store hits the bytes it was decoded from (memory.py keeps that
record).  Between blocks the loop looks at the attention flag (interrupt
request, stop request, interrupt shadow, halt) and the cycle/instruction
limits.
"""
from __future__ import annotations

from collections import deque
from types import FunctionType

from . import alu
from .codecache import Translation
from .decoder import Decoder
from .faults import Fault, NAMES, TripleFault
from .flags import FIXED, IF, TF
from .flags import carry, cf_source, condition, materialize
from .interrupts import Interrupts
from .mmu import MMU, insn_index, make_accessors
from .portio import make_port_accessors
from .segments import CS, GP, Segments
from .stepper import Block, Stepper
from .system import REP_MARGIN, System
from .translate import BODY_FIRST_LINE, LOOP_ITERATIONS, MAX_BLOCK_INSNS, assemble, translate_block
from ..timing import COST_NAMES, load_profile

INF = float("inf")
# near the instruction limit, step block by block (a block's reps count items too)
SLOW_MARGIN = MAX_BLOCK_INSNS * 64 + REP_MARGIN
COLD_BLOCK_INSNS = 8     # the length of blocks for code that has not proved hot
BLOCK_INSNS = {"single": 1, "cold": COLD_BLOCK_INSNS, "hot": MAX_BLOCK_INSNS}
DECODED_LIMIT = 20_000   # decoded instructions remembered (~0.6 KB each) before the memo starts afresh
HOT_AFTER = 2            # executions as short blocks before a block is compiled as a trace
RESET_CR0 = 0x60000010
REG_NAMES = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


def _runs(addresses):
    """(start, length) runs of sorted, distinct addresses, split at page ends."""
    runs = []
    for a in addresses:
        if runs and runs[-1][0] + runs[-1][1] == a and a & 0xFFF:
            runs[-1][1] += 1
        else:
            runs.append([a, 1])
    return runs


def _register_property(idx):
    def get(self):
        return self.regs[idx]

    def put(self, value):
        self.regs[idx] = value & 0xFFFFFFFF
    return property(get, put)


class CPU(MMU, Segments, Interrupts, System, Stepper):
    def __init__(self, mem, ports, timing="off", code_cache=None):
        """`code_cache`: a codecache.CodeCache to share translations through."""
        self.mem = mem
        self.ports = ports
        self.code_cache = code_cache
        self.set_costs(timing)
        self.regs = [0] * 8
        self.vcache: dict[int, object] = {}       # (EIP | CS base and mode) -> block function
        self.cr = [RESET_CR0, 0, 0, 0, 0]
        self.cycles = 0
        self.insns = 0
        self.init_mmu()
        self.init_segments()
        self.init_interrupts()
        self.init_system()
        self.blocks: dict[int, object] = {}       # (physical address | mode) -> block function
        self.vcache: dict[int, object] = {}       # (EIP | CS base and mode) -> block function
        self.single_blocks: dict[int, object] = {}  # one instruction each
        self.cold_blocks: dict[int, object] = {}    # short blocks for code not (yet) hot
        self._kinds = {id(self.single_blocks): "single", id(self.cold_blocks): "cold", id(self.blocks): "hot"}
        self.heat: dict[int, int] = {}              # executions of code not yet hot
        self.cut_points: set[int] = set()           # physical addresses where a block was cut
        self.init_stepper()
        self.decoded: dict = {}                     # (linear, EIP, code32) -> Insn (_compile_block)
        self.block_tables: dict = {}                # code object -> (line starts, EIPs, cycles before)
        self.page_blocks: dict[int, list] = {}    # physical page -> [(key, lo, hi, cache)]
        self.exec_hooks: dict[int, list] = {}
        self.recent_eips = deque(maxlen=16)
        self.trace = None
        self.on_mmu_change = None     # fn() after CR3/CR0.PG/CR4 writes and invlpg
        self.intc = None
        self._irq = False
        self.attn = False
        self.stop_requested = False
        self.halted = False
        self.shadow = False
        self.tf_trap = False
        self.cold_until = 0
        self.limit = -1
        self.room = 0             # instructions a looping block may retire past a chunk of laps (run)
        self.cyc_limit = INF
        self.device_event = INF   # the cycle of the next device event (the machine keeps it)
        self.triple_fault_report = None
        acc = make_accessors(self)
        self.rd = {1: acc["rd8"], 2: acc["rd16"], 4: acc["rd32"]}
        self.wr = {1: acc["wr8"], 2: acc["wr16"], 4: acc["wr32"]}
        acc.update(make_port_accessors(self))
        self.globals = dict(acc, s=self, R=self.regs, SB=self.sbase, Fault=Fault, ALU=alu,
                            MAT=materialize, COND=condition, CARRY=carry, CFSRC=cf_source,
                            FAULT_AT=self._fault_at, INSN_AT=self._insn_at, HOOK=self._run_hooks,
                            LIN=self.checked_linear, UNTIMED=self.ports.untimed, CREGS=self.cr, MEM=mem,
                            __builtins__=__builtins__)
        mem.listeners.append(self)
        self.reset()

    # ---- state ---------------------------------------------------------------------------
    def reset(self):
        """Power-on state: real mode at F000:FFF0 with CS base 0xFFFF0000."""
        self.regs[:] = [0] * 8
        self.regs[2] = 0x0633
        self.fl = 0
        self.lf = (FIXED, 0, 0, 0, 0)
        self.cr[:] = [RESET_CR0, 0, 0, 0, 0]
        self.init_segments()
        self.set_seg(CS, 0xF000, 0xFFFF0000, 0xFFFF, self.sattr[CS])
        for i in (0, 2, 3, 4, 5):
            self.set_seg(i, 0, 0, 0xFFFF, self.sattr[i])
        self.eip = 0xFFF0
        self.flush_tlb()
        self.halted = self.shadow = self.stop_requested = False
        self._irq = False
        self.attn = False
        self._shadow = None

    @property
    def irq_pending(self):
        return self._irq

    @irq_pending.setter
    def irq_pending(self, value):
        self._irq = bool(value)
        if value:
            self.attention()

    def attention(self):
        self.attn = True
        self.limit = -1          # leave the hot loop at the next block boundary

    def request_stop(self):
        self.stop_requested = True
        self.attention()

    def set_costs(self, timing):
        self.timing = load_profile(timing)
        self.io_cost = self.timing.io          # portio.py's fast path reads it
        # a string: the code cache keys its store by repr(key), and a tuple of
        # 22 costs took ~2 µs a lookup to repr (~2 ms of a warm boot)
        self.cost_key = repr(tuple(getattr(self.timing, name) for name in COST_NAMES))

    def set_timing(self, timing):
        self.set_costs(timing)
        self.flush_code_cache()      # static block costs come from the profile
        self.flush_fast_tlbs()       # and the store handlers' (mmu.py, stlb)

    # ---- block cache ------------------------------------------------------------------------
    def flush_code_cache(self):
        self.vcache.clear()
        self.blocks.clear()
        self.cold_blocks.clear()
        self.heat.clear()
        self.single_blocks.clear()
        self.page_blocks.clear()
        self._shadow = None

    def code_written(self, page, lo, hi):
        """memory.py: executed bytes [lo, hi) of `page` were overwritten."""
        entries = self.page_blocks.get(page)
        if not entries:
            return
        keep = []
        for entry in entries:
            key, elo, ehi, cache = entry
            if elo < hi and lo < ehi:
                cache.pop(key, None)
                self.vcache.clear()
            else:
                keep.append(entry)
        self.page_blocks[page] = keep

    def memory_map_changed(self):
        self.flush_fast_tlbs()

    def add_exec_hook(self, paddr, fn):
        self.exec_hooks.setdefault(paddr, []).append(fn)
        self._invalidate_at(paddr)

    def remove_exec_hook(self, paddr, fn):
        fns = self.exec_hooks.get(paddr, [])
        if fn in fns:
            fns.remove(fn)
        if not fns:
            self.exec_hooks.pop(paddr, None)
        self._invalidate_at(paddr)

    def _invalidate_at(self, paddr):
        # blocks decoded through paddr check (or no longer check) the hooks there
        self.code_written(paddr >> 12, paddr & 0xFFF, (paddr & 0xFFF) + 1)
        self.vcache.clear()

    def _fault_at(self, fault, laps_done):
        """Called from a block's except clause: which instruction faulted
        (its index in the block's lap, returned)?"""
        tb = fault.__traceback__          # its first entry is the block's own frame
        line_starts, eips, cycles_before = self.block_tables[tb.tb_frame.f_code]
        idx = insn_index(line_starts, tb.tb_lineno)
        self.eip = eips[idx]
        self.cycles += cycles_before[idx]
        fault.done = laps_done + idx
        return idx

    def _insn_at(self, exc):
        """The index in its block's lap of the instruction that raised `exc`,
        which the block's except clause caught (nothing else changes)."""
        tb = exc.__traceback__
        return insn_index(self.block_tables[tb.tb_frame.f_code][0], tb.tb_lineno)

    # ---- running -------------------------------------------------------------------------------
    def run(self, max_insns=None, until_cycle=None):
        """Execute until a stop condition; returns "event", "hlt", "stop",
        "insn-limit" or "triple-fault".

        The inner loop is the hot path: look the block up by (CS base, EIP,
        mode) and call it, while `cycles < limit` (attention() drops
        `limit` to -1 so interrupts, stops and the sti shadow are seen at the
        next block boundary) and the instruction budget lasts.

        Observing a run does not change it: tracing, debugger steps and
        pauses, write-watch stops and the last instructions before
        `max_insns` take the exact path (stepper.py), which runs the
        block the hot path would run, or steps through it one instruction
        at a time with the same lookups, translations, recorded code bytes
        and block starts, the same cycles, and interrupts and events held
        until that block's end."""
        insn_limit = INF if max_insns is None else self.insns + max_insns
        # a device programmed during the run may bring this forward (Machine.events_changed)
        self.cyc_limit = INF if until_cycle is None else until_cycle
        self.limit = -1 if self.attn else self.cyc_limit
        self._forget_stale_hook_skip()
        vget = self.vcache.get
        n = self.insns
        single = False
        while True:
            if self.rep_insns:          # system.py: a rep's items are instructions
                n += self.take_rep_insns()
            self.rep_room = insn_limit - n
            if self.attn and (self._shadow is None or self.stop_requested):
                self.insns = n
                reason, single = self._attend()
                if reason is not None:
                    return reason
            if self.cycles >= self.cyc_limit and self._shadow is None:
                self.insns = n
                return "event"
            if n >= insn_limit:
                self.insns = n
                return "insn-limit"
            try:
                if (single or self.trace is not None or insn_limit - n <= SLOW_MARGIN
                        or self._shadow is not None):
                    self.room = 0          # a looping block returns after one chunk of laps
                    try:
                        n += self.exact_step(insn_limit - n, n, single)   # stepper.py
                    except TripleFault as tf:      # a single-step #DB with no way to deliver it: a guest outcome
                        self.insns = n + self.take_rep_insns()
                        self._triple_fault(str(tf), None)
                        return "triple-fault"
                    single = False
                    continue
                budget = insn_limit - SLOW_MARGIN
                blk = None
                if n < self.cold_until:
                    # the cold period after hlt, as the exact path ran it (stepper.py): each
                    # block looked up, one chunk of laps a call, and charged the `cold`
                    # rule (inline, like the loops below: a fault must find `n` up to date)
                    self.room = 0
                    while self.cycles < self.limit and n < budget and n < self.cold_until:
                        blk = self._lookup()
                        k = blk()
                        if self._stop_exit is not None:
                            self._follow_stopped(blk, True)
                            if self._shadow is not None:     # walked on exactly: charged at its end
                                n += k
                                break
                        self.charge_cold_block(n + k, k)
                        n += k
                elif budget == INF:
                    self.room = INF
                    while self.cycles < self.limit:
                        blk = vget(self.eip | self.mode_key)
                        if blk is None:
                            blk = self._lookup()
                        n += blk()
                else:
                    while self.cycles < self.limit and n < budget:
                        blk = vget(self.eip | self.mode_key)
                        if blk is None:
                            blk = self._lookup()
                        # a looping block goes on past a chunk of laps while n stays below budget
                        self.room = budget - n
                        n += blk()
                self.room = 0
                if self._stop_exit is not None:
                    self._follow_stopped(blk)      # stepper.py: the rest of the block runs exactly
            except Fault as fault:
                n += fault.done + self.take_rep_insns()
                self.insns = n
                if self._fault_taken(fault):
                    return "triple-fault"
            self.insns = n

    def _attend(self):
        """Service the attention flag; (stop reason or None, single step next)."""
        # inside a regular block stepped exactly, interrupts and events
        # wait for its end, as they do when the block runs whole
        mid_block = self._shadow is not None
        reason, single = self._service()
        if mid_block:
            self.attn = True        # look again at the block's end
        if reason is None:
            self.limit = -1 if self.attn else self.cyc_limit
        return reason, single

    def _fault_taken(self, fault):
        """Deliver a fault raised by a block; True on a triple fault."""
        self._shadow = self._stop_exit = None
        self.tf_trap = False          # a faulting instruction does not trap as well
        try:
            self.deliver_exception(fault)
        except TripleFault as tf:
            self._triple_fault(str(tf), fault)
            return True
        return False

    def _lookup(self):
        """vcache miss: find (or translate) the block at CS:EIP by physical address."""
        lin, phys, key = self._block_key()
        self.recent_eips.append(self.eip)
        blk = self.blocks.get(key)
        if blk is None:
            # code runs as short blocks until it proves hot; only then is the
            # long (trace, loop) block compiled, which costs more to compile
            heat = self.heat.get(key, 0) + 1
            self.heat[key] = heat
            if heat <= HOT_AFTER:
                blk = self.cold_blocks.get(key)
                if blk is None:
                    blk = self._translate(lin, phys, key, self.cold_blocks)
                return blk
            blk = self._translate(lin, phys, key, self.blocks)
        self.vcache[self.eip | self.mode_key] = blk
        return blk

    def _block_key(self):
        """(linear, physical, cache key) of the code at CS:EIP; blocks are
        cached by physical address and the mode bits they were decoded in."""
        lin = (self.sbase[CS] + self.eip) & 0xFFFFFFFF
        pp = self.xtlb.get(lin >> 12)
        if pp is None:
            pp = self.fetch_page(lin)
        phys = pp | (lin & 0xFFF)
        return lin, phys, phys | self.mode_key

    def charge(self, rule, cycles, page=None):
        """Every dynamic cost (slow paths, interrupts, the cold period after
        hlt) is charged here: `rule` is one of vm.timing.RULES, `page` the
        physical page the cost is about (None: no page). vm.profiler
        subscribes through `observe_charges`, which replaces this method on
        its CPU; static block costs stay folded into the translated blocks
        (translate.py)."""
        self.cycles += cycles

    def observe_charges(self, charge):
        """Route every dynamic cost through `charge(rule, cycles, page)` in
        place of CPU.charge (vm.profiler), port I/O's `io` charge included:
        PIN/POUT are made again to call it, and the traces' inline port I/O
        gets an empty port table, so every access calls them. Drops every
        translation (the blocks bind these when they are made)."""
        self.charge = charge
        self.globals.update(make_port_accessors(self), UNTIMED={})
        self.flush_code_cache()

    def _service(self):
        """Handle whatever raised the attention flag; (reason or None, single_step)."""
        self.attn = False
        if self.stop_requested:
            self.stop_requested = False
            return "stop", False
        if self.shadow:
            # the instruction after sti / mov ss runs before any interrupt
            self.shadow = False
            self.attn = True
            return None, True
        if self._irq and self.fl & IF and self.intc is not None:
            vector = self.intc.acknowledge()
            if vector is not None:
                try:
                    self.deliver_irq(vector)
                except TripleFault as tf:
                    self._triple_fault(str(tf), None)
                    return "triple-fault", False
            if self._irq:
                self.attn = True
        if self.halted:
            self.attn = True
            return "hlt", False
        if self.fl & TF:
            # single-step: one instruction, then #DB (a trap) after it
            self.attn = True
            self.tf_trap = True
            return None, True
        return None, False

    def _triple_fault(self, why, fault):
        self.halted = True
        lines = [f"triple fault: {why}",
                 f"EIP={self.eip:#010x} CS={self.seg[CS]:#06x} CR0={self.cr[0]:#x} CR2={self.cr[2]:#x} "
                 f"CR3={self.cr[3]:#x}",
                 "last exceptions: " + ", ".join(
                     f"{NAMES.get(v, v)}" + (f"({c:#x})" if c is not None else "") + f"@{e:#x}"
                     for v, c, e, _ in self.recent_exceptions),
                 "last blocks at EIP: " + " ".join(f"{e:#x}" for e in self.recent_eips)]
        self.triple_fault_report = "\n".join(lines)

    # ---- translation ------------------------------------------------------------------------------
    def _translate(self, lin, phys, key, cache):
        """The block at CS:EIP (linear `lin`, physical `phys`) for `cache`:
        from the shared code cache when memory still holds the same bytes,
        else decoded and compiled now."""
        kind = self._kinds[id(cache)]
        shared = self.code_cache
        # the block checks the exec hooks on its page inline: it depends on where they are
        hooks = tuple(sorted(h & 0xFFF for h in self.exec_hooks if h >> 12 == phys >> 12))
        # the store outlives the process: it keys by CS's base and limit, not the in-process number
        ckey = (kind, self.cost_key, key & 0xFFFFFFFF | self.stored_mode_key(), self.eip, hooks)
        group = (self.cost_key, phys >> 12)      # read from the store together (codecache.py)
        t = shared.find(ckey, self.mem, group) if shared is not None else None
        if t is None:
            t = self._compile_block(lin, phys, kind)
            # a block that reaches onto another page depends on that page's mapping too: not kept
            if shared is not None and all(start >> 12 == phys >> 12 for start, _ in t.runs):
                shared.add(ckey, t, group)
        return self._install(t, key, cache, phys)

    def _compile_block(self, lin, phys, kind):
        code32 = self.code32
        cs_base = self.sbase[CS]
        page_lin = lin >> 12
        fetched = []    # physical address of every byte decoded
        byte_at = {}     # ... and its value
        first_byte = {}  # eip -> physical address of the instruction's first byte

        def fetch(offset):
            a = (cs_base + offset) & 0xFFFFFFFF
            if a >> 12 == page_lin:
                p = (phys & ~0xFFF) | (a & 0xFFF)
            else:
                p = self.fetch_page(a) | (a & 0xFFF)
            fetched.append(p)
            byte_at[p] = self.mem._read_byte(p)
            return byte_at[p]

        decoder = Decoder(fetch)
        hooks = self.exec_hooks     # checked inline before the instructions they are at
        known = self.decoded
        if len(known) > DECODED_LIMIT:
            known.clear()
        region = self.mem.page_region.get(phys >> 12)
        # fetching a byte twice must be harmless: RAM and ROM, not a device's memory
        memo = region is None or region.kind == "rom"

        def recall(eip, a):
            """The instruction at `eip` (linear `a`, on the block's page) as
            decoded before, if memory still holds its bytes: a hot trace and
            the cold blocks before it decode the same code. Its bytes are
            compared in one piece and recorded as the decoder would have
            fetched them, first byte first."""
            insn = known.get((a, eip, code32))
            if insn is None or (a & 0xFFF) + insn.length > 0x1000:
                return None
            p, raw = (phys & ~0xFFF) | (a & 0xFFF), insn.raw
            if self.mem.peek_bytes(p, insn.length) != raw:
                return None
            span = range(p, p + insn.length)
            fetched.extend(span)
            byte_at.update(zip(span, raw))
            return insn

        def decoded(eip):
            a = (cs_base + eip) & 0xFFFFFFFF
            same_page = memo and a >> 12 == page_lin
            insn = recall(eip, a) if same_page else None
            if insn is None:
                insn = decoder.decode(eip, code32)
                if same_page:
                    known[(a, eip, code32)] = insn
            return insn

        cs_end = self.srange[CS][1] if self.limited >> CS & 1 else 0xFFFFFFFF

        def decode(eip, first):
            if not first and ((cs_base + eip) & 0xFFFFFFFF) >> 12 != page_lin:
                return None
            mark = len(fetched)
            try:
                if eip > cs_end:
                    raise Fault(GP, 0)           # fetching past CS's limit
                insn = decoded(eip)
                if eip + insn.length - 1 > cs_end:
                    raise Fault(GP, 0)
                first_byte[eip] = fetched[mark]
                return insn
            except Fault:
                if first:
                    raise
                del fetched[mark:]
                return None      # fetch fault: it belongs to the next block

        def hook_at(eip):
            first = first_byte.get(eip)
            return first if first in hooks else None

        stack32 = bool(self.mode_key >> 33 & 1)
        flat = bool(self.mode_key >> 34 & 1)
        e, starts, cycles_before, eips, loop = translate_block(
            decode, code32, stack32, flat, self.timing, self.eip,
            allow_loop=kind == "hot", max_insns=BLOCK_INSNS[kind], hook_at=hook_at if hooks else None,
            limited=self.mode_key >> 35 & 0x3F, inline_ram="W32" in self.globals)
        source = assemble(e, starts, loop)
        table = (tuple(idx + BODY_FIRST_LINE for idx, _ in starts), tuple(eips), tuple(cycles_before))
        code = self._cold_code_alike(kind, phys, source, table)
        if code is None:
            namespace = {}
            exec(compile(source, f"<block {lin:#010x}>", "exec"), self.globals, namespace)
            code = namespace["blk"].__code__
        addresses = sorted(set(fetched))
        return Translation(
            code=code, source=source, static_cycles=e.static_cycles,
            memory_cycles=e.reads * self.timing.mem_read + e.writes * self.timing.mem_write,
            eips=tuple(eips), loop=loop, pure=e.pure_loop, phys=tuple(first_byte[eip] for eip in eips),
            table=table, runs=tuple(_runs(addresses)), code_bytes=bytes(byte_at[a] for a in addresses),
            ended=e.ended, last_next_eip=e.last_next_eip, arrivals=tuple(e.arrivals))

    def _cold_code_alike(self, kind, phys, source, table):
        """The compiled code of the cold block at `phys` when the hot trace
        translated there came out the same (source and line table): a trace
        that cannot grow past its cold block (64 of a kernel boot's 222)
        need not be compiled again. None otherwise."""
        if kind != "hot":
            return None
        cold = self.cold_blocks.get(phys | self.mode_key)
        # a wrapped block function (vm.profiler's) has the wrapper's code: no table, no match
        if cold is None or cold.block.source != source or self.block_tables.get(cold.__code__) != table:
            return None
        return cold.__code__

    def _install(self, t, key, cache, phys):
        """Make a block function of translation `t` and record what it decoded."""
        code = t.code
        defaults = tuple(self.globals[name] for name in code.co_varnames[:code.co_argcount])
        blk = FunctionType(code, self.globals, "blk", defaults)
        # one object with all the block is besides its code (stepper.py); a wrapper
        # of the function (vm.profiler's) carries the same object
        blk.block = Block(key, cache, t.eips, t.phys, t.loop, t.pure,
                          len(t.eips) * (LOOP_ITERATIONS if t.loop else 1),
                          t.source, t.static_cycles, t.memory_cycles)
        self.block_tables[code] = t.table
        cache[key] = blk
        for start, length in t.runs:
            pg, lo = start >> 12, start & 0xFFF
            self.page_blocks.setdefault(pg, []).append((key, lo, lo + length, cache))
            if self.mem.mark_code(start, length, block_start=False):
                self.drop_write_entries_for(pg)
        if cache is not self.single_blocks:
            self._record_block_starts(phys, t)
        return blk

    def _record_block_starts(self, phys, t):
        """Block starts for the `tcg` write penalty: where execution enters by a
        control transfer, not where a block was merely cut (length limit, page
        end) and not in the one-instruction blocks of stepping and tracing."""
        if phys not in self.cut_points:
            self.mem.mark_block_start(phys)
        for first, arrived in zip(t.phys[1:], t.arrivals[1:]):
            if arrived:
                self.mem.mark_block_start(first)
        if not t.ended and t.eips:
            nxt = self.probe(self.sbase[CS] + t.last_next_eip)
            if nxt is not None:
                self.cut_points.add(nxt)

    # ---- host conveniences ----------------------------------------------------------------------
    def step(self):
        """Execute exactly one instruction (or deliver a pending interrupt)."""
        return self.run(max_insns=1)


for _idx, _name in enumerate(REG_NAMES):
    setattr(CPU, _name, _register_property(_idx))
