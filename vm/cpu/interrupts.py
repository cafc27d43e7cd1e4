"""Control transfers that go through descriptors: exceptions and interrupts
(IVT in real mode, IDT gates in protected mode, with the TSS stack switch
from ring 3), `iret`, and far jmp/call/ret; double and triple fault."""
from __future__ import annotations

from . import gates, tasks, v86
from .held import Holder, held
from .faults import CONTRIBUTORY, WITH_ERROR_CODE, Fault, TripleFault
from .protection import require_in_code_limit
from .flags import IF, NT, RF, TF, VM, AC, IOPL
from .segments import A_CONFORMING_OR_EXPANDDOWN, A_PRESENT, CS, DS, ES, F_DB, FS, GS, GP, NP, SS, dpl

RECENT = 8
# Exceptions in a row with no instruction retired between them after which
# the guest is taken to be faulting forever (a handler whose first
# instruction faults again and again, say): a guest outcome, reported as a
# triple fault. Nested faults a kernel means (a #PF on the handler's stack,
# then its own handler) are a handful deep.
EXCEPTION_LOOP = 1024
# Exceptions between two returns of the run loop to the machine, which looks
# at the wall clock (--timeout) only then: an exception costs far more host
# time than its emulated cycles, so a guest that faults in a loop would
# otherwise stay inside a time slice for a minute.
EXCEPTIONS_PER_TURN = 64


