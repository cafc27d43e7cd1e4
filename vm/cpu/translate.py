"""Block translation: a run of decoded instructions -> one compiled Python function.

The semantics templates (semantics.py) emit statements through an
`Emitter`.  The emitter keeps the arithmetic flags of the last
flag-setting instruction in local variables (a "pending" record) so a
following jcc/setcc/cmov tests them directly and an overwritten record is
never built; the record is stored to `s.lf` at the end of the block and
before anything that can fault or read `s.lf`.

A guest fault inside a block is a Python exception raised by a helper.
The block's `except` clause maps the traceback's line number back to the
instruction, sets EIP to it and charges the cycles of the instructions
that completed, then re-raises for the CPU to deliver.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

from .decoder import EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP, Imm, Mem, Reg, SReg  # noqa: F401
from .flags import ADD, DEC, INC, LOGIC, SUB
from .inline_memory import NAMES as INLINE_NAMES, inline_ram_accesses
from .portio import CHECKED_IO
from .protection import lock_allowed
from .semantics import PURE, SEMANTICS

M = {8: 0xFF, 16: 0xFFFF, 32: 0xFFFFFFFF}
# flags.cf_source(s.lf) inline (INC = 4, DEC = 5): the record an inc/dec takes its carry from
CF_SOURCE = "(_l if (_l := s.lf)[0] < 4 else _l[4])"
MAX_BLOCK_INSNS = 48


def carry_record(p) -> str:
    """A record with the carry of pending record `p`, as the source an
    inc/dec keeps (only its CF is ever read): a FIXED record of CF alone
    where the carry is cheap to state, so `p`'s operand snapshots are not
    kept alive for it (and the copy pass can drop them)."""
    kind, bits, r, a, b = p[:5]
    if kind == ADD:
        return f"(0, 0, {r} >> {bits} & 1, 0, 0)"
    if kind == SUB:
        return f"(0, 0, 1 if {r} < 0 else 0, 0, 0)"
    if kind == LOGIC:
        return "(0, 0, 0, 0, 0)"
    return f"({kind}, {bits}, {r}, {a}, {b})"


class AddrOp:
    """A memory operand whose linear address is already in a local; `seg`
    is its segment register (a store through it checks the segment's type)."""

    def __init__(self, bits, name, seg=None):
        self.bits, self.name, self.seg = bits, name, seg


class Emitter:
    def __init__(self, code32: bool, stack32: bool, flat: bool, limited: int = 0):
        """`limited`: bit i set when segment i's limit is checked (segments.py)."""
        self.code32, self.stack32, self.flat, self.limited = code32, stack32, flat, limited
        self.lines: list[str] = []
        self.depth = 2
        self.n = 0
        self.pending = None        # (kind, bits, r, a, b, exact)
        self.ended = False
        self.reads = self.writes = 0
        self.static_cycles = 0     # cycles of the instructions before the current one
        self._addr_cache = {}
        self.loop_start = None     # block start EIP when the block loops on itself
        self.ninsns = 0
        self.pure_loop = False
        self.regs_in_locals = False  # a loop keeps the registers in locals (_finish_loop)
        self.fault_spill = ""        # ... and its fault handler writes them back first
        self.follow = None         # how the trace goes on after this instruction
        self.dead = frozenset()    # instructions whose flags nothing reads (second pass)
        self.producers = set()     # instructions that set flags (first pass)
        self.used = set()          # ... and those whose flags something reads
        self.pending_producer = None
        self.first_flag_use = None   # "read" when the block may read s.lf before setting flags
        self.deferred = []           # (insn index, flags store) for the fault handler (defer_flags)
        self.lap_end_store = None    # a loop's flags store at its back edge (_loop_back)
        self.lap_body = 0            # the first line of a pure loop's lap (_pure_loop_back)
        self.may_cut = False         # the current instruction may end the block through `_w` (an out)
        self.inline_io = False       # in/out do the untimed devices' case inline (hot traces; portio.py)
        self.io_cost = 0             # ... and charge the profile's `io` cost for it
        self.checks_io = False       # ... and test the I/O privilege case (local `_io`)

    # ---- plumbing -------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    @contextmanager
    def block(self, header: str):
        self.emit(header)
        self.depth += 1
        mark = len(self.lines)
        yield
        if len(self.lines) == mark:
            self.emit("pass")
        self.depth -= 1

    def tmp(self, stem: str) -> str:
        self._tmp = getattr(self, "_tmp", 0) + 1
        return f"_{stem}{self.n}_{self._tmp}"

    def begin_insn(self, n: int) -> None:
        self.n = n
        self._addr_cache = {}
        self.may_cut = False

    def cycles_so_far(self) -> int:
        return self.static_cycles

    # ---- addresses ----------------------------------------------------------------
    def ea(self, mem: Mem) -> str:
        parts = []
        if mem.base is not None:
            parts.append(f"R[{mem.base}]")
        if mem.index is not None:
            parts.append(f"R[{mem.index}]" + (f" * {mem.scale}" if mem.scale != 1 else ""))
        if mem.disp or not parts:
            parts.append(str(mem.disp))
        expr = " + ".join(parts)
        if len(parts) == 1 and mem.base is None and mem.index is None:
            return expr
        return f"(({expr}) & {M[mem.asz]})"

    def linear(self, seg: int, ea: str, size: int = 0) -> str:
        """The linear address of seg:ea; for an access of `size` bytes through a
        segment with a limit, checked by LIN (#GP/#SS)."""
        if size and self.limited >> seg & 1:
            return f"LIN({seg}, {ea}, {size})"
        if self.flat and seg in (0, 2, 3):
            return ea
        return f"((SB[{seg}] + ({ea})) & 0xFFFFFFFF)"

    def linear_of(self, mem: Mem, size: int = 0) -> str:
        return self.linear(mem.seg, self.ea(mem), size)

    def addr(self, mem) -> str:
        if isinstance(mem, AddrOp):
            return mem.name
        size = max(1, mem.bits // 8) if self.limited >> mem.seg & 1 else 0
        key = (mem.seg, mem.base, mem.index, mem.scale, mem.disp, mem.asz, size)
        name = self._addr_cache.get(key)
        if name is None:
            name = self._addr_cache[key] = self.tmp("a")
            self.emit(f"{name} = {self.linear_of(mem, size)}")
        return name

    def displaced(self, mem: Mem, delta: str) -> AddrOp:
        name = self.tmp("a")
        if self.limited >> mem.seg & 1:
            offset = f"({self.ea(mem)} + {delta}) & {M[mem.asz]}"
            self.emit(f"{name} = {self.linear(mem.seg, offset, max(1, mem.bits // 8))}")
        else:
            self.emit(f"{name} = ({self.addr(mem)} + {delta}) & 0xFFFFFFFF")
        return AddrOp(mem.bits, name, mem.seg)

    # ---- operands -----------------------------------------------------------------
    def v(self, op) -> str:
        """An expression for the operand's value (memory is loaded into a local)."""
        if isinstance(op, Imm):
            return str(op.value)
        if isinstance(op, Reg):
            if op.bits == 32:
                return f"R[{op.idx}]"
            if op.bits == 16:
                return f"(R[{op.idx}] & 0xFFFF)"
            if op.idx < 4:
                return f"(R[{op.idx}] & 0xFF)"
            return f"(R[{op.idx - 4}] >> 8 & 0xFF)"
        if isinstance(op, SReg):
            return f"s.seg[{op.idx}]"
        return self.ld(op)

    def ld(self, op) -> str:
        """Snapshot the operand's value into a local and return its name."""
        if isinstance(op, Imm):
            return str(op.value)
        name = self.tmp("v")
        if isinstance(op, (Mem, AddrOp)):
            self.reads += 1
            self.emit(f"{name} = rd{op.bits}({self.addr(op)})")
        else:
            self.emit(f"{name} = {self.v(op)}")
        return name

    def st(self, op, expr: str) -> None:
        if isinstance(op, Reg):
            i = op.idx
            if op.bits == 32:
                self.emit(f"R[{i}] = {expr}")
            elif op.bits == 16:
                self.emit(f"R[{i}] = R[{i}] & 0xFFFF0000 | {expr}")
            elif i < 4:
                self.emit(f"R[{i}] = R[{i}] & 0xFFFFFF00 | {expr}")
            else:
                self.emit(f"R[{i - 4}] = R[{i - 4}] & 0xFFFF00FF | ({expr}) << 8")
        elif isinstance(op, (Mem, AddrOp)):
            if op.seg is not None and self.limited >> op.seg & 1:
                self.emit(f"s.checked_write({op.seg})")     # the segment's type may forbid writes
            self.writes += 1
            self.emit(f"if wr{op.bits}({self.addr(op)}, {expr}): _w = 1")
        else:
            raise AssertionError(f"cannot store to {op}")

    # ---- stack ------------------------------------------------------------------
    def _sp_linear(self, sp: str, size: int) -> str:
        if self.limited >> 2 & 1:
            return f"LIN(2, {sp}, {size})"
        return sp if self.flat else f"((SB[2] + {sp}) & 0xFFFFFFFF)"

    def push(self, expr: str, bits: int) -> None:
        sp = self.tmp("sp")
        size = bits // 8
        smask = 0xFFFFFFFF if self.stack32 else 0xFFFF
        self.emit(f"{sp} = (R[{ESP}] - {size}) & {smask}")
        self.writes += 1
        self.emit(f"if wr{bits}({self._sp_linear(sp, size)}, {expr}): _w = 1")
        self._set_sp(sp)

    def peek(self, bits: int, offset: int = 0) -> str:
        name = self.tmp("v")
        sp = f"R[{ESP}]" if self.stack32 else f"(R[{ESP}] & 0xFFFF)"
        if offset:
            sp = f"(({sp} + {offset}) & {0xFFFFFFFF if self.stack32 else 0xFFFF})"
        self.reads += 1
        self.emit(f"{name} = rd{bits}({self._sp_linear(sp, bits // 8)})")
        return name

    def ld_stack(self, offset: str, bits: int) -> str:
        """Load from SS:offset (an expression) into a local."""
        name = self.tmp("v")
        self.reads += 1
        self.emit(f"{name} = rd{bits}({self._sp_linear(offset, bits // 8)})")
        return name

    def pop(self, bits: int) -> str:
        v = self.peek(bits)
        self.adjust_sp(bits // 8)
        return v

    def adjust_sp(self, delta: int) -> None:
        if self.stack32:
            self.emit(f"R[{ESP}] = (R[{ESP}] + {delta}) & 0xFFFFFFFF")
        else:
            self.emit(f"R[{ESP}] = R[{ESP}] & 0xFFFF0000 | (R[{ESP}] + {delta}) & 0xFFFF")

    def _set_sp(self, sp: str) -> None:
        self.emit(f"R[{ESP}] = {sp}" if self.stack32 else f"R[{ESP}] = R[{ESP}] & 0xFFFF0000 | {sp}")

    # ---- flags ------------------------------------------------------------------
    def set_flags(self, kind, bits, r, a, b, exact=False) -> None:
        """Record a lazy flags result; `exact` marks a plain a - b (no borrow in),
        for which signed comparisons can be tested directly on a and b."""
        first = self.first_flag_use is None
        if first:
            self.first_flag_use = "read" if kind in (INC, DEC) else "set"
        if kind in (INC, DEC):
            # an inc/dec keeps the carry of the record before it: remember that
            # record (as an expression) instead of storing it now
            p = self.pending
            if p is None and first and self.loop_start is not None:
                # a loop's first flag use: its carry source is kept in a local
                # across laps (_loop_back), so a lap need not store s.lf
                b = "_cfs"
                self.first_flag_use = "cfs"
            elif p is None:
                b = CF_SOURCE
            elif p[0] in (INC, DEC):
                b = p[4]
            else:
                b = carry_record(p)
                self._use_flags()
        if kind in (INC, DEC):
            # never dropped: a following inc/dec takes its carry source from it
            self.pending = (kind, bits, r, a, b, exact)
            self.pending_producer = self.n
            return
        self.producers.add(self.n)
        if self.flags_dead():
            self.pending = None      # overwritten before anything looks: never built
            return
        self.pending = (kind, bits, r, a, b, exact)
        self.pending_producer = self.n

    def flags_dead(self) -> bool:
        """Whether the flags the current instruction sets are overwritten
        before anything reads them (known from a first emission pass); its
        operands then need no snapshot and no record is kept."""
        return self.n in self.dead

    def _use_flags(self):
        if self.pending is not None:
            self.used.add(self.pending_producer)

    def flag_store(self) -> str | None:
        """The statement that stores the pending record (state unchanged)."""
        if self.pending is None:
            return None
        self._use_flags()
        kind, bits, r, a, b, _ = self.pending
        return f"s.lf = ({kind}, {bits}, {r}, {a}, {b})"

    def flush_flags(self, reads=False) -> None:
        """Store the pending record; `reads`: what follows may read s.lf."""
        if (reads or self.pending is None) and self.first_flag_use is None:
            self.first_flag_use = "read"
        store = self.flag_store()
        if store is not None:
            self.emit(store)
            self.pending = None

    def defer_flags(self) -> None:
        """Before an instruction whose only way to look at s.lf is a fault in
        its memory access: the pending record stays in locals, and the
        block's fault handler stores it if this instruction faults
        (`deferred`, assemble)."""
        if self.pending is None and self.carried():
            # the record is the previous lap's, still in its locals: stored
            # by the handler on a later lap (on the first, s.lf holds it)
            self.deferred.append((self.n, LAP_END))
            return
        if self.pending is None:
            self.flush_flags(reads=True)
            return
        self.deferred.append((self.n, self.flag_store()))

    def carried(self) -> bool:
        """In a loop before anything of this lap set or read the flags: the
        flags record is the one the previous lap ended with (LAP_END)."""
        return self.loop_start is not None and self.first_flag_use is None and self.pending is None

    def carry(self) -> str:
        p = self.pending
        self._use_flags()
        if p is not None:
            kind, bits, r = p[0], p[1], p[2]
            if kind == ADD:
                return f"({r} >> {bits} & 1)"
            if kind == SUB:
                return f"(1 if {r} < 0 else 0)"
            if kind == LOGIC:
                return "0"
            if p[4] != CF_SOURCE:
                return f"CARRY({p[4]})"
        if self.first_flag_use is None:
            self.first_flag_use = "read"
        return "CARRY(s.lf)"

    def cond(self, cc: int) -> str:
        self._use_flags()
        expr = self._fused_cond(cc >> 1)
        if expr is None:
            self.flush_flags(reads=True)
            return f"COND(s.lf, {cc})"
        return f"not ({expr})" if cc & 1 else f"({expr})"

    def _fused_cond(self, base: int):
        p = self.pending
        if p is None:
            return None
        kind, bits, r, a, b, exact = p
        m, sb = M[bits], 1 << (bits - 1)
        # a plain a - b and a dec lie within (-2**bits, 2**bits): zero exactly when masked zero
        z = f"{r} == 0" if kind == DEC or kind == SUB and exact else f"({r} & {m}) == 0"
        s = f"({r} & {sb})"
        if kind == LOGIC:
            return ["False", "False", f"{r} == 0", f"{r} == 0", s, None, s,
                    f"{r} == 0 or {r} & {sb}"][base]
        if kind == SUB:
            o = f"(({a} ^ {b}) & ({a} ^ {r}) & {sb})"
            lt = f"(({a} ^ {sb}) < ({b} ^ {sb}))" if exact else f"((({s}) != 0) != ({o} != 0))"
            le = f"(({a} ^ {sb}) <= ({b} ^ {sb}))" if exact else f"({z} or {lt})"
            return [o, f"{r} < 0", z, f"{r} < 0 or {z}", s, None, lt, le][base]
        if kind == ADD:
            o = f"(~({a} ^ {b}) & ({a} ^ {r}) & {sb})"
            lt = f"((({s}) != 0) != ({o} != 0))"
            return [o, f"{r} > {m}", z, f"{r} > {m} or {z}", s, None, lt, f"{z} or {lt}"][base]
        o = f"({a} == {sb - 1 if kind == INC else sb})"
        lt = f"((({s}) != 0) != {o})"
        return [o, None, z, None, s, None, lt, f"{z} or {lt}"][base]

    # ---- control flow -------------------------------------------------------------
    def retired(self, k: int) -> str:
        """The block's return value after `k` instructions of this lap."""
        return f"_it * {self.ninsns} + {k}" if self.loop_start is not None else str(k)

    def side_exit(self, cond: str, eip) -> None:
        """Leave the block when `cond` holds, at `eip`, this instruction done."""
        with self.block(f"if {cond}:"):
            store = self.flag_store()
            if store:
                self.emit(store)
            laps = " + __CYC__ * _it" if self.loop_start is not None and self.pure_loop else ""
            self.emit(f"s.eip = {eip}; s.cycles += __CYC{self.n}__{laps}; return {self.retired(self.n + 1)}")

    def hook_check(self, phys: int, eip: int) -> None:
        """Call the exec hooks at this instruction first; leave before it
        when they say so (CPU._run_hooks)."""
        self.flush_flags(reads=True)
        if self.n:
            self.emit(f"s.eip = {eip}")
        laps = "_it" if self.loop_start is not None else "0"
        with self.block(f"if HOOK({phys}, {self.n}, {laps}):"):
            self.emit(f"s.cycles += {self.static_cycles}; return {self.retired(self.n)}")

    def exit_before(self, cond: str, eip) -> None:
        """Leave the block when `cond` holds, at `eip`, with the current
        instruction not retired (a rep stopped between items)."""
        with self.block(f"if {cond}:"):
            store = self.flag_store()
            if store:
                self.emit(store)
            self.emit(f"s.eip = {eip}; s.cycles += {self.static_cycles}; return {self.retired(self.n)}")

    def branch(self, cond: str, taken: int, fallthrough: int) -> None:
        if self.follow == ("fall",):
            self.side_exit(cond, taken)      # the trace goes on with the fall-through path
            return
        if self.loop_start is not None and taken == self.loop_start:
            self._loop_back(cond, fallthrough)
        elif self.loop_start is not None and fallthrough == self.loop_start:
            self._loop_back(f"not ({cond})", taken)
        else:
            self.emit(f"s.eip = {taken} if {cond} else {fallthrough}")
        self.ended = True

    def _loop_back(self, cond, exit_eip):
        """The end of a self-looping block: go round again while allowed.

        A call runs laps in chunks of LOOP_ITERATIONS and goes on past a
        chunk's end exactly when the run loop would call the block again
        there: the cycle limit `s.limit` not reached and the instruction
        room `s.room` (CPU.run) not used up; so interrupts, events and
        limits are seen at the same laps as with one call per chunk."""
        p = self.pending
        store = self.lap_end_store = self.flag_store()
        if self.pure_loop:
            self._pure_loop_back(cond, exit_eip, p, store)
            return
        self.emit("_it += 1")
        with self.block(f"if {cond}:"):
            self._next_lap_flags(p, store)
            self.emit("s.cycles += __CYC__")
            self.emit(f"if s.cycles < s.limit and (_it & {LOOP_ITERATIONS - 1} or _it * {self.ninsns} < s.room): "
                      "continue")
            if store and self.first_flag_use != "read":
                self.emit(store)
            self.emit(f"s.eip = {self.loop_start}; return _it * {self.ninsns}")
        self.emit(f"s.eip = {exit_eip}")
        self.emit("_it -= 1")     # the epilogue counts this lap itself

    def _pure_loop_back(self, cond, exit_eip, p, store):
        """`_loop_back` of a pure loop, whose laps run in `for _it in
        range(_it, _it + LOOP_ITERATIONS)` (_emit): cheaper per lap on
        CPython than counting and testing `_it` by hand.  Nothing in the
        body can look at the clock, so the laps are charged on exit; `_it`
        is the laps done before the current one, as in every loop body."""
        if cond != "True":
            self.emit(f"if {_negated(cond)}: break")
        self._next_lap_flags(p, store)
        if all(line.lstrip().startswith("#") for line in self.lines[self.lap_body:]):
            self.emit("pass")            # `jmp .`: a lap does nothing
        self.depth -= 1
        with self.block("else:"):        # a whole chunk of laps done
            self.emit("_it += 1")
            self.emit(f"if _it * {self.ninsns} < s.room and s.cycles + __CYC__ * _it < s.limit: continue")
            self.emit("s.cycles += __CYC__ * _it")
            if store and self.first_flag_use != "read":
                self.emit(store)
            self.emit(f"s.eip = {self.loop_start}; return _it * {self.ninsns}")
        self.emit(f"s.eip = {exit_eip}")
        self.emit("s.cycles += __CYC__ * _it")

    def _next_lap_flags(self, p, store):
        """What the next lap needs of this lap's flags before it goes round."""
        if store and self.first_flag_use == "read":
            self.emit(store)       # the next lap reads s.lf before setting flags
        elif self.first_flag_use == "cfs":
            self._carry_source_for_next_lap(p)

    def _carry_source_for_next_lap(self, p) -> None:
        """`_cfs` for the next lap's first inc/dec: what CFSRC(s.lf) would give
        had this lap stored its flags record (nothing in a lap reads s.lf
        before that inc/dec, so the store itself can wait for the exit)."""
        if p is None:
            self.emit("_cfs = CFSRC(s.lf)")      # the lap stored its last record itself
        elif p[0] in (INC, DEC):
            if p[4] != "_cfs":
                self.emit(f"_cfs = {p[4]}")
        else:
            self.emit(f"_cfs = {carry_record(p)}")

    def end_block(self, target) -> None:
        if self.follow is not None and target is not None:
            if self.follow[0] == "ret":
                self.side_exit(f"{target} != {self.follow[1]}", target)
            return                           # the trace continues at the target
        if target is not None and self.loop_start is not None and target == self.loop_start \
                and not isinstance(target, str):
            self._loop_back("True", target)
            self.ended = True
            return
        if target is not None:
            self.emit(f"s.eip = {target}")
        self.ended = True


def _negated(cond: str) -> str:
    """`not (cond)`, without a double negation when `cond` is one already."""
    if cond.startswith("not (") and cond.endswith(")"):
        inner, depth = cond[5:-1], 0
        for ch in inner:
            depth += (ch == "(") - (ch == ")")
            if depth < 0:
                break
        else:
            return f"({inner})"
    return f"not ({cond})"


def has_memory_operand(insn) -> bool:
    """Whether the instruction accesses memory through a ModRM operand (lea
    only computes the address)."""
    return insn.mnem != "lea" and any(isinstance(op, Mem) for op in insn.ops)


BOUND_NAMES = ("s", "R", "SB", "rd8", "rd16", "rd32", "wr8", "wr16", "wr32", "MAT", "COND", "CARRY",
               "CFSRC", "ALU", "HOOK", "LIN", "PIN", "POUT", "UNTIMED", "CREGS", "MEM") + INLINE_NAMES
BODY_FIRST_LINE = 5      # line number of a block's first body line (after def, _w, _it, try)
LOOP_ITERATIONS = 64     # a self-looping block runs at most this many laps per call
LAP_END = "__LAP_END__"  # stands for the flags store at a loop's back edge until it is known


def translate_block(decode, code32, stack32, flat, profile, start_eip, allow_loop=True,
                    max_insns=MAX_BLOCK_INSNS, hook_at=None, limited=0, inline_ram=False):
    """Emit the body of one block starting at `start_eip`.

    `decode(eip, first)` returns the instruction there, or None where the
    block may not go (another page, an exec hook).  The block is a trace:
    it follows direct jumps and calls, continues on the fall-through path
    of conditional branches (leaving through a side exit when taken) and
    past a `ret` whose return address it pushed itself (guarded).  A block
    whose last instruction jumps back to its own start becomes a `while`
    loop (up to LOOP_ITERATIONS laps per call, leaving early when the cycle
    limit `s.limit` is reached).

    A cold or single-instruction block (`allow_loop` false) is straight: no
    trace and no loop; it is decoded while it is emitted, in one pass.

    `hook_at(eip)`: the physical address of an exec hook at that
    instruction, or None; the block calls the hooks before it (HOOK).
    `limited`: the segments whose limits accesses check (LIN).
    `inline_ram`: a loop does its RAM accesses inline (inline_memory.py).

    Returns (emitter, starts, cycles_before, eips, looping) for `assemble`."""
    if not allow_loop:
        insns = []
        e, starts, cycles_before, count = _emit(_straight(decode, code32, start_eip, max_insns, insns), None,
                                                code32, stack32, flat, profile, start_eip, False,
                                                hook_at=hook_at, limited=limited)
        e.arrivals = [False] * count
        return e, starts, cycles_before, [i.eip for i in insns[:count]], False
    insns, follow = _collect(decode, code32, stack32, flat, start_eip, max_insns)
    loop = allow_loop and len(insns) > 0 and _jumps_back(insns[-1], start_eip, code32)
    emitted = _emit(insns, follow, code32, stack32, flat, profile, start_eip, loop, hook_at=hook_at,
                    limited=limited, inline_ram=inline_ram)
    dead = frozenset(emitted[0].producers - emitted[0].used)
    if dead:      # else the second pass would emit the same again (two traces in three)
        emitted = _emit(insns, follow, code32, stack32, flat, profile, start_eip, loop, dead, hook_at, limited,
                        inline_ram)
    e, starts, cycles_before, count = emitted
    if count < len(insns):
        del insns[count:]
    # which instructions execution reaches by a control transfer inside the trace
    e.arrivals = [False] + [f is not None and f[0] in ("jump", "ret") for f in follow[:count - 1]]
    return e, starts, cycles_before, [i.eip for i in insns], loop


def _decoded(decode, start_eip, max_insns, out, next_eip):
    """Decode instructions from `start_eip` (appending them to `out`) while
    the block may go on: `decode` gives None where it may not, and
    `next_eip(insn)` the EIP of the instruction after `insn` (None: the
    block ends with it)."""
    eip, first = start_eip, True
    while eip is not None and len(out) < max_insns:
        insn = decode(eip, first)
        first = False
        if insn is None:
            return
        out.append(insn)
        yield insn
        eip = next_eip(insn)


def _straight(decode, code32, start_eip, max_insns, out):
    """One instruction after the other; the emitter stops at one that ends the block."""
    mask = 0xFFFFFFFF if code32 else 0xFFFF
    return _decoded(decode, start_eip, max_insns, out, lambda insn: insn.next_eip & mask)


def _collect(decode, code32, stack32, flat, start_eip, max_insns):
    """The instructions of the trace and, for each, how execution goes on."""
    insns, follow, visited, returns = [], [], set(), []

    def next_eip(insn):
        visited.add(insn.eip)
        mask = 0xFFFFFFFF if insn.osz == 32 else 0xFFFF
        mode, nxt = None, None
        m = insn.mnem
        if m in ("jmp", "call"):
            target = (insn.next_eip + insn.ops[0].value) & mask
            if target not in visited and target != start_eip:
                mode, nxt = ("jump",), target
                if m == "call":
                    returns.append(insn.next_eip & mask)
        elif m in ("jcc", "loop", "loope", "loopne", "jcxz"):
            taken = (insn.next_eip + insn.ops[0].value) & mask
            fall = insn.next_eip & mask
            if taken != start_eip and fall not in visited:
                mode, nxt = ("fall",), fall
        elif m == "ret" and returns:
            predicted = returns.pop()
            if predicted not in visited:
                mode, nxt = ("ret", predicted), predicted
        follow.append(mode)
        if mode is None:
            return None if _ends_block(insn, code32, stack32, flat) else insn.next_eip & (
                0xFFFFFFFF if code32 else 0xFFFF)
        return nxt

    for _ in _decoded(decode, start_eip, max_insns, insns, next_eip):
        pass
    return insns, follow


_ENDS: dict = {}         # (bytes, mode) -> _ends_block's answer: a boot asks 3,100 times of 715 encodings
ENDS_LIMIT = 50_000


def _ends_block(insn, code32, stack32, flat):
    """Whether the instruction's semantics end the block (emitted to a scratch
    emitter). The answer depends only on the instruction's bytes and mode
    (not on its address), so it is remembered by those."""
    key = (insn.raw, code32, stack32, flat) if insn.raw else None     # decoded, not made by hand
    ends = _ENDS.get(key)
    if ends is None:
        fn = SEMANTICS.get(insn.mnem)
        if fn is None or insn.lock and not lock_allowed(insn, Mem):
            ends = True
        else:
            scratch = Emitter(code32, stack32, flat)
            fn(scratch, insn)
            ends = scratch.ended
        if key is not None:
            if len(_ENDS) >= ENDS_LIMIT:
                _ENDS.clear()
            _ENDS[key] = ends
    return ends


def _jumps_back(insn, start_eip, code32):
    if insn.mnem not in ("jmp", "jcc", "loop", "loope", "loopne", "jcxz"):
        return False
    mask = 0xFFFFFFFF if insn.osz == 32 else 0xFFFF
    return (insn.next_eip + insn.ops[0].value) & mask == start_eip


def _emit(insns, follow, code32, stack32, flat, profile, start_eip, loop, dead=frozenset(), hook_at=None,
          limited=0, inline_ram=False):
    """Emit `insns` (a list, or for a straight block an iterator, with
    `follow` None); returns (emitter, starts, cycles_before, count emitted)."""
    e = Emitter(code32, stack32, flat, limited)
    e.dead = dead
    # a hot trace's port I/O saves two calls inline; a cold block stays short to compile
    e.inline_io, e.io_cost = follow is not None, profile.io
    e.loop_start = start_eip if loop else None
    if loop:
        e.ninsns = len(insns)
        register_only = [i.mnem in PURE and not has_memory_operand(i) for i in insns]
        e.pure_loop = all(register_only)
        # a trace's inline in/out calls devices, which never look at the registers
        e.regs_in_locals = all(r or e.inline_io and i.mnem in PORT_IO for r, i in zip(register_only, insns))
        e.emit("_cfs = CFSRC(s.lf)")      # removed again unless the loop uses it (_finish_loop)
        e.emit("while True:")
        e.depth += 1
        if e.pure_loop:
            e.emit(f"for _it in range(_it, _it + {LOOP_ITERATIONS}):")     # _pure_loop_back
            e.depth += 1
            e.lap_body = len(e.lines)
    starts = []             # (first line index, insn index)
    cycles_before = []      # static cycles charged before each instruction
    mem_read, mem_write = profile.mem_read, profile.mem_write
    mask = 0xFFFFFFFF if code32 else 0xFFFF
    count = 0
    last = None
    cycles_after = {}
    for n, insn in enumerate(insns):
        last = insn
        count = n + 1
        e.begin_insn(n)
        e.follow = follow[n] if follow is not None and n < len(insns) - 1 else None
        if insn.mnem in PURE and has_memory_operand(insn) or e.inline_io and insn.mnem in PORT_IO:
            # neither reads s.lf unless it faults (a device never looks at
            # the flags; an `out` that ends the block stores them on its exit)
            e.defer_flags()
        elif insn.mnem not in PURE:
            e.flush_flags(reads=True)
        starts.append((len(e.lines), n))
        e.emit(f"# {insn.eip:08x}  {insn.text()}")     # to read a block beside the guest's disassembly
        cycles_before.append(e.static_cycles)
        hooked = hook_at(insn.eip) if hook_at is not None else None
        if hooked is not None:
            e.hook_check(hooked, insn.eip)
        reads0, writes0 = e.reads, e.writes
        fn = SEMANTICS.get(insn.mnem)
        if insn.lock and not lock_allowed(insn, Mem):
            fn = None                    # LOCK on anything but a locked memory update: #UD
        if fn is None:
            e.emit("raise Fault(6)")
            e.ended = True
        else:
            fn(e, insn)
        e.static_cycles += (profile.insn_cost(insn.klass) + (e.reads - reads0) * mem_read
                            + (e.writes - writes0) * mem_write)
        cycles_after[str(n)] = str(e.static_cycles)
        if e.ended:
            break
        if e.writes > writes0 or e.may_cut:
            # a store that hit decoded code (or an out a device answered, portio.py)
            # ends the block after this instruction
            with e.block("if _w:"):
                if e.pending is not None:
                    e.emit(e.flag_store())
                elif e.carried():
                    e.emit(f"if _it: {LAP_END}")     # the previous lap's record
                # where the trace goes on: a followed call continues at its target
                nxt = insns[n + 1].eip if follow is not None and n + 1 < len(insns) else insn.next_eip & mask
                e.emit(f"s.eip = {nxt}; s.cycles += {e.static_cycles}; return {e.retired(n + 1)}")
    e.last_next_eip = last.next_eip & mask if last is not None else None
    if not e.ended:
        e.emit(f"s.eip = {e.last_next_eip}")
    e.flush_flags()
    e.emit(f"s.cycles += {e.static_cycles}")
    e.emit(f"return {'_it * %d + %d' % (count, count) if loop else count}")
    e.lines = [_CYC_N.sub(lambda m: cycles_after[m.group(1)], line.replace("__CYC__", str(e.static_cycles)))
               if "__CYC" in line else line for line in e.lines]
    if loop:
        # only loops: the passes cost more translation time than a block
        # that runs a few times saves (cold boots translate every block)
        _finish_loop(e, starts)
        _resolve_lap_end(e)
        _propagate_copies(e, starts)
        if inline_ram:
            e.lines = inline_ram_accesses(e.lines, starts)
    return e, starts, cycles_before, count


_DEF = re.compile(r"^( *)(_[avr]\d+(?:_\d+)?) = ([^;]+)$")
_CALL = re.compile(r"[\w\])]\(")
_SIMPLE = re.compile(r"^( *)([\w]+)(?:\[\d\])? = [^;]+$")
# helpers that change no register and no attribute the next line reads
_MOVABLE_CALLS = {"rd8", "rd16", "rd32", "PIN"}


def _propagate_copies(e, starts):
    """Substitute a temporary that is used once, later in the same
    instruction, into that use and drop its assignment: fewer loads and
    stores per instruction on CPython.  Only where moving the expression
    cannot change what it computes: nothing in between assigns what it
    reads and nothing in between calls out; an expression with a call
    (only a memory or port read) moves only into the very next line, and
    only one without a call or attribute of its own."""
    text = "\n".join(e.lines + [st for _, st in e.deferred])
    uses = {}
    for name in re.findall(r"\b_[avr]\d+(?:_\d+)?\b", text):
        uses[name] = uses.get(name, 0) + 1
    lines = e.lines
    i = len(lines) - 1
    while i >= 0:
        m = _DEF.match(lines[i])
        if m is None or uses.get(m.group(2)) != 2:
            i -= 1
            continue
        indent, name, expr = m.groups()
        calls = _CALL.findall(expr)
        if calls and not {c[:-1] for c in re.findall(r"\w+\(", expr)} <= _MOVABLE_CALLS:
            i -= 1
            continue
        words = set(re.findall(r"\w+", expr))
        pat = re.compile(rf"\b{name}\b")
        for j in range(i + 1, len(lines)):
            line = lines[j]
            if not line.startswith(indent) or line[len(indent)] == " " or line.lstrip().startswith("#"):
                break
            if pat.search(line):
                if calls and (j != i + 1 or _CALL.search(line) or "s." in line) \
                        or len(_CALL.findall(line)) > 1:     # another call could run first
                    break
                lines[j] = pat.sub(lambda _: f"({expr})", line, count=1)
                del lines[i]
                for k, (idx, n) in enumerate(starts):
                    if idx > i:
                        starts[k] = (idx - 1, n)
                break
            d = _SIMPLE.match(line)
            if calls or d is None or _CALL.search(line) or d.group(2) in words:
                break
        i -= 1


def _resolve_lap_end(e):
    """Put the loop's back-edge flags store where LAP_END stands (`pass`
    when the laps store no record: s.lf is then still the entry's)."""
    store = e.lap_end_store or "pass"
    e.lines = [line.replace(LAP_END, store) for line in e.lines]
    e.deferred = [(n, f"if _it: {store}" if st == LAP_END else st) for n, st in e.deferred]


_REG = re.compile(r"\bR\[(\d)\]")
PORT_IO = ("in", "out")      # done inline in hot traces (semantics.sem_in/sem_out)


def _finish_loop(e, starts):
    """Drop the unused carry-source local; in a loop without hooks whose
    instructions touch no memory, keep the registers in locals: nothing in
    it looks at R but a return and (through an in/out's checked path) the
    fault handler, and both write them back first."""
    if e.first_flag_use != "cfs":
        del e.lines[0]
        for k, (idx, n) in enumerate(starts):
            starts[k] = (idx - 1, n)
    if not e.regs_in_locals or any("HOOK(" in line for line in e.lines):
        return
    used = sorted({int(m) for line in e.lines for m in _REG.findall(line)})
    stored = sorted({int(m) for line in e.lines for m in re.findall(r"^\s*R\[(\d)\] = ", line)})
    if not used:
        return
    back = "".join(f"R[{i}] = _R{i}; " for i in stored)
    lines = []
    for line in e.lines:
        line = _REG.sub(r"_R\1", line)
        if "return " in line:
            body = line.lstrip()
            line = line[:len(line) - len(body)] + back + body
        lines.append(line)
    head = "    " * 2 + "; ".join(f"_R{i} = R[{i}]" for i in used)
    e.lines = [head] + lines
    e.fault_spill = back
    for k, (idx, n) in enumerate(starts):
        starts[k] = (idx + 1, n)


_CYC_N = re.compile(r"__CYC(\d+)__")


def _deferred_stores(e):
    """The handler's stores of the flags records left in locals (`_i`: the
    index of the instruction that raised)."""
    lines = []
    for k, (n, store) in enumerate(e.deferred):
        test = "if" if k == 0 else "elif"
        if store.startswith("if _it: "):       # the previous lap's record, from its second lap on
            lines.append(f"        {test} _i == {n} and _it: {store[8:]}")
        else:
            lines.append(f"        {test} _i == {n}: {store}")
    return lines


def assemble(e, starts, loop, name="blk"):
    """Wrap the emitted body in a function with the fault-mapping handler."""
    # the names the body uses become default arguments: fast locals instead of globals
    # a block with inline port I/O tests the privilege case once (portio.CHECKED_IO)
    start = f"    _it = 0; _io = {CHECKED_IO}" if e.checks_io else "    _it = 0"
    text = "\n".join([start] + [line for line in e.lines if not line.lstrip().startswith("#")])
    bound = ", ".join(f"{g}={g}" for g in BOUND_NAMES if g in text)
    head = [f"def {name}({bound}):", "    _w = 0", start, "    try:"]
    body = e.lines
    first_line = BODY_FIRST_LINE        # 1-based line number of body[0]
    assert first_line == len(head) + 1
    done = f"_it * {len(starts)}" if loop else "0"
    # the handler finds the block's line table (CPU.block_tables) by its code object
    spill = ["        " + e.fault_spill.rstrip("; ")] if e.fault_spill else []
    tail = ["    except Fault as _e:"] + spill
    if e.deferred:
        # the flags record an instruction left in locals, stored when the next one faults
        tail += [f"        _i = FAULT_AT(_e, {done})"] + _deferred_stores(e)
    else:
        tail.append(f"        FAULT_AT(_e, {done})")
    tail.append("        raise")
    if spill or e.checks_io and e.deferred:
        # anything else out of a device (its own error, Ctrl-C) finds R and
        # the flags as they would be without the locals
        tail += ["    except BaseException as _e:"] + spill
        if e.deferred:
            tail += ["        _i = INSN_AT(_e)"] + _deferred_stores(e)
        tail.append("        raise")
    return "\n".join(head + body + tail) + "\n"
