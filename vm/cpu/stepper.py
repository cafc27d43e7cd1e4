"""Exact stepping: the paths that observe a run without changing it.

Tracing, debugger single steps and pauses, write-watch stops, exec-hook
holds and the last instructions before an instruction limit do not run
blocks through the hot loop (core.py, `CPU.run`). They take the block the
hot loop would take at this point, with the same lookup (so the same heat,
translations, recorded code bytes and block starts), and either run it
whole or walk through it one instruction at a time as one-instruction
blocks, following where the regular block would go: the same instructions,
static costs and block boundaries, and interrupts and events held until
that block's end. `Stepping` is the regular block being walked through.

The seam for later features (call gates, task switches, watchpoints):
anything that must see every instruction goes through `exact_step`; the
hot loop only needs to leave (`attention()`) for it to happen.
"""
from __future__ import annotations

from dataclasses import dataclass

from .faults import Fault
from .segments import CS
from .system import REP_MARGIN
from .translate import LOOP_ITERATIONS


@dataclass
class Block:
    """What a translated block is beyond its function (`fn.block`): where it
    is cached and what the exact paths need to follow it instruction by
    instruction, and what the profiler reads."""
    key: int              # physical address | mode bits
    cache: dict           # the cache (single, cold or hot blocks) it is in
    eips: tuple           # EIP of each instruction
    phys: tuple           # physical address of each instruction's first byte
    loop: bool            # the block loops back to its start (hot traces)
    pure: bool            # ... and its loop does no memory access or port I/O
    span: int             # the most instructions one call can retire
    source: str           # the generated Python source (for reading and the profiler)
    static_cycles: int    # cycles folded into the block ...
    memory_cycles: int    # ... of which ordinary loads and stores


def _rep_slack(block):
    """Items a block's reps may count beyond its span before the run loop's
    next turn: such a block runs whole only that far from the instruction
    limit; nearer, it is walked through, and each rep stops at the limit."""
    return REP_MARGIN if ", 'rep" in block.source else 0


@dataclass
class Stepping:
    """A regular block being walked through one instruction at a time."""
    fn: object            # the block function (as cached)
    block: Block
    idx: int = 0          # the next instruction's index in the block
    laps: int = 0         # loop laps completed
    done: int = 0         # instructions retired so far
    cold: bool = False    # the block began in the cold period after hlt


