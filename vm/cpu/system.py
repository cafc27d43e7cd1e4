"""System instructions and the helpers the generated code calls for
instructions too rare or too long to inline: EFLAGS, control/debug
registers, MSRs, cpuid, rdtsc, ports, string ops, pusha/popa/enter, hlt."""
from __future__ import annotations

from .decoder import EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP
from .faults import Fault
from .flags import AC, ARITH, DF, FIXED, ID, IF, IOPL, NT, RF, TF, VM, materialize
from ..jit_hints import keep_out_of_traces
from .mmu import PG, WP
from .segments import CS, ES, SS
from .translate import MAX_BLOCK_INSNS

GP, UD = 13, 6
INF = float("inf")
# A long rep goes back to the run loop whenever ECX reaches a multiple of
# this; with at most MAX_BLOCK_INSNS reps in a block, a block's reps count at
# most REP_MARGIN items between two turns of the run loop.
REP_CHUNK = 256
REP_MARGIN = MAX_BLOCK_INSNS * REP_CHUNK
EFLAGS_WRITABLE = TF | IF | DF | IOPL | NT | AC | ID | RF | VM
CPUID_FEATURES = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 15)   # PSE TSC MSR CX8 CMOV
PORT_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFFFFFF)   # by access size in bytes
MSR_TSC, MSR_APIC_BASE, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP = 0x10, 0x1B, 0x174, 0x175, 0x176
KNOWN_MSRS = {MSR_APIC_BASE: 0xFEE00900, MSR_SYSENTER_CS: 0, MSR_SYSENTER_ESP: 0, MSR_SYSENTER_EIP: 0,
              0x8B: 0, 0x17: 0, 0x2A: 0, 0xFE: 0, 0x277: 0x0007040600070406}


def _page_room(op, src, dst):
    """Bytes from the linear addresses of a string op's next items to the
    first page end (the source counts for movs and cmps)."""
    room = 0x1000 - (dst & 0xFFF)
    if op in ("movs", "cmps"):
        room = min(room, 0x1000 - (src & 0xFFF))
    return room


