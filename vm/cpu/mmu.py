"""Linear -> physical translation, the TLBs, and guest memory access.

Two levels of TLB:

* `tlb`: what the hardware TLB holds (linear page -> physical page plus
  effective permissions and whether the dirty bit is known set).  Only CR3
  writes and `invlpg` flush it, so a page-table change without a flush
  keeps using the stale entry, exactly as on hardware.
* `rtlb` / `wtlb` / `xtlb`: fast caches (linear page -> offset of the page
  in `mem.ram`) for the current privilege level, used by the generated
  code.  They may be dropped at any time (CPL or CR0.WP change, a page
  gaining executed code, a memory-map change) and are refilled from `tlb`
  without a page walk.  A write entry exists only for plain RAM pages that
  hold no executed code and whose dirty bit is set, so every store that
  must be seen (code invalidation, the `tcg` write penalty, MMIO, write
  watches, setting D) takes the slow path.
* `stlb`: linear page -> store handler, `handler(offset, size, value)`,
  for pages where every store has work to do but needs no page walk:
  plain RAM holding executed code (write permission checked, dirty bit
  set), where the `tcg` code-page penalty is charged and the store done
  unless it hits executed bytes, and the untimed MMIO pages of `mwtlb`.
  The accessors call it on a `wtlb` miss, before `slow_write` (a call
  less: ~15,000 stores to the boot stack's page and ~13,000 to VGA text
  memory a boot).
* `mrtlb` / `mwtlb`: linear page -> (device, physical page address, window
  buffer or None, the page's offset in it) for MMIO pages of devices that do
  not look at the clock (`timed = False`, VGA text memory): their loads and
  stores still take the slow path, where the timing profile charges them,
  but skip the page walk and the search for the running instruction, and a
  device with a plain-memory `window` is not called at all.
"""
from __future__ import annotations

import sys
from bisect import bisect_right

from .faults import Fault
from ..jit_hints import keep_out_of_traces

PG, WP, PE = 1 << 31, 1 << 16, 1
PSE = 1 << 4
P_, RW, US, ACC, DIRTY, PS = 1, 2, 4, 0x20, 0x40, 0x80



class _PlainRam:
    kind = "ram"


_RAM = _PlainRam()          # page_region's answer for a page with no overlay

class TlbEntry:
    __slots__ = ("ppage", "writable", "user", "dirty", "pte_addr")

    def __init__(self, ppage, writable, user, dirty, pte_addr):
        self.ppage, self.writable, self.user, self.dirty, self.pte_addr = ppage, writable, user, dirty, pte_addr