class Stepper:
    """CPU mixin: the exact paths."""

    def init_stepper(self):
        self._shadow = None     # Stepping, while a regular block is walked through exactly
        self._ended = 0         # insns of the regular block the last exact step completed (0: mid-block)
        self._stop_exit = None  # (insn index, laps) where a store's stop request cut a block
        self._skip_hook_once = None   # physical address whose hooks were just obeyed (a stop)
        self._hook_held = False       # a hook left the running block before an instruction

    def exact_step(self, budget, n, single):
        """One exact step, `n` instructions into the run: a single-instruction
        block (`single`: after sti/mov ss, with TF) or `_exact_block`; charges
        the cold period after hlt and takes the TF trap. Returns the
        instructions retired."""
        if single:
            k = ended = self._slow_block(self.single_blocks)
            self._stop_exit = None
        else:
            k = self._exact_block(budget, n < self.cold_until)
            ended = self._ended
        self.charge_cold_block(n + k, ended)
        if self.tf_trap:
            self.tf_trap = False
            if k:
                self._single_step_trap()
        return k

    def charge_cold_block(self, end, length):
        """The `cold` rule for a block of `length` instructions (0: none ended)
        that ended at instruction count `end`, if that is inside the cold
        period after hlt (the exact paths and CPU.run's cold-period loop)."""
        if length and end < self.cold_until:
            self.charge("cold", length * self.timing.hlt_cold_insn)

    def _slow_block(self, cache):
        """One block outside the vcache, from `cache`: single_blocks (one
        instruction: the architectural single steps after sti/mov ss and with
        TF, which the regular loop takes too), cold_blocks (short, never
        looping) or None (the usual lookup)."""
        if cache is None:
            blk = self._lookup()
            if self.trace is not None:
                self.trace(self)
            return blk()
        lin, phys, key = self._block_key()
        blk = cache.get(key)
        if blk is None:
            blk = self._translate(lin, phys, key, cache)
        self.recent_eips.append(self.eip)
        if self.trace is not None:
            self.trace(self)
        return blk()

    def _exact_block(self, budget, cold):
        """Take the block the regular loop would take here; run it whole when
        it cannot overrun `budget` and nobody traces, else run its next
        instruction as a one-instruction block. Returns the instructions
        executed; `self._ended` is the regular block's length when it ended
        with this call and began in the cold period after hlt (`cold`: those
        blocks are charged the `cold` rule), else 0."""
        self._ended = 0
        sh = self._shadow
        if sh is not None:
            b = sh.block
            if (b.cache.get(b.key) is not sh.fn or self.eip != b.eips[sh.idx]
                    or self.mode_key != b.key & ~0xFFFFFFFF):
                sh = self._shadow = None          # the host changed code or state meanwhile
        if sh is None:
            if cold:
                fn = self._lookup()
            else:
                fn = self.vcache.get(self.eip | self.mode_key)
                if fn is None:
                    fn = self._lookup()
            if self.trace is None and fn.block.span + _rep_slack(fn.block) <= budget:
                k = fn()
                self._ended = k if cold else 0
                if self._stop_exit is not None:
                    self._follow_stopped(fn, cold)
                    if self._shadow is not None:
                        self._ended = 0
                return k
            sh = self._shadow = Stepping(fn, fn.block, cold=cold)
        return self._step_within(sh)

    def _step_within(self, sh):
        """The next instruction of the block `sh` walks through, as a
        one-instruction block; `sh` advances or ends."""
        b = sh.block
        phys = b.phys[sh.idx]
        key = phys | self.mode_key
        one = self.single_blocks.get(key)
        if one is None:
            one = self._translate((self.sbase[CS] + self.eip) & 0xFFFFFFFF, phys, key, self.single_blocks)
        if self.trace is not None:
            self.trace(self)
        cuts = self.block_cuts
        self._hook_held = False
        k = one()
        self._stop_exit = None        # a stop after this one instruction cuts nothing
        if self._hook_held:
            return 0                  # a hook left before this instruction: the stepping stays on it
        done, idx, laps = sh.done + k, sh.idx + 1, sh.laps
        going = k == 1 and self.block_cuts == cuts     # no store or out ended the block here
        if going:
            eips = b.eips
            if idx < len(eips):
                going = self.eip == eips[idx]
            elif (b.loop and self.eip == eips[0] and laps + 1 < LOOP_ITERATIONS
                  and (b.pure or self.cycles < self.limit)):
                idx, laps = 0, laps + 1
            else:
                going = False
        if going:
            sh.idx, sh.laps, sh.done = idx, laps, done
        else:
            self._shadow = None
            self._ended = done if sh.cold else 0
        return k

    def _follow_stopped(self, fn, cold=False):
        """A store in block `fn` asked to stop (a write watch) and cut the
        block: the rest of it runs exactly after the stop, as one-instruction
        blocks following the block (the same boundaries as an unobserved run)."""
        idx, laps = self._stop_exit
        self._stop_exit = None
        if fn is None:
            return
        eips = fn.block.eips
        if idx + 1 < len(eips) and self.eip == eips[idx + 1]:
            self._shadow = Stepping(fn, fn.block, idx + 1, laps, laps * len(eips) + idx + 1, cold)

    def _forget_stale_hook_skip(self):
        if self._skip_hook_once is not None:
            lin = (self.sbase[CS] + self.eip) & 0xFFFFFFFF
            if self.probe(lin) != self._skip_hook_once:
                self._skip_hook_once = None

    def _run_hooks(self, phys, idx, laps):
        """Run the exec hooks at phys, before instruction `idx` of the running
        block (in lap `laps`); True when the block must leave before that
        instruction (a hook moved EIP, asked to stop or raised attention).
        After a stop at the same place (a breakpoint), the rest of the
        block runs exactly (`_stop_exit`), so breakpoints do not move block
        boundaries."""
        if self._skip_hook_once == phys:
            self._skip_hook_once = None       # resuming after a hook's stop: do not stop again
            return False
        where = (self.seg[CS], self.eip, self.sbase[CS])
        for fn in list(self.exec_hooks.get(phys, ())):
            fn(self)
        same_place = where == (self.seg[CS], self.eip, self.sbase[CS])
        if self.stop_requested:
            self._skip_hook_once = phys if same_place else None
            if same_place:
                self._hook_held = True        # _exact_block: this step did not happen yet
                if idx:
                    self._stop_exit = (idx - 1, laps)
            return True
        return not same_place or self.attn

    def _single_step_trap(self):
        self.dr[6] |= 0x4000          # DR6.BS
        self._note_exception(1, None, False)
        try:
            self.interrupt(1, self.eip, None, software=False)
        except Fault as fault:
            self.deliver_exception(fault)