class System:
    """Mixin for CPU."""

    def init_system(self):
        self.rep_insns = 0          # rep items counted as instructions, not yet in the run's count
        self.rep_room = INF         # instructions the run may still execute (set by the run loop)
        self.msrs = dict(KNOWN_MSRS)
        self.dr = [0, 0, 0, 0, 0, 0, 0xFFFF0FF0, 0x400]

    # ---- privilege ---------------------------------------------------------------------
    def require_cpl0(self):
        if self.protected and self.cpl != 0:
            raise Fault(GP, 0)

    def require_protected_cpl0(self):
        if not self.protected:
            raise Fault(UD)
        self.require_cpl0()

    def check_iopl_vm(self):
        if self.fl & VM and (self.fl & IOPL) != IOPL:
            raise Fault(GP, 0)

    def _io_allowed(self, port, size):
        """in/out/ins/outs: always in real mode; in protected mode when CPL <=
        IOPL, else when the TSS's I/O permission bitmap clears the bits of
        every port accessed (#GP(0) otherwise).  As the hardware does, two
        bitmap bytes are read, and both must lie within the TSS limit."""
        if not self.protected or (self.cpl <= (self.fl & IOPL) >> 12 and not self.fl & VM):
            return
        if self.tr_attr & 0xF not in (9, 11) or self.tr_limit < 0x67:
            raise Fault(GP, 0)                     # no 32-bit TSS: no bitmap
        at = self.read_sys(self.tr_base + 0x66, 2) + (port >> 3)
        if at + 1 > self.tr_limit:
            raise Fault(GP, 0)
        if self.read_sys(self.tr_base + at, 2) >> (port & 7) & ((1 << size) - 1):
            raise Fault(GP, 0)

    # ---- EFLAGS -------------------------------------------------------------------------
    def get_eflags(self):
        return (self.fl & ~ARITH) | materialize(self.lf) | 2

    def set_eflags(self, value):
        self.lf = (FIXED, 0, value & ARITH, 0, 0)
        self.fl = value & EFLAGS_WRITABLE
        self.attention()

    def _set_flags_from_pop(self, value, size, iret=False, cpl=None):
        cpl = self.cpl if cpl is None else cpl
        mask = EFLAGS_WRITABLE & ~(VM | RF)
        if iret:
            mask |= RF
        if self.protected:
            if cpl > 0:
                mask &= ~IOPL
            if cpl > (self.fl & IOPL) >> 12:
                mask &= ~IF
        if size == 2:
            mask &= 0xFFFF
        self.lf = (FIXED, 0, value & ARITH, 0, 0)
        self.fl = (self.fl & ~mask) | (value & mask)
        self.attention()

    def popf(self, value, osz):
        self.check_iopl_vm()
        self._set_flags_from_pop(value, osz // 8)

    def op_cli(self):
        if self.protected and self.cpl > (self.fl & IOPL) >> 12:
            raise Fault(GP, 0)
        self.fl &= ~IF

    def op_sti(self):
        if self.protected and self.cpl > (self.fl & IOPL) >> 12:
            raise Fault(GP, 0)
        if not self.fl & IF:
            self.fl |= IF
            self.set_shadow()

    def set_shadow(self):
        """sti / mov ss: the next instruction runs before any interrupt."""
        self.shadow = True
        self.attention()

    # ---- hlt ----------------------------------------------------------------------------
    def op_hlt(self, next_eip):
        self.require_cpl0()
        self.eip = next_eip
        self.halted = True
        t = self.timing
        if t.hlt_cold_insns:
            self.cold_until = self.insns + t.hlt_cold_insns
        self.attention()

    # ---- control and debug registers ---------------------------------------------------
    def read_ctl(self, kind, idx):
        self.require_cpl0()
        if kind == "cr":
            return self.cr[idx] & 0xFFFFFFFF
        if idx in (4, 5):
            idx += 2
        return self.dr[idx]

    def write_ctl(self, kind, idx, value):
        self.require_cpl0()
        if kind == "dr":
            self.dr[idx + 2 if idx in (4, 5) else idx] = value
            return
        self.set_cr(idx, value)

    def set_cr(self, idx, value):
        """mov to CRn after the privilege check (a debugger writes these too);
        an invalid value raises #GP."""
        if idx == 0:
            self.set_cr0(value)
        elif idx == 3:
            self.cr[3] = value
            self.flush_tlb()
            self.mmu_changed()
        elif idx == 4:
            if value & ~0x7FF:
                raise Fault(GP, 0)
            changed = self.cr[4] ^ value
            self.cr[4] = value
            if changed & 0xB0:       # PSE/PGE/PAE change the meaning of entries
                self.flush_tlb()
                self.mmu_changed()
        else:
            self.cr[idx] = value

    def set_cr0(self, value):
        value |= 0x10     # ET is hard-wired
        if value & PG and not value & 1:
            raise Fault(GP, 0)
        old = self.cr[0]
        self.cr[0] = value
        if (old ^ value) & (PG | WP | 1):
            self.flush_tlb()
            self.mmu_changed()
        if (old ^ value) & 1:
            if not value & 1:
                self.set_cpl(0)
            self.update_mode()

    def op_lmsw(self, value):
        self.require_cpl0()
        new = (self.cr[0] & ~0xE) | (value & 0xF)
        if self.cr[0] & 1:
            new |= 1       # lmsw cannot leave protected mode
        self.set_cr0(new)

    def op_invlpg(self, lin):
        self.require_cpl0()
        self.flush_tlb_page(lin)
        self.mmu_changed()

    def mmu_changed(self):
        """Linear -> physical mappings may differ now (gdb re-resolves breakpoints)."""
        if self.on_mmu_change is not None:
            self.on_mmu_change()

    # ---- identification, time, MSRs -------------------------------------------------------
    def op_cpuid(self):
        leaf = self.regs[EAX]
        if leaf == 0:
            vendor = b"GenuineIntel"
            self.regs[EAX] = 1
            self.regs[EBX] = int.from_bytes(vendor[0:4], "little")
            self.regs[EDX] = int.from_bytes(vendor[4:8], "little")
            self.regs[ECX] = int.from_bytes(vendor[8:12], "little")
        elif leaf == 1:
            self.regs[EAX] = 0x0633      # family 6, model 3 (a P6)
            self.regs[ECX] = 0           # ecx
            self.regs[EDX] = CPUID_FEATURES   # edx
            self.regs[EBX] = 0           # ebx
        else:
            self.regs[EAX] = self.regs[ECX] = self.regs[EDX] = self.regs[EBX] = 0

    def op_rdtsc(self, cycles_into_block):
        """The counter as of this instruction: the block charges its static
        cycles at its end, so add the part already executed."""
        tsc = (self.cycles + cycles_into_block) & 0xFFFFFFFFFFFFFFFF
        self.regs[EAX] = tsc & 0xFFFFFFFF
        self.regs[EDX] = tsc >> 32

    def op_rdmsr(self):
        self.require_cpl0()
        idx = self.regs[ECX]
        if idx == MSR_TSC:
            value = self.cycles + self.locate_instruction()[1]
        elif idx in self.msrs:
            value = self.msrs[idx]
        else:
            raise Fault(GP, 0)
        self.regs[EAX] = value & 0xFFFFFFFF
        self.regs[EDX] = value >> 32 & 0xFFFFFFFF

    def op_wrmsr(self):
        self.require_cpl0()
        idx = self.regs[ECX]
        value = self.regs[EDX] << 32 | self.regs[EAX]
        if idx == MSR_TSC:
            # the block adds the static cycles of the instructions before this one at its end
            self.cycles = value - self.locate_instruction()[1]
        elif idx in self.msrs:
            self.msrs[idx] = value
        else:
            raise Fault(GP, 0)

    # ---- ports ---------------------------------------------------------------------------
    # Devices see the cycle count as of the accessing instruction (the block
    # charges its static cycles at its end): the same count whether the code
    # runs in long blocks or one instruction at a time (tracing, stepping).
    def _into_block_for(self, port):
        """The cycles of the running block before this instruction, for a
        device that reads the clock (the untimed ones take port_in/port_out's
        fast path, string I/O asks here too); 0 (no search) for those and for
        unclaimed ports."""
        port &= 0xFFFF
        if port not in self.ports.devices or port in self.ports.untimed:
            return 0
        return self.locate_instruction()[1]

    def port_in(self, port, size):
        port &= 0xFFFF
        self._io_allowed(port, size)
        dev = self.ports.untimed.get(port)
        if dev is not None:
            # the fast path (a polled UART): the cost of a memory access, no search, no try
            self.charge("io", self.timing.io)
            return dev.port_read(port, size) & PORT_MASK[size]
        into = self._into_block_for(port)
        self.charge("io", self.timing.io)
        self.cycles += into             # the device sees the count as of this instruction
        try:
            return self.ports.read(port & 0xFFFF, size)
        finally:
            self.cycles -= into

    def port_out(self, port, size, value):
        port &= 0xFFFF
        self._io_allowed(port, size)
        dev = self.ports.untimed.get(port)
        if dev is not None:
            self.charge("io", self.timing.io)
            dev.port_write(port, size, value & PORT_MASK[size])
            return
        into = self._into_block_for(port)
        self.charge("io", self.timing.io)
        self.cycles += into
        try:
            self.ports.write(port & 0xFFFF, size, value)
        finally:
            self.cycles -= into

    # ---- generic memory access for helpers --------------------------------------------
    def read_mem(self, lin, size):
        return self.rd[size](lin & 0xFFFFFFFF)

    def write_mem(self, lin, size, value):
        self.wr[size](lin & 0xFFFFFFFF, value & ((1 << (8 * size)) - 1))

    # ---- stack multi-ops --------------------------------------------------------------------
    def op_pusha(self, osz):
        size = osz // 8
        r = self.regs
        saved = list(r)
        mask = 0xFFFFFFFF if size == 4 else 0xFFFF
        try:
            for idx in range(8):
                self.push_value((saved[4] if idx == 4 else saved[idx]) & mask, size)
        except Fault:
            r[:] = saved
            raise

    def op_popa(self, osz):
        size = osz // 8
        values = [self.stack_read(k * size, size) for k in range(8)]
        self.stack_release(8 * size)
        for k, idx in enumerate((7, 6, 5, 4, 3, 2, 1, 0)):
            if idx == 4:
                continue
            v = values[k]
            self.regs[idx] = v if size == 4 else (self.regs[idx] & 0xFFFF0000) | v

    def op_enter(self, osz, alloc, level):
        size = osz // 8
        r = self.regs
        saved = list(r)
        stack32 = self._stack32()
        try:
            self.push_value(r[EBP] & (0xFFFFFFFF if size == 4 else 0xFFFF), size)
            frame = r[ESP]
            bp = saved[5]
            for _ in range(1, level):
                bp = (bp - size) & (0xFFFFFFFF if stack32 else 0xFFFF)
                self.push_value(self.read_mem(self.stack_linear(bp, size), size), size)
            if level:
                self.push_value(frame & (0xFFFFFFFF if size == 4 else 0xFFFF), size)
            if size == 4:
                r[EBP] = frame
            else:
                r[EBP] = (r[EBP] & 0xFFFF0000) | (frame & 0xFFFF)
            if stack32:
                new_sp = (r[ESP] - alloc) & 0xFFFFFFFF
            else:
                new_sp = (r[ESP] & 0xFFFF0000) | ((r[ESP] - alloc) & 0xFFFF)
            # the new stack top must be writable (a fault here leaves nothing changed)
            if alloc:
                self.to_physical(self.stack_linear(new_sp if stack32 else new_sp & 0xFFFF, 1), True)
            r[ESP] = new_sp
        except Fault:
            r[:] = saved
            raise

    # ---- string instructions -----------------------------------------------------------------
    def string_op(self, op, size, asz, seg, rep, into_block=0, eip=None):
        """One string instruction; with a rep prefix, its items a run at a
        time.  Every item of a rep counts as one instruction (as QEMU counts
        them under icount), so `--max-insns` stops a rep between items.

        Returns True when a rep stopped with items left: a device event is
        due (as hardware takes interrupts between iterations), ECX reached a
        multiple of REP_CHUNK (so a long rep goes back to the run loop, which
        looks at its limits, at points that depend on the guest only), or
        the run's instruction budget is spent.  The block then leaves with
        EIP at this instruction, which goes on from where it stopped when it
        runs again.  `into_block`: the static cycles of the instructions
        before this one in its block (charged at the block's end); `eip`:
        the instruction's own (given with a rep, so a stop need not search
        the running block for it)."""
        if rep is None:
            self._string_loop(op, size, asz, seg, None)
            return False
        amask = 0xFFFFFFFF if asz == 32 else 0xFFFF
        started = self.regs[ECX] & amask
        stopped = True            # a fault mid-rep: the items before it were done, the rep was not
        try:
            stopped = self._rep_run(op, size, asz, seg, rep, into_block, started, amask, eip)
        finally:
            self._count_rep_items((started - self.regs[ECX]) & amask, stopped)
        return stopped

    def _rep_stop_at(self, started):
        """The ECX value at which this call of a rep stops (0: at its end):
        the next multiple of REP_CHUNK below `started`, or where the run's
        instruction budget (`rep_room`, less the items counted but not yet
        added to the run's count) runs out."""
        chunk_end = (started - 1) // REP_CHUNK * REP_CHUNK if started > REP_CHUNK else 0
        room = self.rep_room - self.rep_insns
        return max(chunk_end, started - max(1, room)) if room < started else chunk_end

    def _rep_cut(self, eip):
        """A rep stopped for the run loop's sake goes on in a block that begins
        at the rep: a boundary the code did not make, so (like a block cut by
        its length limit) it records no block start for the tcg write penalty
        (core.py, cut_points), and the time of the run stays what it was."""
        phys = self.probe((self.sbase[CS] + eip) & 0xFFFFFFFF)
        if phys is not None:
            self.cut_points.add(phys)

    def _count_rep_items(self, items, stopped):
        """A rep's items are instructions; the block counts one for a rep it
        retires, the rest wait in `rep_insns` for the run loop, which adds
        them to its count at its next turn (limit -1 makes the hot loop take
        that turn after this block)."""
        extra = items if stopped else max(items - 1, 0)
        if extra:
            self.rep_insns += extra
            self.limit = -1

    def take_rep_insns(self):
        """The run loop's turn: the counted rep items, and its usual limit back."""
        extra, self.rep_insns = self.rep_insns, 0
        self.limit = -1 if self.attn else self.cyc_limit
        return extra

    def _rep_run(self, op, size, asz, seg, rep, into_block, started, amask, eip):
        fast = op in ("movs", "stos", "cmps", "scas") and not self.fl & DF
        r = self.regs
        stop_at = self._rep_stop_at(started)
        moved = self._rep_fast(op, size, asz, seg, rep, into_block, stop_at) if fast else 0
        tried_slow = False
        while True:
            left = r[ECX] & amask
            if left == 0:
                return False
            if left <= stop_at:
                self._rep_cut(eip)
                return True
            # the time now: the running block charges its static costs at its end
            if left != started and self.cycles + into_block >= self.device_event:
                return True
            # one item the slow way (it fills the TLBs the fast path needs, or
            # faults, or ends a repe/repne); when the fast path still cannot go
            # on (code, watched or timed MMIO pages), the rest of these pages
            # go item by item
            limit = 1 if fast and (moved or not tried_slow) else self._items_on_pages(op, size, asz, seg)
            if not self._string_loop(op, size, asz, seg, rep, limit=min(limit, left - stop_at)):
                return False                   # the rep ended (ECX 0, or a repe/repne condition)
            tried_slow = True
            moved = self._rep_fast(op, size, asz, seg, rep, into_block, stop_at) if fast else 0

    def _items_on_pages(self, op, size, asz, seg):
        """Items of a forward rep before its source or destination crosses a
        page end (at least one): the slow loop does those, then the fast
        path may take over again on the next pages."""
        r = self.regs
        amask = 0xFFFFFFFF if asz == 32 else 0xFFFF
        src, dst = self.sbase[seg] + (r[ESI] & amask), self.sbase[ES] + (r[EDI] & amask)
        return max(1, _page_room(op, src, dst) // size)

    def _item_cost(self, op):
        """Static cycles of one string item: the iteration and its ordinary
        loads and stores, the same on the fast and the item-by-item path (which
        path an item takes must not change the time)."""
        t = self.timing
        reads = {"movs": 1, "cmps": 2, "scas": 1}.get(op, 0)
        writes = 1 if op in ("movs", "stos") else 0
        return t.string_iter + reads * t.mem_read + writes * t.mem_write

    def _rep_fast(self, op, size, asz, seg, rep, into_block=0, stop_at=0):
        """Whole runs of a forward rep movs/stos/cmps/scas inside RAM pages the
        fast TLBs already map, done with bytearray slices; stops (leaving the
        registers consistent) wherever the element-by-element loop must take
        over: page ends, unmapped or special pages, overlaps, a mismatch.
        Returns the number of items done."""
        r = self.regs
        done = 0
        if self.limited & (1 << ES | 1 << seg):
            return done                # limits to check: the item-by-item loop does it
        amask = 0xFFFFFFFF if asz == 32 else 0xFFFF
        ram = self.mem.ram
        per_item = self._item_cost(op)
        sbase, dbase = self.sbase[seg], self.sbase[ES]

        def items_done(k, n, si, di, count, extra_cost):
            """k items (n bytes) done: the registers move past them; charge them."""
            if op in ("movs", "cmps"):
                r[ESI] = (r[ESI] & ~amask) | ((si + n) & amask)
            r[EDI] = (r[EDI] & ~amask) | ((di + n) & amask)
            r[ECX] = (r[ECX] & ~amask) | ((count - k) & amask)
            self.cycles += k * (per_item + extra_cost)

        while r[ECX] & amask > stop_at:
            if done and self.cycles + into_block >= self.device_event:
                return done                        # an event is due: string_op stops here
            count = r[ECX] & amask
            si, di = r[ESI] & amask, r[EDI] & amask
            src = (sbase + si) & 0xFFFFFFFF
            dst = (dbase + di) & 0xFFFFFFFF
            # items before the first page end on either side, and before 16-bit wrap
            room = _page_room(op, src, dst)
            if asz == 16:
                room = min(room, 0x10000 - di, 0x10000 - si if op in ("movs", "cmps") else 0x10000)
            k = min(count - stop_at, room // size)
            if k < 2:
                return done
            n = k * size
            if op in ("cmps", "scas"):
                if rep == "repne":
                    return done                 # searching for equality: leave it to the loop
                if op == "cmps":
                    a, acost = self._read_run(src, n)
                else:
                    a, acost = (r[EAX] & ((1 << (8 * size)) - 1)).to_bytes(size, "little") * k, 0
                b, bcost = self._read_run(dst, n) if a is not None else (None, 0)
                if b is None:
                    return done
                if a != b:
                    # stop before the first differing item; the loop does that one
                    first = next(i for i in range(n) if a[i] != b[i]) // size
                    if first == 0:
                        return done
                    k, n = first, first * size
                self.lf = (2, 8 * size, 0, 0, 0)   # equal items: ZF=1, CF=0, like a - a
                items_done(k, n, si, di, count, acost + bcost)
                done += k
                if n < len(b):
                    return done
                continue
            dbuf, d, dcost = self._bulk_window(dst, True)
            sbuf, sp, scost = self._bulk_window(src, False) if op == "movs" else (ram, 0, 0)
            if sbuf is None and self._plain_ram_at(src):
                self.slow_read(src, size)          # fills the read TLB (or faults, as the loop would)
                sbuf, sp, scost = self._bulk_window(src, False)
            if dbuf is None or sbuf is None:
                return done
            if op == "movs":
                if sbuf is dbuf and abs(d - sp) < n:
                    return done                 # overlapping copy: element order matters
                dbuf[d:d + n] = sbuf[sp:sp + n]
            else:
                dbuf[d:d + n] = (r[EAX] & ((1 << (8 * size)) - 1)).to_bytes(size, "little") * k
            items_done(k, n, si, di, count, scost + dcost)
            done += k
        return done

    def _bulk_window(self, lin, write):
        """(buffer, offset, extra cost per item) through which a rep may copy
        at `lin` in bulk: RAM the fast TLBs map, or the `window` of an MMIO
        device that does not look at the clock and whose memory is plain
        (VGA text), charged as MMIO; (None, 0, 0) otherwise."""
        page = (self.wtlb if write else self.rtlb).get(lin >> 12)
        if page is not None:
            return self.mem.ram, page | (lin & 0xFFF), 0
        untimed = (self.mwtlb if write else self.mrtlb).get(lin >> 12)
        if untimed is None or untimed[2] is None:      # (device, page, window buffer, page's offset in it)
            return None, 0, 0
        return untimed[2], untimed[3] + (lin & 0xFFF), self.timing.mmio_write if write else self.timing.mmio_read

    def _read_run(self, lin, n):
        """(the n bytes at `lin` (inside one page), extra cost per item) for
        a string compare, read the way the first item's read would go (A bit,
        page walk and first touch charged, faults raised); (None, 0) where
        reading has side effects (MMIO) and the item-by-item loop must do it."""
        buf, o, cost = self._bulk_window(lin, False)
        if buf is None:
            paddr = self.to_physical(lin)
            page = paddr >> 12
            if not self.mem.is_plain_ram(page):
                block = self.mem.read_block(paddr, n)
                if block is not None:
                    self._first_touch(paddr)
                return block, 0
            self._first_touch(paddr)
            self.rtlb[lin >> 12] = page << 12
            buf, o = self.mem.ram, paddr
        return bytes(buf[o:o + n]), cost

    def _plain_ram_at(self, lin):
        """Whether a read at `lin` could only touch RAM (no device side effects)."""
        paddr = self.probe(lin)
        return paddr is not None and self.mem.is_plain_ram(paddr >> 12)

    def _item_address(self, seg, size):
        """offset -> linear address of a string item in `seg` (limit checked
        where the segment has one)."""
        if self.limited >> seg & 1:
            return lambda offset: self.checked_linear(seg, offset, size)
        base = self.sbase[seg]
        return lambda offset: (base + offset) & 0xFFFFFFFF

    def _string_loop(self, op, size, asz, seg, rep, limit=None):
        """Item by item; with `limit`, stop after that many items and return
        True if the rep would go on."""
        r = self.regs
        done = 0
        amask = 0xFFFFFFFF if asz == 32 else 0xFFFF
        step = -size if self.fl & DF else size
        src_at, dst_at = self._item_address(seg, size), self._item_address(ES, size)
        if op in ("movs", "stos", "ins") and (rep is None or r[ECX] & amask):
            self.checked_write(ES)           # ES's type may forbid the stores
        rd, wr = self.rd[size], self.wr[size]
        iter_cost = self._item_cost(op)
        vmask = (1 << (8 * size)) - 1

        def advance(idx):
            r[idx] = (r[idx] & ~amask) | ((r[idx] + step) & amask)

        while True:
            if rep is not None and r[ECX] & amask == 0:
                return False
            si, di = r[ESI] & amask, r[EDI] & amask
            if op == "movs":
                wr(dst_at(di), rd(src_at(si)))
                advance(6)
                advance(7)
            elif op == "stos":
                wr(dst_at(di), r[EAX] & vmask)
                advance(7)
            elif op == "lods":
                v = rd(src_at(si))
                r[EAX] = (r[EAX] & ~vmask) | v
                advance(6)
            elif op in ("cmps", "scas"):
                if op == "cmps":
                    a = rd(src_at(si))
                    b = rd(dst_at(di))
                    advance(6)
                else:
                    a = r[EAX] & vmask
                    b = rd(dst_at(di))
                advance(7)
                self.lf = (2, 8 * size, a - b, a, b)
            elif op == "ins":
                self._io_allowed(r[EDX] & 0xFFFF, size)
                into = self._into_block_for(r[EDX])
                self.cycles += into
                try:
                    v = self.ports.read(r[EDX] & 0xFFFF, size)
                finally:
                    self.cycles -= into
                wr(dst_at(di), v)
                self.charge("io", self.timing.io)
                advance(7)
            elif op == "outs":
                self._io_allowed(r[EDX] & 0xFFFF, size)
                v = rd(src_at(si))
                into = self._into_block_for(r[EDX])
                self.cycles += into
                try:
                    self.ports.write(r[EDX] & 0xFFFF, size, v)
                finally:
                    self.cycles -= into
                self.charge("io", self.timing.io)
                advance(6)
            if rep is None:
                return
            r[ECX] = (r[ECX] & ~amask) | ((r[ECX] - 1) & amask)
            self.cycles += iter_cost
            if op in ("cmps", "scas"):
                zf = (self.lf[2] & vmask) == 0
                if (rep == "rep" and not zf) or (rep == "repne" and zf):
                    return False
            done += 1
            if limit is not None and done >= limit:
                return r[ECX] & amask != 0


# PyPy: port I/O with its permission checks (CPL > 0, V86) is called from
# the traces of the port accessors, not inlined into them (jit_hints.py)
keep_out_of_traces(System.port_in, System.port_out)
