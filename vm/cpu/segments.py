"""Segmentation: selectors, descriptor loads with the protection checks,
and the mode key the block cache depends on.

A segment register is (selector, base, limit, attr); attr keeps the
descriptor's access byte in bits 0-7 and its flags nibble (G, D/B) in
bits 12-15, the layout of bytes 5-6 of a descriptor.
"""
from __future__ import annotations

from .faults import Fault
from .held import Holder, held
from . import protection
from .protection import rights_masks, write_fault

ES, CS, SS, DS, FS, GS = range(6)
A_PRESENT, A_S, A_CODE, A_CONFORMING_OR_EXPANDDOWN, A_RW, A_ACCESSED = 0x80, 0x10, 0x08, 0x04, 0x02, 0x01
F_DB, F_G = 0x4000, 0x8000
GP, NP, SSF, TS = 13, 11, 12, 10

REAL_DATA_ATTR = A_PRESENT | A_S | A_RW | A_ACCESSED          # 16-bit data, limit 64 KiB
REAL_CODE_ATTR = A_PRESENT | A_S | A_CODE | A_RW | A_ACCESSED


FULL_RANGE = (0, 0xFFFFFFFF)
# (CS base, CS limit key) -> the small number block keys name it by (update_mode)
_CS_IDS = {}
MAX_CS_IDS = 1 << 21      # ids use bits 41..61 of a key; past that, the long form (bit 62)
EMPTY_RANGE = (1, 0)         # an unusable (null) segment: no offset is inside


def dpl(attr):
    return attr >> 5 & 3


def offset_range(limit, attr):
    """(lowest, highest) offset a byte of an access may have in a segment:
    [0, limit] expanding up; (limit, 64 KiB or 4 GiB) for an expand-down
    data segment; none for an unusable one."""
    if not attr & A_PRESENT:
        return EMPTY_RANGE
    if attr & A_S and not attr & A_CODE and attr & A_CONFORMING_OR_EXPANDDOWN:
        return (limit + 1, 0xFFFFFFFF if attr & F_DB else 0xFFFF)
    return (0, limit)


