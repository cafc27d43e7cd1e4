"""Virtual-8086 mode (SDM vol. 3, chapter 20; 80386): entry by IRET at CPL 0
with VM=1 in the popped EFLAGS or by a task switch to a 386 TSS whose
EFLAGS image has VM=1, real-mode-style segments at CPL 3, and the
way out: an interrupt or exception to a DPL-0 non-conforming handler, which
pushes GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP (and the error code) on
the ring-0 stack and nulls DS, ES, FS and GS.  The IOPL-sensitive
instructions check IOPL themselves (system.py, interrupts.py)."""
from __future__ import annotations

from .faults import Fault
from .flags import IF, NT, RF, TF, VM
from .segments import CS, DS, ES, FS, GS, GP, SS

V86_DATA = 0xF3          # present, DPL 3, writable data, accessed: 64 KiB, 16-bit
V86_CODE = 0xFB          # the same as code
TS = 10


def enter_from_iret(cpu, eip, cs, flags):
    """IRET (32-bit, CPL 0) whose EFLAGS image has VM=1: pop the rest of the
    9-dword frame and start the V86 task at CS:IP."""
    esp, ss, es, ds, fs, gs = (cpu.stack_read(4 * k, 4) for k in range(3, 9))
    cpu.set_eflags(flags)                       # at CPL 0 every flag, VM included, is taken
    load_segments(cpu, {CS: cs, SS: ss, ES: es, DS: ds, FS: fs, GS: gs})
    cpu.regs[4] = esp
    cpu.eip = eip & 0xFFFF


def load_segments(cpu, sels):
    """The six segment registers from `sels` ({register: selector}) the way
    V86 mode loads them (base = selector x 16, limit 64 KiB, DPL 3, no
    descriptor read), and CPL 3: the end of an IRET to V86 and of a task
    switch to a TSS whose EFLAGS image has VM=1 (VM is already set)."""
    for seg in (CS, SS, ES, DS, FS, GS):
        sel = sels[seg] & 0xFFFF
        cpu.set_seg(seg, sel, sel << 4, 0xFFFF, V86_CODE if seg == CS else V86_DATA)
    cpu.set_cpl(3)
    cpu.update_mode()


def interrupt_out(cpu, sel, checked, new_cpl, gate32, eflags, return_eip, code, vector, offset, trap):
    """An interrupt or exception taken in V86 mode through an interrupt or
    trap gate: only to a DPL-0 non-conforming code segment, #GP(selector)
    otherwise.  (Through a task gate the task switch saves the V86 state,
    VM=1 included, in the V86 task's TSS: tasks.py.)"""
    if new_cpl != 0:
        raise Fault(GP, sel & 0xFFFC)
    ss_sel, esp = cpu._tss_stack(0)
    _, sbase, slimit, sattr = cpu.check_stack_segment(ss_sel, 0, vector=TS)
    size = 4 if gate32 else 2
    old = [cpu.seg[i] for i in (GS, FS, DS, ES, SS)] + [cpu.regs[4]]
    saved = (list(cpu.regs), cpu.seg[:], cpu.sbase[:], cpu.slimit[:], cpu.sattr[:], cpu.cpl)
    old_cs = cpu.seg[CS]
    try:
        cpu.set_seg(SS, ss_sel, sbase, slimit, sattr)
        cpu.regs[4] = esp
        cpu.set_cpl(0)
        for value in old:
            cpu.push_value(value, size)
        cpu._push_frame(eflags, old_cs, return_eip, code, vector, size)
    except Fault:
        cpu._restore(saved)
        raise
    for i in (ES, DS, FS, GS):
        cpu.set_seg(i, 0, 0, 0, 0)
    cpu.fl &= ~(TF | NT | RF | VM)
    if not trap:
        cpu.fl &= ~IF
    cpu.load_code_segment(sel, 0, checked)
    cpu.eip = offset
    cpu.update_mode()
