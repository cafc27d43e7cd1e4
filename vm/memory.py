"""Physical memory: one RAM buffer, ROM regions, MMIO regions, and the
per-page record of bytes that hold executed code.

The code-byte record serves two masters: the CPU's block cache (a write to
executed bytes invalidates the blocks that decoded them) and the `tcg`
timing profile (a write to a page costs extra per executed byte still on
it).  `code_count[page]` is therefore kept up to date on every change, so
the timing rule reads it in O(1).
"""
from __future__ import annotations

import mmap

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1



def page_pieces(paddr: int, length: int):
    """(page number, start offset, end offset) of each page piece of
    [paddr, paddr + length)."""
    end = paddr + length
    while paddr < end:
        lo = paddr & PAGE_MASK
        hi = min(PAGE_SIZE, lo + (end - paddr))
        yield paddr >> PAGE_SHIFT, lo, hi
        paddr += hi - lo

class Region:
    """A non-RAM physical range: ROM bytes or an MMIO device."""

    def __init__(self, base: int, size: int, kind: str, data=None, dev=None):
        self.base, self.size, self.kind, self.data, self.dev = base, size, kind, data, dev

    def contains(self, paddr: int) -> bool:
        return self.base <= paddr < self.base + self.size


class PhysicalMemory:
    def __init__(self, ram_size: int = 128 << 20):
        if ram_size <= 0 or ram_size % PAGE_SIZE:
            raise ValueError(f"RAM size must be a positive multiple of {PAGE_SIZE}")
        # an anonymous mapping: the host zero-fills pages as the guest first
        # touches them, so a 128 MiB machine starts at once (bytearray() would
        # write every byte); it indexes, slices and casts like a bytearray
        self.ram = mmap.mmap(-1, ram_size)
        self.ram_size = ram_size
        self.regions: list[Region] = []
        self.page_region: dict[int, Region] = {}   # page -> ROM/MMIO region covering it
        self.code_bytes: dict[int, bytearray] = {}  # page -> 4096 flags (1 = executed code byte)
        self.code_count: dict[int, int] = {}        # page -> number of flagged bytes
        # Of those bytes, the ones where a translated block's piece on the page
        # begins: QEMU walks a page's translated blocks on every write to it,
        # so the `tcg` write penalty also counts blocks (exec_block_write).
        self.block_starts: dict[int, bytearray] = {}  # page -> 4096 flags (1 = a block starts here)
        self.block_count: dict[int, int] = {}         # page -> number of flagged block starts
        self.touched = bytearray(ram_size >> PAGE_SHIFT)  # first-touch record per RAM page
        self.watches: list[tuple[int, int, object]] = []
        self.read_watches: list[tuple[int, int, object]] = []   # guest loads (the MMU's slow path)
        self.watch_pages: set[int] = set()
        self.a20_mask = 0xFFFFFFFF
        self.listeners = []   # CPUs: .code_written(page, lo, hi), .memory_map_changed()
        # bumped by every change of the map or of executed bytes: an `out` that
        # changed either (PAM, A20, a device's DMA) ends the running block (portio.py)
        self.generation = 0

    # ---- layout -----------------------------------------------------------
    def add_rom(self, base: int, data: bytes, alias: int | None = None) -> Region:
        data = bytes(data)
        for b in (base,) if alias is None else (base, alias):
            region = Region(b, len(data), "rom", data=data)
            self._add_region(region)
            self.clear_code(b, len(data))   # blocks decoded from what was there before
        return region

    def add_mmio(self, base: int, size: int, dev) -> None:
        self._add_region(Region(base, size, "mmio", dev=dev))

    def _add_region(self, region: Region) -> None:
        self.regions.append(region)
        first = region.base >> PAGE_SHIFT
        last = (region.base + region.size - 1) >> PAGE_SHIFT
        for page in range(first, last + 1):
            self.page_region[page] = region
        self._map_changed()

    def remove_region(self, region: Region) -> None:
        """Take a ROM/MMIO overlay away (the chipset's PAM registers remap
        0xC0000-0xFFFFF); RAM shows through, and decoded code there is dropped."""
        self.regions.remove(region)
        for page in range(region.base >> PAGE_SHIFT, ((region.base + region.size - 1) >> PAGE_SHIFT) + 1):
            if self.page_region.get(page) is region:
                del self.page_region[page]
        self.clear_code(region.base, region.size)
        self._map_changed()

    def set_a20(self, enabled: bool) -> None:
        self.a20_mask = 0xFFFFFFFF if enabled else 0xFFEFFFFF
        self._map_changed()

    def add_write_watch(self, base: int, length: int, fn) -> None:
        """fn(paddr, size, value, eip) runs for every write into the range."""
        self.watches.append((base, length, fn))
        for page in range(base >> PAGE_SHIFT, ((base + length - 1) >> PAGE_SHIFT) + 1):
            self.watch_pages.add(page)
        self._map_changed()

    def add_read_watch(self, base: int, length: int, fn) -> None:
        """fn(paddr, size) runs for every guest load from the range (the
        MMU's slow read path, where watched pages always go)."""
        self.read_watches.append((base, length, fn))
        self._recount_watch_pages()

    def remove_watch(self, fn) -> None:
        """Drop every write or read watch calling `fn` (a debugger's watchpoint went)."""
        self.watches = [w for w in self.watches if w[2] is not fn]
        self.read_watches = [w for w in self.read_watches if w[2] is not fn]
        self._recount_watch_pages()

    def _recount_watch_pages(self) -> None:
        self.watch_pages = {page for base, length, _ in self.watches + self.read_watches
                            for page in range(base >> PAGE_SHIFT, ((base + length - 1) >> PAGE_SHIFT) + 1)}
        self._map_changed()

    def fire_read_watches(self, paddr: int, size: int) -> None:
        for base, length, fn in self.read_watches:
            if paddr < base + length and base < paddr + size:
                fn(paddr, size)

    def _map_changed(self) -> None:
        self.generation += 1
        for cpu in self.listeners:
            cpu.memory_map_changed()

    # ---- classification used by the CPU's TLB fill -------------------------
    def is_plain_ram(self, page: int) -> bool:
        """True when the page is RAM with no ROM/MMIO overlay and no watch."""
        return ((page << PAGE_SHIFT) < self.ram_size and page not in self.page_region
                and page not in self.watch_pages)

    # ---- code-byte record ---------------------------------------------------
    def mark_block_start(self, paddr: int) -> None:
        """Record that execution enters translated code at `paddr` by a
        control transfer (the `tcg` write penalty counts these per page)."""
        self._mark_block_start(paddr >> PAGE_SHIFT, paddr & PAGE_MASK)

    def mark_code(self, paddr: int, length: int, block_start: bool = True) -> bool:
        """Flag [paddr, paddr+length) as executed code; True if a page gained
        its first code byte (its fast write path must then be dropped).
        `block_start`: also record a block start at each page piece."""
        first_code = False
        for page, lo, hi in page_pieces(paddr, length):
            flags = self.code_bytes.get(page)
            if flags is None:
                flags = self.code_bytes[page] = bytearray(PAGE_SIZE)
                self.code_count[page] = 0
            if block_start:
                self._mark_block_start(page, lo)
            before = self.code_count[page]
            added = (hi - lo) - flags.count(1, lo, hi)
            if added:
                flags[lo:hi] = b"\x01" * (hi - lo)
                self.code_count[page] = before + added
                if before == 0:
                    first_code = True
        return first_code

    def _mark_block_start(self, page: int, offset: int) -> None:
        starts = self.block_starts.get(page)
        if starts is None:
            starts = self.block_starts[page] = bytearray(PAGE_SIZE)
            self.block_count[page] = 0
        if not starts[offset]:
            starts[offset] = 1
            self.block_count[page] += 1

    def _clear_block_starts(self, page: int, lo: int, hi: int) -> None:
        starts = self.block_starts.get(page)
        if starts is not None:
            n = starts.count(1, lo, hi)
            if n:
                starts[lo:hi] = bytes(hi - lo)
                self.block_count[page] -= n

    def executed_bytes(self, page: int) -> int:
        return self.code_count.get(page, 0)

    def executed_blocks(self, page: int) -> int:
        return self.block_count.get(page, 0)

    def clear_code(self, paddr: int, length: int) -> bool:
        """Forget executed bytes in a written range; True if any were there.
        Tells the listeners so they drop the blocks decoded from them."""
        hit = False
        for page, lo, hi in page_pieces(paddr, length):
            if self.code_count.get(page):
                flags = self.code_bytes[page]
                n = flags.count(1, lo, hi)
                if n:
                    flags[lo:hi] = bytes(hi - lo)
                    self.code_count[page] -= n
                    self._clear_block_starts(page, lo, hi)
                    hit = True
                    self.generation += 1
                    for cpu in self.listeners:
                        cpu.code_written(page, lo, hi)
        return hit

    # ---- physical access (slow path and host side) --------------------------
    def read_phys(self, paddr: int, size: int) -> int:
        """Little-endian read of 1/2/4 bytes at a physical address."""
        paddr &= self.a20_mask
        region = self.page_region.get(paddr >> PAGE_SHIFT)
        if region is None and paddr + size <= self.ram_size:
            return int.from_bytes(self.ram[paddr:paddr + size], "little")
        if region is not None and region.kind == "mmio" and region.contains(paddr):
            return region.dev.mmio_read(paddr, size) & ((1 << (8 * size)) - 1)
        value = 0
        for i in range(size):
            value |= self._read_byte(paddr + i) << (8 * i)
        return value

    def _read_byte(self, paddr: int) -> int:
        region = self.page_region.get(paddr >> PAGE_SHIFT)
        if region is not None and region.contains(paddr):
            if region.kind == "rom":
                return region.data[paddr - region.base]
            return region.dev.mmio_read(paddr, 1) & 0xFF
        if paddr < self.ram_size:
            return self.ram[paddr]
        return 0xFF

    def write_phys(self, paddr: int, size: int, value: int, eip: int = 0) -> None:
        """Little-endian write of 1/2/4 bytes (guest store, slow path)."""
        paddr &= self.a20_mask
        if self.watches:
            self._fire_watches(paddr, size, value, eip)
        page = paddr >> PAGE_SHIFT
        region = self.page_region.get(page)
        if region is not None and region.kind == "mmio" and region.contains(paddr):
            region.dev.mmio_write(paddr, size, value & ((1 << (8 * size)) - 1))
            return
        if region is None and (paddr & PAGE_MASK) + size <= PAGE_SIZE and paddr + size <= self.ram_size:
            if self.code_count.get(page):
                self.clear_code(paddr, size)
            self.ram[paddr:paddr + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            return
        for i in range(size):
            self._write_byte(paddr + i, (value >> (8 * i)) & 0xFF)

    def _write_byte(self, paddr: int, byte: int) -> None:
        region = self.page_region.get(paddr >> PAGE_SHIFT)
        if region is not None and region.contains(paddr):
            if region.kind == "mmio":
                region.dev.mmio_write(paddr, 1, byte)
            return  # ROM ignores writes
        if paddr < self.ram_size:
            if self.code_count.get(paddr >> PAGE_SHIFT):
                self.clear_code(paddr, 1)
            self.ram[paddr] = byte

    def _fire_watches(self, paddr: int, size: int, value: int, eip: int) -> None:
        for base, length, fn in self.watches:
            if paddr < base + length and base < paddr + size:
                fn(paddr, size, value, eip)

    def _plain_range(self, paddr: int, n: int, watched: bool) -> bool:
        """[paddr, paddr+n) is RAM only: no ROM/MMIO overlay, A20 not masking,
        and (when `watched`) no write watch."""
        if n <= 0 or paddr + n > self.ram_size or self.a20_mask != 0xFFFFFFFF:
            return n <= 0
        if not self.page_region and not (watched and self.watch_pages):
            return True
        for page in range(paddr >> PAGE_SHIFT, ((paddr + n - 1) >> PAGE_SHIFT) + 1):
            if page in self.page_region or (watched and page in self.watch_pages):
                return False
        return True

    def read_block(self, paddr: int, n: int) -> bytes | None:
        """Guest-visible bytes of [paddr, paddr+n) inside one page when reading
        them has no side effects (RAM, ROM, unclaimed); None for MMIO."""
        if self.a20_mask != 0xFFFFFFFF:
            return None
        return self.peek_bytes(paddr, n)

    def peek_bytes(self, paddr: int, n: int) -> bytes | None:
        """The bytes of [paddr, paddr+n) inside one page, as the CPU fetches
        them (the address already A20-masked), when that has no side effects;
        None for MMIO."""
        if (paddr & PAGE_MASK) + n > PAGE_SIZE:
            return None
        region = self.page_region.get(paddr >> PAGE_SHIFT)
        if region is None:
            if paddr + n <= self.ram_size:
                return bytes(self.ram[paddr:paddr + n])
            return b"\xff" * n if paddr >= self.ram_size else None
        if region.kind == "rom" and region.base <= paddr and paddr + n <= region.base + region.size:
            return region.data[paddr - region.base:paddr - region.base + n]
        return None

    def read(self, paddr: int, n: int) -> bytes:
        """Host-side read (BIOS, loaders, debugger)."""
        if not self._plain_range(paddr, n, watched=False):
            return bytes(self._read_byte((paddr + i) & self.a20_mask) for i in range(n))
        return bytes(self.ram[paddr:paddr + n])

    def write(self, paddr: int, data: bytes) -> None:
        """Host-side write; keeps the CPU's decoded blocks coherent."""
        data = bytes(data)
        if self._plain_range(paddr, len(data), watched=True):
            self.clear_code(paddr, len(data))
            self.ram[paddr:paddr + len(data)] = data
            self._touch(paddr, len(data))
            return
        for i, byte in enumerate(data):
            a = (paddr + i) & self.a20_mask
            if self.watches:
                self._fire_watches(a, 1, byte, 0)
            self._write_byte(a, byte)
        self._touch(paddr, len(data))

    def _touch(self, paddr: int, n: int) -> None:
        """Host writes (loaders, DMA) count as the page's first touch."""
        last = min((paddr + n - 1) >> PAGE_SHIFT, len(self.touched) - 1)
        for page in range(paddr >> PAGE_SHIFT, last + 1):
            self.touched[page] = 1
