"""Virtual-8086 mode (SDM vol. 3, ch. 20): IRET entry with VM=1, real-mode
segments at CPL 3, interrupts out to a ring-0 handler with the 9-dword frame,
the IOPL-sensitive instructions, and I/O through the TSS bitmap."""
import struct

from tests.cpu.bare import gate, gdt_entry, protected

TSS = 0x1000
ENTER = """
lidtl idtr_ptr
lgdtl gdt_big
movw $0x28, %ax
ltr %ax
pushl $0x0000          # GS
pushl $0x0300          # FS
pushl $0x0100          # DS
pushl $0x0200          # ES
pushl $0x0700          # SS
pushl $0x0FF0          # SP
pushl ${eflags}
pushl $0x0800          # CS: the V86 code at 0x8000
pushl $0
iretl
"""
TAIL = """
idtr_ptr: .word 0x7ff
.long 0x10000
gdt_big: .word 0xff
.long 0x500
.org 0x400
.code16
v86:
{v86}
.code32
.org 0x600
handler:
movl %esp, %ebp
hlt
.org 0x680
gp:
popl %edi
movl %esp, %ebp
hlt
"""
VM, IOPL3 = 0x20000, 0x3000


def v86_machine(code, eflags=VM | IOPL3 | 2, tss_limit=0x67):
    cpu = protected(ENTER.format(eflags=eflags) + TAIL.format(v86=code))
    cpu.mem.write(0x500 + 0x28, gdt_entry(TSS, tss_limit, 0x89, 0))
    cpu.mem.write(TSS + 4, struct.pack("<II", 0x80000, 0x10))
    cpu.mem.write(0x10000 + 0x30 * 8, gate(0x7C00 + 0x600, kind=0xEE))    # DPL 3 interrupt gate
    cpu.mem.write(0x10000 + 13 * 8, gate(0x7C00 + 0x680))
    return cpu


def frame(cpu, n=9):
    return list(struct.unpack(f"<{n}I", cpu.mem.read(cpu.ebp, 4 * n)))


def test_v86_entry_uses_real_mode_segments_and_int_leaves_with_the_nine_dword_frame():
    cpu = v86_machine("""
movw %cs, %ax
movw %ss, %si
movw $0x5678, 0x10
movw $0x9ABC, %es:0x10
int $0x30
""")
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.eax & 0xFFFF == 0x0800 and cpu.esi & 0xFFFF == 0x0700
    assert cpu.mem.read(0x1010, 2) == b"\x78\x56" and cpu.mem.read(0x2010, 2) == b"\xbc\x9a"
    eip, cs, eflags, esp, ss, es, ds, fs, gs = frame(cpu)
    assert (cs, esp, ss, es, ds, fs, gs) == (0x0800, 0x0FF0, 0x0700, 0x0200, 0x0100, 0x0300, 0)
    assert eflags & (VM | IOPL3) == VM | IOPL3 and 0 < eip < 0x40
    assert cpu.ebp == 0x80000 - 36 and cpu.cpl == 0 and not cpu.fl & VM
    assert [cpu.get_seg(i) for i in (0, 3, 4, 5)] == [0, 0, 0, 0] and cpu.get_seg(1) == 0x08


def test_iopl_sensitive_instructions_raise_gp0_in_v86_below_iopl_3():
    for insn in ("cli", "sti", "pushf", "popf", "int $0x30", "iret"):
        cpu = v86_machine("nop\nsensitive:\n" + insn + "\nint $0x30\n", eflags=VM | 2)
        assert cpu.run(max_insns=2000) == "hlt", insn
        assert cpu.edi == 0 and cpu.recent_exceptions[-1][:2] == (13, 0), insn
        eip, cs, eflags, esp = frame(cpu, 4)
        assert (eip, cs, esp) == (1, 0x0800, 0x0FF0) and eflags & VM, insn


def test_cli_and_iret_at_iopl_3_behave_as_in_real_mode():
    cpu = v86_machine("""
cli
pushf
popw %bx
pushf
pushw %cs
pushw $(after - v86)
iret
movw $0xBAD, %cx
after:
movw $0x600D, %cx
int $0x30
""")
    cpu.regs[1] = 0
    assert cpu.run(max_insns=2000) == "hlt"
    assert not cpu.ebx & 0x200 and cpu.ecx & 0xFFFF == 0x600D


def test_io_in_v86_goes_through_the_tss_bitmap():
    cpu = v86_machine("movb $0x41, %al\noutb %al, $0xE9\noutb %al, $0x80\nint $0x30\n",
                      eflags=VM | 2, tss_limit=0x68 + 0x20 + 1)
    cpu.mem.write(TSS + 0x66, struct.pack("<H", 0x68))
    bitmap = bytearray(b"\xff" * 0x22)
    bitmap[0xE9 >> 3] &= ~(1 << (0xE9 & 7))
    cpu.mem.write(TSS + 0x68, bytes(bitmap))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.out.data == b"A"
    assert cpu.edi == 0 and frame(cpu, 2)[1] == 0x0800 and cpu.recent_exceptions[-1][:2] == (13, 0)


def test_an_interrupt_from_v86_to_a_ring_3_handler_raises_gp_with_its_selector():
    cpu = v86_machine("int $0x30\n")
    cpu.mem.write(0x10000 + 0x30 * 8, gate(0x7C00 + 0x600, selector=0x1B, kind=0xEE))
    assert cpu.run(max_insns=2000) == "hlt"
    assert cpu.edi == 0x18