class Interrupts:
    """Mixin for CPU."""
    # the exception-loop counters: off the instance (PyPy's 80-attribute limit, held.py)
    _fault_mark, _fault_streak, _faults = held("fault_loop", "mark", "streak", "delivered")

    def init_interrupts(self):
        self.recent_exceptions = []
        self.on_exception = None
        self.fault_loop = Holder()
        self._fault_mark = -1       # the instruction count at the last exception
        self._fault_streak = 0      # exceptions delivered since an instruction retired
        self._faults = 0            # exceptions delivered (EXCEPTIONS_PER_TURN)

    # ---- stack helpers used by the slow paths -------------------------------------
    def _stack32(self):
        return bool(self.sattr[SS] & F_DB)

    def push_value(self, value, size):
        if self._stack32():
            sp = (self.regs[4] - size) & 0xFFFFFFFF
            self.write_mem(self.stack_linear(sp, size), size, value)
            self.regs[4] = sp
        else:
            sp = (self.regs[4] - size) & 0xFFFF
            self.write_mem(self.stack_linear(sp, size), size, value)
            self.regs[4] = (self.regs[4] & 0xFFFF0000) | sp

    def stack_read(self, offset, size):
        """Read at SS:(E)SP + offset without popping."""
        if self._stack32():
            sp = (self.regs[4] + offset) & 0xFFFFFFFF
        else:
            sp = (self.regs[4] + offset) & 0xFFFF
        return self.read_mem(self.stack_linear(sp, size), size)

    def stack_release(self, nbytes):
        if self._stack32():
            self.regs[4] = (self.regs[4] + nbytes) & 0xFFFFFFFF
        else:
            self.regs[4] = (self.regs[4] & 0xFFFF0000) | ((self.regs[4] + nbytes) & 0xFFFF)

    # ---- exceptions ------------------------------------------------------------------
    def deliver_exception(self, fault: Fault):
        """Deliver a fault raised while executing at self.eip (which is the
        faulting instruction).  Escalates to #DF and triple fault."""
        self._at_fault(fault)
        self._check_exception_loop(fault)
        self._note_exception(fault.vector, fault.code, False)
        try:
            self.interrupt(fault.vector, self.eip, fault.code, software=False)
        except Fault as second:
            self._at_fault(second)
            first = fault.vector
            if first == 8:
                raise TripleFault(f"fault {second} while delivering #DF")
            benign = not (first in CONTRIBUTORY or first == 14)
            if benign or (first in CONTRIBUTORY and second.vector == 14) or \
                    not (second.vector in CONTRIBUTORY or second.vector == 14):
                self.deliver_exception(second)
                return
            self._note_exception(8, 0, False)
            try:
                self.interrupt(8, self.eip, 0, software=False)
            except Fault as third:
                raise TripleFault(f"{third} while delivering #DF (after {fault}, {second})")

    def _at_fault(self, fault):
        """A fault from past a task switch's commit point is the new task's:
        it is taken at the new task's CS:EIP, not the switching instruction's."""
        if fault.task_eip is not None:
            self.eip = fault.task_eip
    def _check_exception_loop(self, fault):
        """End a guest that can only fault: EXCEPTION_LOOP exceptions with no
        instruction retired (rep items count) would go on forever, as on
        hardware whose handler faults at its first instruction with the
        stack never running out; the CPU shuts down instead."""
        self._faults += 1
        if self._faults % EXCEPTIONS_PER_TURN == 0:
            self.cyc_limit = self.limit = -1     # the run returns "event" before the handler runs
        progress = self.insns + self.rep_insns
        if progress != self._fault_mark:
            self._fault_mark, self._fault_streak = progress, 0
        self._fault_streak += 1
        if self._fault_streak > EXCEPTION_LOOP:
            self._fault_streak = 0
            raise TripleFault(f"exception loop: {EXCEPTION_LOOP} exceptions in a row, the last {fault}, "
                              "with no instruction retired between them")

    def _note_exception(self, vector, code, is_interrupt):
        self.recent_exceptions.append((vector, code, self.eip, is_interrupt))
        del self.recent_exceptions[:-RECENT]
        if self.on_exception is not None:
            self.on_exception(vector, code, self.eip, is_interrupt)

    def deliver_irq(self, vector):
        self.halted = False
        self._note_exception(vector, None, True)
        try:
            self.interrupt(vector, self.eip, None, software=False, external=True)
        except Fault as fault:
            self.deliver_exception(fault)
        self.charge("interrupt", self.timing.interrupt)

    def soft_int(self, vector, next_eip, is_trap_insn):
        """INT n / INT3 / INTO: the pushed return address is the next instruction."""
        if self.protected and self.fl & VM and (self.fl & IOPL) != IOPL:
            raise Fault(GP, 0)
        self.interrupt(vector, next_eip, None, software=True)
        self.charge("interrupt", self.timing.interrupt)

    def interrupt(self, vector, return_eip, code, software, external=False):
        if not self.protected:
            self._real_mode_interrupt(vector, return_eip)
        else:
            self._protected_interrupt(vector, return_eip, code, software, external)

    def _real_mode_interrupt(self, vector, return_eip):
        base, limit = self.idtr
        if vector * 4 + 3 > limit:
            raise Fault(GP, vector * 8 + 2)
        entry = self.read_mem(base + vector * 4, 4)
        self.push_value(self.get_eflags() & 0xFFFF, 2)
        self.push_value(self.seg[CS], 2)
        self.push_value(return_eip & 0xFFFF, 2)
        self.fl &= ~(IF | TF | AC | RF)
        self.load_seg(CS, entry >> 16)
        self.eip = entry & 0xFFFF

    def _protected_interrupt(self, vector, return_eip, code, software, external):
        ext = 1 if external or not software else 0
        gate_err = vector * 8 + 2 + ext
        base, limit = self.idtr
        if vector * 8 + 7 > limit:
            raise Fault(GP, gate_err)
        lo = self.read_sys(base + vector * 8, 4)
        hi = self.read_sys(base + vector * 8 + 4, 4)
        gtype = hi >> 8 & 0x1F
        if gtype not in (0x05, 0x06, 0x07, 0x0E, 0x0F):
            raise Fault(GP, gate_err)
        if software and dpl(hi >> 8) < self.cpl:
            raise Fault(GP, gate_err)
        if not hi & 0x8000:
            raise Fault(NP, gate_err)
        if gtype == 0x05:        # a task gate: the handler is a task of its own
            tasks.switch(self, lo >> 16, "int", return_eip,
                         code if code is not None and vector in WITH_ERROR_CODE else None)
            return
        sel = lo >> 16
        offset = (hi & 0xFFFF0000) | (lo & 0xFFFF)
        gate32 = bool(gtype & 8)
        if not gate32:
            offset &= 0xFFFF
        checked = self.check_code_segment(sel, GP)
        _, cbase, climit, cattr = checked
        if sel & 0xFFFC == 0:
            raise Fault(GP, ext)
        if dpl(cattr) > self.cpl:
            raise Fault(GP, (sel & 0xFFFC) + ext)
        if not cattr & A_PRESENT:
            raise Fault(NP, (sel & 0xFFFC) + ext)
        size = 4 if gate32 else 2
        eflags = self.get_eflags()
        old_cs, old_ss, old_esp = self.seg[CS], self.seg[SS], self.regs[4]
        conforming = cattr & A_CONFORMING_OR_EXPANDDOWN
        new_cpl = self.cpl if conforming else dpl(cattr)
        if self.fl & VM:
            require_in_code_limit(checked, offset, ext)
            v86.interrupt_out(self, sel, checked, new_cpl, gate32, eflags, return_eip, code, vector, offset,
                              gtype & 1)
            return
        if new_cpl < self.cpl:
            # inner privilege: switch to the stack the TSS names for new_cpl
            ss_sel, esp = self._tss_stack(new_cpl)
            _, sbase, slimit, sattr = self.check_stack_segment(ss_sel, new_cpl, vector=10)
            require_in_code_limit(checked, offset, ext)
            saved = (list(self.regs), self.seg[:], self.sbase[:], self.slimit[:], self.sattr[:], self.cpl)
            try:
                self.set_seg(SS, ss_sel, sbase, slimit, sattr)
                self.regs[4] = esp
                self.set_cpl(new_cpl)
                self.push_value(old_ss, size)
                self.push_value(old_esp, size)
                self._push_frame(eflags, old_cs, return_eip, code, vector, size)
            except Fault:
                self._restore(saved)
                raise
        else:
            require_in_code_limit(checked, offset, ext)
            self._push_frame(eflags, old_cs, return_eip, code, vector, size)
        self.load_code_segment(sel, new_cpl, checked)
        self.eip = offset
        self.fl &= ~(TF | NT | RF | VM)
        if not gtype & 1:
            self.fl &= ~IF

    def _push_frame(self, eflags, cs, eip, code, vector, size):
        self.push_value(eflags & (0xFFFFFFFF if size == 4 else 0xFFFF), size)
        self.push_value(cs, size)
        self.push_value(eip, size)
        if code is not None and vector in WITH_ERROR_CODE:
            self.push_value(code, size)

    def _restore(self, saved):
        regs, seg, sbase, slimit, sattr, cpl = saved
        self.regs[:] = regs
        self.seg[:], self.sbase[:], self.slimit[:], self.sattr[:] = seg, sbase, slimit, sattr
        self.set_cpl(cpl)
        self.update_mode()

    def _tss_stack(self, cpl):
        if self.tr_attr & 0xF in (0x9, 0xB):      # 32-bit TSS
            off = 4 + cpl * 8
            if off + 5 > self.tr_limit:
                raise Fault(10, self.tr_sel & 0xFFFC)
            return self.read_sys(self.tr_base + off + 4, 2), self.read_sys(self.tr_base + off, 4)
        off = 2 + cpl * 4
        if off + 3 > self.tr_limit:
            raise Fault(10, self.tr_sel & 0xFFFC)
        return self.read_sys(self.tr_base + off + 2, 2), self.read_sys(self.tr_base + off, 2)

    # ---- iret --------------------------------------------------------------------------
    def iret(self, osz, next_eip=None):
        size = osz // 8
        if self.protected and self.fl & VM and (self.fl & IOPL) != IOPL:
            raise Fault(GP, 0)           # IRET in V86 mode is IOPL-sensitive
        if not self.protected or self.fl & VM:
            eip = self.stack_read(0, size)
            cs = self.stack_read(size, size) & 0xFFFF
            flags = self.stack_read(2 * size, size)
            self.stack_release(3 * size)
            self.load_seg(CS, cs)
            self.eip = eip & (0xFFFFFFFF if size == 4 else 0xFFFF)
            self._set_flags_from_pop(flags, size, iret=True)
            return
        if self.fl & NT:             # a task return, along the back link
            tasks.switch(self, self.read_sys(self.tr_base, 2), "iret", self.eip if next_eip is None else next_eip)
            return
        eip = self.stack_read(0, size)
        cs = self.stack_read(size, size) & 0xFFFF
        flags = self.stack_read(2 * size, size)
        if flags & VM and self.cpl == 0 and size == 4:
            v86.enter_from_iret(self, eip, cs, flags)
            return
        checked = self.check_code_segment(cs)
        rpl = cs & 3
        cattr = checked[3]
        if rpl < self.cpl:
            raise Fault(GP, cs & 0xFFFC)
        if cattr & A_CONFORMING_OR_EXPANDDOWN:
            if dpl(cattr) > rpl:
                raise Fault(GP, cs & 0xFFFC)
        elif dpl(cattr) != rpl:
            raise Fault(GP, cs & 0xFFFC)
        if not cattr & A_PRESENT:
            raise Fault(NP, cs & 0xFFFC)
        old_cpl = self.cpl
        eip &= 0xFFFFFFFF if size == 4 else 0xFFFF
        if rpl > self.cpl:
            esp = self.stack_read(3 * size, size)
            ss = self.stack_read(4 * size, size) & 0xFFFF
            ss_checked = self.check_stack_segment(ss, rpl)
            require_in_code_limit(checked, eip)
            self.load_code_segment(cs, rpl, checked)
            self.set_seg(SS, ss, *ss_checked[1:])
            self._set_outer_sp(esp)
            self._null_inaccessible_segments(rpl)
        else:
            require_in_code_limit(checked, eip)
            self.stack_release(3 * size)
            self.load_code_segment(cs, rpl, checked)
        self.eip = eip
        self._set_flags_from_pop(flags, size, iret=True, cpl=old_cpl)

    def _set_outer_sp(self, sp):
        """(E)SP after IRET or RETF to an outer level, SS already loaded: the
        popped value (a word after 16-bit pops, zero-extended) goes whole
        into ESP on a 32-bit stack and into SP only on a 16-bit one; SS's B
        bit decides, not the operand size (SDM RET: "ESP <- tempESP")."""
        if self._stack32():
            self.regs[4] = sp & 0xFFFFFFFF
        else:
            self.regs[4] = (self.regs[4] & 0xFFFF0000) | (sp & 0xFFFF)

    def _null_inaccessible_segments(self, cpl):
        for i in (ES, DS, FS, GS):
            attr = self.sattr[i]
            is_conforming_code = attr & 0x08 and attr & 0x04
            if self.seg[i] & 0xFFFC and not is_conforming_code and dpl(attr) < cpl:
                self.set_seg(i, 0, 0, 0, 0)

    # ---- far transfers ---------------------------------------------------------------
    def far_jump(self, sel, offset, osz, next_eip):
        if not self.protected or self.fl & VM:
            self.load_seg(CS, sel)
            self.eip = offset & (0xFFFFFFFF if osz == 32 else 0xFFFF)
            return
        system = gates.system_descriptor(self, sel)
        if system is not None and gates.is_call_gate(system[1]):
            gates.jump_through_gate(self, sel, *system)
            return
        if system is not None and tasks.far_transfer(self, sel, system[0], system[1], "jmp", next_eip):
            return
        checked = self._far_target_checks(sel)
        offset &= 0xFFFFFFFF if osz == 32 else 0xFFFF
        require_in_code_limit(checked, offset)
        self.load_code_segment(sel, self.cpl, checked)
        self.eip = offset

    def far_call(self, sel, offset, osz, next_eip):
        size = osz // 8
        if self.protected and not self.fl & VM:
            system = gates.system_descriptor(self, sel)
            if system is not None and gates.is_call_gate(system[1]):
                gates.call_through_gate(self, sel, system[0], system[1], next_eip)
                return
            if system is not None and tasks.far_transfer(self, sel, system[0], system[1], "call", next_eip):
                return
            checked = self._far_target_checks(sel)
            require_in_code_limit(checked, offset & (0xFFFFFFFF if osz == 32 else 0xFFFF))
        saved_sp = self.regs[4]
        try:
            self.push_value(self.seg[CS], size)
            self.push_value(next_eip, size)
        except Fault:
            self.regs[4] = saved_sp
            raise
        if self.protected and not self.fl & VM:
            self.load_code_segment(sel, self.cpl, checked)
        else:
            self.load_seg(CS, sel)
        self.eip = offset & (0xFFFFFFFF if osz == 32 else 0xFFFF)

    def _far_target_checks(self, sel):
        checked = self.check_code_segment(sel)
        attr = checked[3]
        if attr & A_CONFORMING_OR_EXPANDDOWN:
            if dpl(attr) > self.cpl:
                raise Fault(GP, sel & 0xFFFC)
        elif dpl(attr) != self.cpl or (sel & 3) > self.cpl:
            raise Fault(GP, sel & 0xFFFC)
        if not attr & A_PRESENT:
            raise Fault(NP, sel & 0xFFFC)
        return checked

    def far_return(self, osz, release):
        size = osz // 8
        eip = self.stack_read(0, size)
        cs = self.stack_read(size, size) & 0xFFFF
        if not self.protected or self.fl & VM:
            self.stack_release(2 * size + release)
            self.load_seg(CS, cs)
            self.eip = eip & (0xFFFFFFFF if size == 4 else 0xFFFF)
            return
        checked = self.check_code_segment(cs)
        rpl, attr = cs & 3, checked[3]
        if rpl < self.cpl:
            raise Fault(GP, cs & 0xFFFC)
        if (dpl(attr) > rpl) if attr & A_CONFORMING_OR_EXPANDDOWN else (dpl(attr) != rpl):
            raise Fault(GP, cs & 0xFFFC)
        if not attr & A_PRESENT:
            raise Fault(NP, cs & 0xFFFC)
        eip &= 0xFFFFFFFF if size == 4 else 0xFFFF
        if rpl > self.cpl:
            esp = self.stack_read(2 * size + release, size)
            ss = self.stack_read(3 * size + release, size) & 0xFFFF
            ss_checked = self.check_stack_segment(ss, rpl)
            require_in_code_limit(checked, eip)
            self.load_code_segment(cs, rpl, checked)
            self.set_seg(SS, ss, *ss_checked[1:])
            self._set_outer_sp(esp + release)     # `retf n` releases n bytes on the outer stack too
            self._null_inaccessible_segments(rpl)
        else:
            require_in_code_limit(checked, eip)
            self.stack_release(2 * size + release)
            self.load_code_segment(cs, rpl, checked)
        self.eip = eip