class MMU:
    """Mixin for CPU: needs self.mem, self.cr, self.cpl, self.timing, self.cycles."""

    def init_mmu(self):
        self.tlb: dict[int, TlbEntry] = {}
        self.rtlb: dict[int, int] = {}
        self.wtlb: dict[int, int] = {}
        self.xtlb: dict[int, int] = {}
        self.mrtlb: dict[int, tuple] = {}
        self.mwtlb: dict[int, tuple] = {}
        self.stlb: dict[int, object] = {}
        self.block_cuts = 0     # stores that overwrote decoded code and `out`s after which the block ended

    # ---- flushing ----------------------------------------------------------------
    def flush_fast_tlbs(self):
        self.vcache.clear()      # blocks are found by linear EIP: mappings may have changed
        self.rtlb.clear()
        self.wtlb.clear()
        self.xtlb.clear()
        self.mrtlb.clear()
        self.mwtlb.clear()
        self.stlb.clear()

    def flush_tlb(self):
        self.tlb.clear()
        self.flush_fast_tlbs()

    def flush_tlb_page(self, lin):
        page = lin >> 12
        self.tlb.pop(page, None)
        self.rtlb.pop(page, None)
        self.wtlb.pop(page, None)
        self.xtlb.pop(page, None)
        self.mrtlb.pop(page, None)
        self.mwtlb.pop(page, None)
        self.stlb.pop(page, None)
        self.vcache.clear()

    def drop_write_entries_for(self, ppage):
        """A physical page gained executed code: its stores must go slow."""
        target = ppage << 12
        for lpage in [lp for lp, off in self.wtlb.items() if off == target]:
            del self.wtlb[lpage]
        for lpage in [lp for lp, entry in self.mwtlb.items() if entry[1] == target]:
            del self.mwtlb[lpage]
            self.stlb.pop(lpage, None)

    # ---- translation -----------------------------------------------------------------
    def to_physical(self, lin, write=False, user=None, fetch=False):
        """Physical address for a linear one, walking and faulting as the
        hardware does.  `user` defaults to CPL == 3."""
        lin &= 0xFFFFFFFF
        if not self.cr[0] & PG:
            return lin & self.mem.a20_mask
        if user is None:
            user = self.cpl == 3
        page = lin >> 12
        entry = self.tlb.get(page)
        if entry is None:
            entry = self._walk(lin, write, user)
            self.tlb[page] = entry
        else:
            self._check(entry, lin, write, user)
        if write and not entry.dirty:
            self._set_dirty(entry)
        return ((entry.ppage << 12) | (lin & 0xFFF)) & self.mem.a20_mask

    def _page_fault(self, lin, present, write, user):
        self.cr[2] = lin
        return Fault(14, (1 if present else 0) | (2 if write else 0) | (4 if user else 0))

    def _check(self, entry, lin, write, user):
        if user and not entry.user:
            raise self._page_fault(lin, True, write, user)
        if write and not entry.writable and (user or self.cr[0] & WP):
            raise self._page_fault(lin, True, write, user)

    def _walk(self, lin, write, user):
        mem = self.mem
        self.charge("page_walk", self.timing.page_walk)
        pde_addr = (self.cr[3] & 0xFFFFF000) | ((lin >> 20) & 0xFFC)
        pde = mem.read_phys(pde_addr, 4)
        if not pde & P_:
            raise self._page_fault(lin, False, write, user)
        if pde & PS and self.cr[4] & PSE:
            entry = TlbEntry(((pde & 0xFFC00000) | (lin & 0x3FF000)) >> 12,
                             bool(pde & RW), bool(pde & US), bool(pde & DIRTY), pde_addr)
            return self._use_entry(entry, pde, lin, write, user)
        pte_addr = (pde & 0xFFFFF000) | ((lin >> 10) & 0xFFC)
        pte = mem.read_phys(pte_addr, 4)
        if not pte & P_:
            raise self._page_fault(lin, False, write, user)
        entry = TlbEntry(pte >> 12, bool(pde & pte & RW), bool(pde & pte & US), bool(pte & DIRTY), pte_addr)
        return self._use_entry(entry, pte, lin, write, user, pde, pde_addr)

    def _use_entry(self, entry, value, lin, write, user, pde=ACC, pde_addr=None):
        """Check the access against the final paging entry (`value`, at
        entry.pte_addr), then set its Accessed bit, and Dirty on a write, as
        hardware does once the access is allowed. The directory entry of a
        4 KiB walk (`pde` at `pde_addr`) gets its Accessed bit only then too:
        the whole walk has succeeded."""
        self._check(entry, lin, write, user)
        if not pde & ACC:
            self._write_paging_entry(pde_addr, pde | ACC)
        new = value | ACC | (DIRTY if write else 0)
        if new != value:
            self._write_paging_entry(entry.pte_addr, new)
        entry.dirty = bool(new & DIRTY)
        return entry

    def _set_dirty(self, entry):
        pte = self.mem.read_phys(entry.pte_addr, 4)
        if not pte & DIRTY:
            self._write_paging_entry(entry.pte_addr, pte | DIRTY | ACC)
        entry.dirty = True

    def _write_paging_entry(self, paddr, value):
        """A/D updates by the walker: ordinary physical writes (watches see them)."""
        self._store(paddr, 4, value)

    def translate(self, vaddr):
        """Physical address of a linear one, or None (no faults, no A/D updates)."""
        return self.probe(vaddr)

    def probe(self, lin):
        """Physical address or None, with no fault and no A/D side effects
        (debugger and host access)."""
        lin &= 0xFFFFFFFF
        if not self.cr[0] & PG:
            return lin & self.mem.a20_mask
        entry = self.tlb.get(lin >> 12)
        if entry is not None:
            return (entry.ppage << 12) | (lin & 0xFFF)
        pde = self.mem.read_phys((self.cr[3] & 0xFFFFF000) | ((lin >> 20) & 0xFFC), 4)
        if not pde & P_:
            return None
        if pde & PS and self.cr[4] & PSE:
            return (pde & 0xFFC00000) | (lin & 0x3FFFFF)
        pte = self.mem.read_phys((pde & 0xFFFFF000) | ((lin >> 10) & 0xFFC), 4)
        if not pte & P_:
            return None
        return (pte & 0xFFFFF000) | (lin & 0xFFF)

    # ---- slow paths of the generated accessors -------------------------------------
    def _first_touch(self, paddr):
        page = paddr >> 12
        touched = self.mem.touched
        if page < len(touched) and not touched[page]:
            self._touch_chunk(page, touched)

    def _touch_chunk(self, page, touched):
        """The host backs guest RAM in chunks of 2**first_touch_shift bytes
        (4 KiB pages, or 2 MiB transparent huge pages): only the first touch
        of a chunk costs, and it brings in every page of the chunk."""
        span = 1 << max(0, self.timing.first_touch_shift - 12)
        lo = page & ~(span - 1)
        hi = min(lo + span, len(touched))
        if touched.find(1, lo, hi) < 0:
            self.charge("first_touch", self.timing.first_touch, page)
        touched[lo:hi] = b"\x01" * (hi - lo)

    def slow_read(self, lin, size, user=None):
        if (lin & 0xFFF) + size > 0x1000:
            return self._split_read(lin, size, user)
        untimed = self.mrtlb.get(lin >> 12)
        if untimed is not None and user is None:
            self.charge("mmio", self.timing.mmio_read, untimed[1] >> 12)
            buf = untimed[2]
            if buf is not None:
                o = untimed[3] + (lin & 0xFFF)
                return int.from_bytes(buf[o:o + size], "little")
            return untimed[0].mmio_read(untimed[1] | (lin & 0xFFF), size) & ((1 << (8 * size)) - 1)
        paddr = self.to_physical(lin, False, user)
        self._first_touch(paddr)
        mem = self.mem
        if mem.read_watches:
            mem.fire_read_watches(paddr, size)     # watched pages never get rtlb entries
        page = paddr >> 12
        if mem.is_plain_ram(page):
            if user is None:
                self.rtlb[lin >> 12] = page << 12
        elif page in mem.page_region and mem.page_region[page].kind == "mmio":
            self.charge("mmio", self.timing.mmio_read, page)
            if self._untimed_mmio(lin, page, user, self.mrtlb):
                return mem.read_phys(paddr, size)
            into = self.locate_instruction()[1]     # the device sees the count as of this instruction
            self.cycles += into
            try:
                return mem.read_phys(paddr, size)
            finally:
                self.cycles -= into
        return mem.read_phys(paddr, size)

    def _split_read(self, lin, size, user):
        value = 0
        for k in range(size):
            value |= self.slow_read((lin + k) & 0xFFFFFFFF, 1, user) << (8 * k)
        return value

    def slow_write(self, lin, size, value, user=None):
        """Returns 1 when the store invalidated decoded code (the block ends)."""
        off = lin & 0xFFF
        if off + size <= 0x1000:
            if user is None:
                handler = self.stlb.get(lin >> 12)
                if handler is not None:
                    return handler(off, size, value)
            return self.walked_write(lin, size, value, user)
        # check both pages before writing anything (no partial stores)
        self.to_physical(lin, True, user)
        self.to_physical((lin + size - 1) & 0xFFFFFFFF, True, user)
        hit = 0
        for k in range(size):
            hit |= self.slow_write((lin + k) & 0xFFFFFFFF, 1, (value >> (8 * k)) & 0xFF, user)
        return hit

    def walked_write(self, lin, size, value, user):
        """A store inside one page through the page walk: every rule applies
        (code invalidation, the `tcg` code-page rule, MMIO, watches, D)."""
        mem = self.mem
        paddr = self.to_physical(lin, True, user)
        self._first_touch(paddr)
        page = paddr >> 12
        executed = mem.code_count.get(page, 0)
        # a store to ROM (the firmware's F-segment once PAM locks it) is dropped:
        # no translated code can go stale, so no executed-page cost (QEMU sends
        # it down the read-only memory path, not to the code-page invalidation)
        if executed and mem.page_region.get(page, _RAM).kind != "rom":
            self._charge_code_page_write(page, executed)
            if user is None and mem.is_plain_ram(page):
                self.stlb[lin >> 12] = self._code_page_store(lin & ~0xFFF, page)
            before = executed
            self._store(paddr, size, value)
            if mem.code_count.get(page, 0) != before:
                self.charge("code_write", self.timing.smc_invalidate, page)
                self.block_cuts += 1      # the running block ends here (core.py's exact paths follow it)
                return 1
            return self._stop_exit_here() if self.stop_requested else 0
        if page in mem.page_region and mem.page_region[page].kind == "mmio":
            self.charge("mmio", self.timing.mmio_write, page)
            if self._untimed_mmio(lin, page, user, self.mwtlb):
                mem.write_phys(paddr, size, value)
                return self._stop_exit_here() if self.stop_requested else 0
            eip, into = self.locate_instruction()   # the device sees the count as of this instruction
            self.cycles += into
            try:
                mem.write_phys(paddr, size, value, eip)
            finally:
                self.cycles -= into
            return self._stop_exit_here() if self.stop_requested else 0
        self._store(paddr, size, value)
        if user is None and mem.is_plain_ram(page) and not mem.code_count.get(page):
            # translate() checked permission for this CPL/WP and set D: later
            # stores to the page may skip it until the fast TLBs are dropped
            self.wtlb[lin >> 12] = page << 12
        # a write watch that asked to stop ends the block after this instruction
        return self._stop_exit_here() if self.stop_requested else 0

    def _charge_code_page_write(self, page, executed):
        """The `tcg` cost of a store to a page holding executed code."""
        t = self.timing
        self.charge("code_write", t.code_page_write + (t.exec_byte_write * executed + t.exec_block_write
                                                      * self.mem.block_count.get(page, 0)) // t.exec_cost_divisor,
                    page)

    def _code_page_store(self, lbase, page):
        """stlb's handler for the linear page at `lbase`, plain RAM page `page`
        beside executed code (the boot stack's): a store that misses the
        executed bytes is charged and done here, as walked_write would."""
        cpu, mem = self, self.mem
        flags, counts, blocks = mem.code_bytes[page], mem.code_count, mem.block_count
        ram, at = mem.ram, page << 12
        words = native_view(ram, "I")      # a stack's stores are aligned words
        t = self.timing
        base, per_byte, per_block, divisor = t.code_page_write, t.exec_byte_write, t.exec_block_write, t.exec_cost_divisor

        def store(off, size, value):
            executed = counts.get(page, 0)
            if not executed or flags.find(1, off, off + size) >= 0:
                return cpu.walked_write(lbase | off, size, value, None)
            cpu.charge("code_write", base + (per_byte * executed + per_block * blocks.get(page, 0)) // divisor, page)
            o = at | off
            if size == 4 and not o & 3 and words is not None:
                words[o >> 2] = value
            else:
                ram[o:o + size] = value.to_bytes(size, "little")
            return cpu._stop_exit_here() if cpu.stop_requested else 0
        return store

    def _untimed_store(self, dev, pbase, buf, at):
        """stlb's handler for an untimed MMIO page (a `mwtlb` entry): charged as
        MMIO, written to the device's `window` buffer if it has one."""
        cpu, cost, page = self, self.timing.mmio_write, pbase >> 12
        if buf is None:
            def store(off, size, value):
                cpu.charge("mmio", cost, page)
                dev.mmio_write(pbase | off, size, value & ((1 << (8 * size)) - 1))
                return cpu._stop_exit_here() if cpu.stop_requested else 0
            return store
        halves = native_view(buf, "H")     # VGA text's stores are aligned cells: 13,000 a boot

        def store(off, size, value):
            cpu.charge("mmio", cost, page)
            o = at + off
            if size == 2 and not o & 1 and halves is not None:
                halves[o >> 1] = value & 0xFFFF
            else:
                buf[o:o + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return cpu._stop_exit_here() if cpu.stop_requested else 0
        return store

    def _untimed_mmio(self, lin, page, user, tlb):
        """Whether the MMIO page's device ignores the clock; if so (and no
        watch or executed code is on the page), later accesses of this kind
        (`tlb`: mrtlb or mwtlb) at this privilege level skip the walk."""
        mem = self.mem
        dev = mem.page_region[page].dev
        if getattr(dev, "timed", True):
            return False
        if user is None and page not in mem.watch_pages and not mem.code_count.get(page):
            # a device whose memory is plain bytes (its `window`) is read and
            # written there directly, without a call into the device
            window = getattr(dev, "window", None)
            buf, at = (None, 0) if window is None else (window[0], (page << 12) - window[1])
            tlb[lin >> 12] = (dev, page << 12, buf, at)
            if tlb is self.mwtlb:
                self.stlb[lin >> 12] = self._untimed_store(dev, page << 12, buf, at)
        return True

    def _store(self, paddr, size, value):
        """A guest store on the slow path; write watches see the storing
        instruction's EIP and the cycle count as of that instruction."""
        mem = self.mem
        if not mem.watches:
            mem.write_phys(paddr, size, value, self.eip)
            return
        eip, into_block = self.locate_instruction()
        self.cycles += into_block
        try:
            mem.write_phys(paddr, size, value, eip)
        finally:
            self.cycles -= into_block

    def _stop_exit_here(self):
        """A store asked to stop (a write watch): the running block ends after
        this instruction; remember where in the block (instruction index, laps)
        so the run loop can go on through the rest of it exactly, as if it had
        not stopped (core.py, `_stop_exit`)."""
        found = self._running_block(sys._getframe(1))
        if found is not None:
            table, idx, frame = found
            self._stop_exit = (idx, frame.f_locals.get("_it", 0))
        return 1

    def locate_instruction(self):
        """(EIP, cycles into its block) of the instruction the running block is
        executing, from the block's Python frame (slow paths only)."""
        found = self._running_block(sys._getframe(1))
        if found is None:
            return self.eip, 0
        table, idx, _ = found
        return table[1][idx], table[2][idx]

    def _running_block(self, frame):
        """(line table, instruction index, frame) of the translated block
        running below `frame` on the Python stack, or None: the block's code
        object keys its table, its current line gives the instruction."""
        tables = self.block_tables
        while frame is not None:
            table = tables.get(frame.f_code)
            if table is not None:
                return table, insn_index(table[0], frame.f_lineno), frame
            frame = frame.f_back
        return None

    def fetch_page(self, lin):
        """Physical page base for instruction fetch at `lin` (fills the exec TLB)."""
        paddr = self.to_physical(lin, False, None, fetch=True)
        self._first_touch(paddr)
        base = paddr & ~0xFFF
        self.xtlb[lin >> 12] = base
        return base

    # ---- privileged (descriptor-table) and host access ------------------------------
    def read_sys(self, lin, size):
        return self.slow_read(lin & 0xFFFFFFFF, size, user=False)

    def write_sys(self, lin, size, value):
        self.slow_write(lin & 0xFFFFFFFF, size, value, user=False)

    def read_virt(self, vaddr, n):
        """Host-side read through the current paging (no faults: unmapped bytes read 0xFF)."""
        out = bytearray()
        for k in range(n):
            paddr = self.probe(vaddr + k)
            out.append(0xFF if paddr is None else self.mem.read(paddr, 1)[0])
        return bytes(out)

    def write_virt(self, vaddr, data):
        for k, byte in enumerate(bytes(data)):
            paddr = self.probe(vaddr + k)
            if paddr is not None:
                self.mem.write(paddr, bytes([byte]))


# PyPy: a store's or load's slow path is called from the traces of the
# accessors and blocks, not inlined into them (jit_hints.py)
keep_out_of_traces(MMU.slow_read, MMU.slow_write)


def insn_index(line_starts, lineno):
    """The index in its block's lap of the instruction at line `lineno` of a
    translated block (`line_starts`: the first line of each, CPU.block_tables)."""
    return max(0, bisect_right(line_starts, lineno) - 1)


def native_view(buf, fmt):
    """`buf` as an array of native halves ("H") or words ("I") for aligned
    little-endian stores without a slice and `to_bytes`; None on a
    big-endian host or for a buffer that cannot be cast."""
    if sys.byteorder != "little":
        return None
    try:
        return memoryview(buf).cast(fmt)
    except (TypeError, ValueError):
        return None


def make_accessors(cpu):
    """The rd8/16/32 and wr8/16/32 functions the generated blocks call."""
    ram = cpu.mem.ram
    raw = _raw_views(ram)
    if raw is not None:
        return _raw_accessors(cpu, raw)
    rt, wt, st = cpu.rtlb, cpu.wtlb, cpu.stlb
    slow_read, slow_write = cpu.slow_read, cpu.slow_write
    from_bytes = int.from_bytes

    def rd8(a):
        o = rt.get(a >> 12)
        if o is None:
            return slow_read(a, 1)
        return ram[o | (a & 0xFFF)]

    # aligned accesses index RAM as arrays of native (little-endian) words
    words, halves = native_view(ram, "I"), native_view(ram, "H")
    native = words is not None

    def rd16(a):
        o = rt.get(a >> 12)
        if o is None or (a & 0xFFF) == 0xFFF:
            return slow_read(a, 2)
        o |= a & 0xFFF
        if native and not o & 1:
            return halves[o >> 1]
        return ram[o] | ram[o + 1] << 8

    def rd32(a):
        o = rt.get(a >> 12)
        if o is None or (a & 0xFFF) > 0xFFC:
            return slow_read(a, 4)
        o |= a & 0xFFF
        if native and not o & 3:
            return words[o >> 2]
        return from_bytes(ram[o:o + 4], "little")

    def wr8(a, v):
        o = wt.get(a >> 12)
        if o is None:
            h = st.get(a >> 12)
            return slow_write(a, 1, v) if h is None else h(a & 0xFFF, 1, v)
        ram[o | (a & 0xFFF)] = v

    def wr16(a, v):
        if (a & 0xFFF) == 0xFFF:
            return slow_write(a, 2, v)
        o = wt.get(a >> 12)
        if o is None:
            h = st.get(a >> 12)
            return slow_write(a, 2, v) if h is None else h(a & 0xFFF, 2, v)
        o |= a & 0xFFF
        if native and not o & 1:
            halves[o >> 1] = v
            return
        ram[o] = v & 0xFF
        ram[o + 1] = v >> 8

    def wr32(a, v):
        if (a & 0xFFF) > 0xFFC:
            return slow_write(a, 4, v)
        o = wt.get(a >> 12)
        if o is None:
            h = st.get(a >> 12)
            return slow_write(a, 4, v) if h is None else h(a & 0xFFF, 4, v)
        o |= a & 0xFFF
        if native and not o & 3:
            words[o >> 2] = v
            return
        ram[o:o + 4] = v.to_bytes(4, "little")

    accessors = dict(rd8=rd8, rd16=rd16, rd32=rd32, wr8=wr8, wr16=wr16, wr32=wr32)
    if native:
        # what a loop's inline accesses use (inline_memory.py): the same TLBs and views
        accessors.update(RTG=rt.get, WTG=wt.get, RAM=ram, W16=halves, W32=words)
    return accessors


def _raw_views(ram):
    """On PyPy, (keep-alive, bytes, halves, words): cffi pointers into RAM (PyPy's
    own `_cffi_backend`, no C code of ours), whose indexing the JIT compiles to
    one load or store; indexing the mmap itself is a call (~35 ns an access).
    None elsewhere, or when cffi is missing."""
    if sys.implementation.name != "pypy" or sys.byteorder != "little":
        return None
    try:
        import cffi
    except ImportError:
        return None
    ffi = cffi.FFI()
    buf = ffi.from_buffer(ram)
    return buf, ffi.cast("uint8_t *", buf), ffi.cast("uint16_t *", buf), ffi.cast("uint32_t *", buf)


def _raw_accessors(cpu, raw):
    """make_accessors' functions over cffi pointers (same TLBs, same slow paths)."""
    keep, b, h, w = raw
    rt, wt = cpu.rtlb, cpu.wtlb
    slow_read, slow_write = cpu.slow_read, cpu.slow_write

    def rd8(a):
        o = rt.get(a >> 12)
        if o is None:
            return slow_read(a, 1)
        return b[o | (a & 0xFFF)]

    def rd16(a):
        o = rt.get(a >> 12)
        if o is None or (a & 0xFFF) == 0xFFF:
            return slow_read(a, 2)
        o |= a & 0xFFF
        if not o & 1:
            return h[o >> 1]
        return b[o] | b[o + 1] << 8

    def rd32(a):
        o = rt.get(a >> 12)
        if o is None or (a & 0xFFF) > 0xFFC:
            return slow_read(a, 4)
        o |= a & 0xFFF
        if not o & 3:
            return w[o >> 2]
        return b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24

    def wr8(a, v):
        o = wt.get(a >> 12)
        if o is None:
            return slow_write(a, 1, v)
        b[o | (a & 0xFFF)] = v

    def wr16(a, v):
        o = wt.get(a >> 12)
        if o is None or (a & 0xFFF) == 0xFFF:
            return slow_write(a, 2, v)
        o |= a & 0xFFF
        if not o & 1:
            h[o >> 1] = v
            return
        b[o] = v & 0xFF
        b[o + 1] = v >> 8

    def wr32(a, v):
        o = wt.get(a >> 12)
        if o is None or (a & 0xFFF) > 0xFFC:
            return slow_write(a, 4, v)
        o |= a & 0xFFF
        if not o & 3:
            w[o >> 2] = v
            return
        b[o] = v & 0xFF
        b[o + 1] = v >> 8 & 0xFF
        b[o + 2] = v >> 16 & 0xFF
        b[o + 3] = v >> 24
    rd8.ram_buffer = keep       # the pointers do not keep the buffer alive; this does
    return dict(rd8=rd8, rd16=rd16, rd32=rd32, wr8=wr8, wr16=wr16, wr32=wr32)