class Segments:
    """Mixin for CPU."""

    # descriptor queries (protection.py)
    op_lar, op_lsl, op_verr, op_verw = (protection.op_lar, protection.op_lsl,
                                         protection.op_verr, protection.op_verw)
    require_protected_not_v86 = protection.require_protected_not_v86
    # the descriptor table registers: off the instance (PyPy's 80-attribute limit, held.py)
    (gdtr, idtr, ldtr_sel, ldtr_base, ldtr_limit,
     tr_sel, tr_base, tr_limit, tr_attr) = held("tables", "gdtr", "idtr", "ldtr_sel", "ldtr_base", "ldtr_limit",
                                                "tr_sel", "tr_base", "tr_limit", "tr_attr")

    def init_segments(self):
        if not hasattr(self, "sbase"):
            self.sbase = [0] * 6     # shared with the generated code: only ever mutated in place
        self.sbase[:] = [0] * 6
        self.seg = [0] * 6
        self.slimit = [0xFFFF] * 6
        self.srange = [(0, 0xFFFF)] * 6    # offsets inside each segment (checked in protected mode)
        self.limited = 0                   # bit i: segment i has a range short of 4 GiB (protected mode)
        self.noread = self.nowrite = 0     # bit i: segment i's type forbids reads / writes (protection.py)
        self.sattr = [REAL_DATA_ATTR] * 6
        self.sattr[CS] = REAL_CODE_ATTR
        self.tables = Holder()
        self.gdtr = [0, 0xFFFF]
        self.idtr = [0, 0x3FF]
        self.ldtr_sel, self.ldtr_base, self.ldtr_limit = 0, 0, 0
        self.tr_sel, self.tr_base, self.tr_limit, self.tr_attr = 0, 0, 0, 0
        self.cpl = 0

    @property
    def protected(self):
        return bool(self.cr[0] & 1)

    # ---- descriptors ---------------------------------------------------------------
    def descriptor_addr(self, sel, vector=GP, code=None):
        """Linear address of the descriptor for `sel`, or #GP(selector)."""
        if sel & 4:
            base, limit = self.ldtr_base, self.ldtr_limit
        else:
            base, limit = self.gdtr
        if (sel | 7) > limit:
            raise Fault(vector, (sel & 0xFFFC) if code is None else code)
        return (base + (sel & 0xFFF8)) & 0xFFFFFFFF

    def read_descriptor(self, sel, vector=GP):
        addr = self.descriptor_addr(sel, vector)
        lo = self.read_sys(addr, 4)
        hi = self.read_sys(addr + 4, 4)
        return addr, lo, hi

    @staticmethod
    def unpack_descriptor(lo, hi):
        base = (lo >> 16) | (hi & 0xFF) << 16 | (hi & 0xFF000000)
        limit = (lo & 0xFFFF) | (hi & 0xF0000)
        attr = (hi >> 8) & 0xF0FF
        if attr & F_G:
            limit = (limit << 12) | 0xFFF
        return base, limit, attr

    def mark_accessed(self, addr, attr):
        if attr & A_S and not attr & A_ACCESSED:
            self.write_sys(addr + 5, 1, (attr | A_ACCESSED) & 0xFF)
            attr |= A_ACCESSED
        return attr

    def set_seg(self, i, sel, base, limit, attr):
        self.seg[i] = sel & 0xFFFF
        self.sbase[i] = base & 0xFFFFFFFF
        self.slimit[i] = limit
        self.srange[i] = offset_range(limit, attr)
        self.sattr[i] = attr
        self.update_mode()

    # ---- loads -------------------------------------------------------------------------
    def get_seg(self, i):
        return self.seg[i]

    def load_seg(self, i, sel):
        """MOV/POP to a segment register (and the BIOS/debugger equivalent)."""
        sel &= 0xFFFF
        if not self.protected or self.fl & 0x20000:
            attr = self.sattr[i]
            if i == CS:
                attr = (attr & ~F_DB) | A_CODE
            self.set_seg(i, sel, sel << 4, self.slimit[i], attr)
            return
        if i == CS:
            self.load_code_segment(sel, sel & 3)
        elif i == SS:
            self.load_stack_segment(sel, self.cpl)
        else:
            self.load_data_segment(i, sel)

    def load_data_segment(self, i, sel):
        if sel & 0xFFFC == 0:
            self.set_seg(i, sel, 0, 0, 0)     # null: unusable until reloaded
            return
        addr, lo, hi = self.read_descriptor(sel)
        base, limit, attr = self.unpack_descriptor(lo, hi)
        if not attr & A_S or (attr & A_CODE and not attr & A_RW):
            raise Fault(GP, sel & 0xFFFC)
        conforming_code = attr & A_CODE and attr & A_CONFORMING_OR_EXPANDDOWN
        if not conforming_code and dpl(attr) < max(self.cpl, sel & 3):
            raise Fault(GP, sel & 0xFFFC)
        if not attr & A_PRESENT:
            raise Fault(NP, sel & 0xFFFC)
        attr = self.mark_accessed(addr, attr)
        self.set_seg(i, sel, base, limit, attr)

    def check_stack_segment(self, sel, cpl, vector=GP):
        """Descriptor checks for SS at privilege `cpl`; returns (addr, base, limit, attr)."""
        if sel & 0xFFFC == 0:
            raise Fault(vector, 0)
        addr, lo, hi = self.read_descriptor(sel, vector)
        base, limit, attr = self.unpack_descriptor(lo, hi)
        if (sel & 3) != cpl or dpl(attr) != cpl or not attr & A_S or attr & A_CODE or not attr & A_RW:
            raise Fault(vector, sel & 0xFFFC)
        if not attr & A_PRESENT:
            raise Fault(SSF, sel & 0xFFFC)
        return addr, base, limit, attr

    def load_stack_segment(self, sel, cpl):
        addr, base, limit, attr = self.check_stack_segment(sel, cpl)
        attr = self.mark_accessed(addr, attr)
        self.set_seg(SS, sel, base, limit, attr)

    def check_code_segment(self, sel, vector=GP):
        """Descriptor checks common to every CS load; returns (addr, base, limit, attr)."""
        if sel & 0xFFFC == 0:
            raise Fault(vector, 0)
        addr, lo, hi = self.read_descriptor(sel, vector)
        base, limit, attr = self.unpack_descriptor(lo, hi)
        if not attr & A_S or not attr & A_CODE:
            raise Fault(vector, sel & 0xFFFC)
        return addr, base, limit, attr

    def load_code_segment(self, sel, new_cpl, checked=None):
        addr, base, limit, attr = checked or self.check_code_segment(sel)
        if not attr & A_PRESENT:
            raise Fault(NP, sel & 0xFFFC)
        attr = self.mark_accessed(addr, attr)
        self.set_seg(CS, (sel & 0xFFFC) | new_cpl, base, limit, attr)
        self.set_cpl(new_cpl)

    def set_cpl(self, cpl):
        if cpl != self.cpl:
            self.cpl = cpl
            self.flush_fast_tlbs()     # the fast TLBs hold permissions for one CPL

    def update_mode(self):
        """Recompute the bits translated blocks depend on: operand and stack
        size, flat data segments, which segments have limits to check (in
        protected mode; real mode wraps offsets at 64 KiB and, as QEMU, is
        not checked), the CS base, and CS's limit when it has one."""
        sb = self.sbase
        code32 = 1 if self.sattr[CS] & F_DB else 0
        stack32 = 2 if self.sattr[SS] & F_DB else 0
        flat = 4 if (sb[0] | sb[2] | sb[3]) == 0 else 0
        limited = sum(1 << i for i, r in enumerate(self.srange) if r != FULL_RANGE) if self.cr[0] & 1 else 0
        # a segment whose type forbids reads or writes is checked like a limited one
        self.noread, self.nowrite = rights_masks(self.sattr, self.cr[0] & 1 and not self.fl & 0x20000)
        limited |= self.noread | self.nowrite
        self.code32 = bool(code32)
        self.limited = limited
        # blocks stop before an instruction past CS's limit: a limited CS's limit is part of the key
        cs_limit = self.slimit[CS] << 73 if limited >> CS & 1 else 0
        bits = (code32 | stack32 | flat | limited << 3) << 32
        # the in-process block caches name CS's base and limit by a small
        # number, so that a key stays a machine-word int (on PyPy a long key
        # costs a bigint `|`, hash and compare on every block dispatch);
        # the store's key (stored_mode_key) names them themselves
        cs = (sb[CS], cs_limit)
        cs_id = _CS_IDS.get(cs)
        if cs_id is None and len(_CS_IDS) < MAX_CS_IDS:
            cs_id = _CS_IDS[cs] = len(_CS_IDS)
        self.mode_key = bits | cs_id << 41 if cs_id is not None else bits | 1 << 62 | self.stored_mode_key() << 64

    def stored_mode_key(self):
        """The mode bits of `mode_key` with CS's base and limit themselves:
        what the translation store (codecache.py) keys by, the same in
        every process.  (No attribute for it: on PyPy an instance with more
        than 80 attributes keeps them in a dict, and the CPU is near that.)"""
        limited = self.limited
        cs_limit = self.slimit[CS] << 73 if limited >> CS & 1 else 0
        return self.mode_key & 0x1FF00000000 | self.sbase[CS] << 41 | cs_limit

    def checked_linear(self, seg, offset, size):
        """The linear address of a `size`-byte access at seg:offset, or #GP(0)
        (#SS(0) for the stack segment) when a byte of it lies outside the
        segment's limit or the segment is unusable."""
        lo, hi = self.srange[seg]
        if offset < lo or offset + size - 1 > hi or self.noread >> seg & 1:
            raise Fault(SSF if seg == SS else GP, 0)
        return (self.sbase[seg] + offset) & 0xFFFFFFFF

    def checked_write(self, seg):
        """#GP(0) (#SS(0)) for a write through a segment whose type forbids it."""
        if self.nowrite >> seg & 1:
            raise write_fault(seg)

    def stack_linear(self, offset, size):
        """The linear address of a stack access at SS:offset (limit checked)."""
        if self.limited >> SS & 1:
            return self.checked_linear(SS, offset, size)
        return (self.sbase[SS] + offset) & 0xFFFFFFFF

    # ---- table registers ---------------------------------------------------------------
    def load_table_reg(self, which, base, limit):
        self.require_cpl0()
        reg = getattr(self, which)
        reg[0], reg[1] = base & 0xFFFFFFFF, limit & 0xFFFF

    def op_lldt(self, sel):
        self.require_protected_cpl0()
        self.load_ldt(sel)

    def load_ldt(self, sel):
        """LDTR from `sel` with the descriptor checks (LLDT, a task switch)."""
        if sel & 0xFFFC == 0:
            self.ldtr_sel, self.ldtr_base, self.ldtr_limit = sel, 0, 0
            return
        if sel & 4:
            raise Fault(GP, sel & 0xFFFC)
        addr, lo, hi = self.read_descriptor(sel)
        base, limit, attr = self.unpack_descriptor(lo, hi)
        if attr & A_S or attr & 0xF != 2:
            raise Fault(GP, sel & 0xFFFC)
        if not attr & A_PRESENT:
            raise Fault(NP, sel & 0xFFFC)
        self.ldtr_sel, self.ldtr_base, self.ldtr_limit = sel, base, limit

    def op_ltr(self, sel):
        self.require_protected_cpl0()
        if sel & 0xFFFC == 0 or sel & 4:
            raise Fault(GP, sel & 0xFFFC)
        addr, lo, hi = self.read_descriptor(sel)
        base, limit, attr = self.unpack_descriptor(lo, hi)
        if attr & A_S or attr & 0xF not in (1, 9):
            raise Fault(GP, sel & 0xFFFC)
        if not attr & A_PRESENT:
            raise Fault(NP, sel & 0xFFFC)
        self.write_sys(addr + 5, 1, (attr | 2) & 0xFF)     # mark busy
        self.tr_sel, self.tr_base, self.tr_limit, self.tr_attr = sel, base, limit, attr | 2
