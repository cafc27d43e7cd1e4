"""Protection: descriptor checks (#GP(selector) after a clobbered GDT), ring 3
with the TSS stack switch, double and triple fault, self-modifying code."""
import struct

from tests.cpu.asm import assemble
from tests.cpu.bare import gate, gdt_entry, protected
from vm.flat import FlatMachine

IDTR = "\nidtr_ptr: .word 0x7ff\n.long 0x10000\n"


def with_idt(cpu, vector, offset, selector=0x08, kind=0x8E):
    cpu.mem.write(0x10000 + vector * 8, gate(offset, selector, kind))


def test_iret_after_a_clobbered_gdt_entry_gives_gp_with_the_selector():
    # the seed's "fun memset": the GDT entry of CS is overwritten, and the
    # next iret (which reloads CS from the GDT) raises #GP(0x8)
    cpu = protected("""
lidtl idtr_ptr
int $0x40
hlt
""" + IDTR + """
.org 0x200
clobber:
movl $0, 0x508
movl $0, 0x50c
iretl
.org 0x300
gp_handler:
popl %eax
hlt
""")
    with_idt(cpu, 0x40, 0x7C00 + 0x200)
    with_idt(cpu, 13, 0x7C00 + 0x300, selector=0x30)
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.eax == 0x8
    assert [v for v, *_ in cpu.recent_exceptions][-1] == 13


def test_loading_a_data_segment_checks_the_descriptor():
    cpu = protected("""
lidtl idtr_ptr
movw $0x08, %ax
movw %ax, 0x600
movw $0x38, %ax
movw %ax, %ds
hlt
""" + IDTR + """
.org 0x300
np_handler:
popl %eax
hlt
""")
    cpu.mem.write(0x500 + 0x38, gdt_entry(0, 0xFFFFF, 0x12))   # data segment, not present
    with_idt(cpu, 11, 0x7C00 + 0x300)
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.eax == 0x38


def test_triple_fault_stops_with_a_report():
    cpu = protected("""
lidtl idtr_ptr
ud2
""" + "\nidtr_ptr: .word 0\n.long 0x10000\n")
    assert cpu.run(max_insns=1000) == "triple-fault"
    report = cpu.triple_fault_report
    assert "triple fault" in report and "#UD" in report and "#DF" in report


def test_double_fault_is_delivered_when_its_gate_works():
    cpu = protected("""
lidtl idtr_ptr
ud2
""" + IDTR + """
.org 0x300
df_handler:
popl %eax
movl $0xDF, %ebx
hlt
""")
    # #UD's gate names a code segment that is not present -> #NP -> #DF
    cpu.mem.write(0x500 + 0x38, gdt_entry(0, 0xFFFFF, 0x1A))
    with_idt(cpu, 6, 0x7C00, selector=0x38)
    with_idt(cpu, 11, 0x7C00, selector=0x38)
    with_idt(cpu, 8, 0x7C00 + 0x300)
    assert cpu.run(max_insns=1000) == "hlt"
    assert (cpu.eax, cpu.ebx) == (0, 0xDF)


RING3 = """
lidtl idtr_ptr
movw $0x28, %ax
ltr %ax
pushl $0x23
pushl $0x70000
pushl $0x2
pushl $0x1b
pushl $user
iretl
user:
movl $0x55, %ebx
int $0x80
""" + IDTR + """
.org 0x300
syscall:
movl %esp, %esi
movl 4(%esp), %ecx
movl 16(%esp), %edx
hlt
.org 0x380
gp:
popl %eax
movl 0(%esp), %edi
hlt
"""


def ring3_cpu(extra_user=""):
    cpu = protected(RING3.replace("int $0x80", extra_user + "\nint $0x80"))
    tss = bytearray(0x68)
    tss[4:8] = struct.pack("<I", 0x80000)
    tss[8:10] = struct.pack("<H", 0x10)
    cpu.mem.write(0x3000, bytes(tss))
    cpu.mem.write(0x500 + 0x28, gdt_entry(0x3000, 0x67, 0x89, flags=0))
    with_idt(cpu, 0x80, 0x7C00 + 0x300, kind=0xEE)
    with_idt(cpu, 13, 0x7C00 + 0x380)
    return cpu


def test_interrupt_from_ring3_switches_to_the_tss_stack():
    cpu = ring3_cpu()
    assert cpu.run(max_insns=1000) == "hlt"
    assert cpu.esi == 0x80000 - 20          # eip, cs, eflags, esp, ss
    assert cpu.ecx == 0x1B and cpu.edx == 0x23
    assert cpu.ebx == 0x55
    assert cpu.cpl == 0


def test_privileged_instructions_fault_in_ring3():
    for insn in ("cli", "hlt", "movl %cr0, %eax", "lgdtl 0x600"):
        cpu = ring3_cpu(insn)
        assert cpu.run(max_insns=1000) == "hlt", insn
        assert cpu.eax == 0, insn
        assert cpu.edi & 0xFFFF0000 == 0 and cpu.cpl == 0


def ring3_cpu_with_io_bitmap(user_code, allowed_ports):
    """Ring 3 (IOPL 0) under a TSS whose I/O bitmap (ports 0-0x3FF, then the
    0xFF byte the hardware's two-byte read needs) allows `allowed_ports`."""
    cpu = ring3_cpu(user_code)
    bitmap = bytearray(b"\xff" * 0x81)
    for port in allowed_ports:
        bitmap[port >> 3] &= ~(1 << (port & 7))
    cpu.mem.write(0x3000 + 0x66, struct.pack("<H", 0x68))
    cpu.mem.write(0x3000 + 0x68, bytes(bitmap))
    cpu.mem.write(0x500 + 0x28, gdt_entry(0x3000, 0x68 + len(bitmap) - 1, 0x89, flags=0))
    return cpu


def reached_the_syscall(cpu):
    assert cpu.run(max_insns=1000) == "hlt"
    return cpu.ebx == 0x55 and cpu.esi == 0x80000 - 20


def test_io_in_ring3_follows_the_tss_permission_bitmap():
    assert reached_the_syscall(ring3_cpu_with_io_bitmap("inb $0x61, %al\noutb %al, $0x61", [0x61]))
    assert reached_the_syscall(ring3_cpu_with_io_bitmap("movw $0x3f8, %dx\noutl %eax, %dx", range(0x3F8, 0x3FC)))
    # ins stores through ES, which the iret to ring 3 left null: load the user data segment
    assert reached_the_syscall(ring3_cpu_with_io_bitmap("movw $0x23, %ax\nmovw %ax, %es\n"
                                                        "movw $0x61, %dx\nmovl $0x600, %edi\ninsb", [0x61]))
    for code in ("inb $0x60, %al",                   # its bit is set
                 "inw $0x61, %ax",                   # 0x61 is allowed, 0x62 is not
                 "movw $0x3fb, %dx\ninl %dx, %eax",  # crosses into a denied bitmap byte
                 "movw $0x3ff, %dx\noutb %al, %dx",  # the last port covered: denied there
                 "movw $0x400, %dx\ninb %dx, %al",   # the bitmap's bytes beyond the TSS limit
                 "movw $0x60, %dx\nmovl $0x600, %edi\ninsb"):
        cpu = ring3_cpu_with_io_bitmap(code, [0x61, 0x3F8])
        assert not reached_the_syscall(cpu), code
        assert cpu.eax == 0 and cpu.cpl == 0, code    # #GP(0) reached its handler


class CountingPorts:
    timed = False          # a hot trace reads it inline, where the CPL allows

    def __init__(self):
        self.reads = 0

    def port_read(self, port, size):
        self.reads += 1
        return 0

    def port_write(self, port, size, value):
        pass


def test_io_in_a_ring3_hot_trace_still_follows_the_bitmap():
    """A loop reading ports 0xE0, 0xE1... becomes a trace with inline port
    reads; at CPL 3 they still take the checked path: #GP(0) at the first
    denied port (0xE4), after four reads."""
    cpu = ring3_cpu_with_io_bitmap("movw $0xe0, %dx\nmovl $8, %ecx\nread: inb %dx, %al\nincw %dx\nloop read",
                                   range(0xE0, 0xE4))
    dev = CountingPorts()
    cpu.ports.register(0xE0, 8, dev)
    assert not reached_the_syscall(cpu)
    assert dev.reads == 4 and cpu.edx & 0xFFFF == 0xE4 and cpu.ecx == 4
    assert cpu.eax == 0 and cpu.cpl == 0           # #GP(0) reached its handler
    loops = [fn.block for fn in cpu.blocks.values() if fn.block.loop]
    assert len(loops) == 1 and "UNTIMED.get" in loops[0].source and cpu.edi == loops[0].eips[0]


def pushed_eflags(cpu):
    """EFLAGS in the #GP frame the ring-0 handler stopped with (EIP at ESP)."""
    return struct.unpack("<I", cpu.mem.read(cpu.esp + 8, 4))[0]


def test_a_fault_at_a_hot_traces_port_access_pushes_the_flags_before_it():
    """A trace keeps the flags record in locals across its inline in/out;
    a #GP there must still push the flags of the instructions before it:
    the previous lap's `incw` (CF kept from `stc`, PF of 0xE4) at an `in`,
    this lap's `cmpb` (0 - 5: CF, AF, SF) at an `out`."""
    cpu = ring3_cpu_with_io_bitmap("stc\nmovw $0xe0, %dx\nmovl $8, %ecx\n"
                                   "read: inb %dx, %al\nincw %dx\nloop read", range(0xE0, 0xE4))
    cpu.ports.register(0xE0, 8, CountingPorts())
    assert not reached_the_syscall(cpu) and cpu.edx & 0xFFFF == 0xE4
    assert pushed_eflags(cpu) & 0xFFF == 0x2 | 0x1 | 0x4
    cpu = ring3_cpu_with_io_bitmap("movw $0xe1, %dx\nmovl $8, %ecx\n"
                                   "write: inb $0xe0, %al\ncmpb %cl, %al\noutb %al, %dx\nincw %dx\nloop write",
                                   range(0xE0, 0xE4))
    cpu.ports.register(0xE0, 8, CountingPorts())
    assert not reached_the_syscall(cpu) and cpu.edx & 0xFFFF == 0xE4 and cpu.ecx == 5
    assert pushed_eflags(cpu) & 0xFFF == 0x2 | 0x1 | 0x10 | 0x80
    assert [fn.block.loop for fn in cpu.blocks.values()].count(True) == 1


def test_io_in_ring3_without_a_bitmap_faults():
    cpu = ring3_cpu("inb $0x61, %al")
    cpu.mem.write(0x3000 + 0x66, struct.pack("<H", 0x68))    # the map starts past the TSS limit
    assert not reached_the_syscall(cpu)
    assert cpu.eax == 0 and cpu.cpl == 0


def test_self_modifying_code_in_the_same_block():
    fm = FlatMachine.from_code(assemble("""
xorl %eax, %eax
movb $0x40, target
target:
nop
ret""", base=0x100000))
    assert fm.call("start") == 1


def test_code_written_then_called_then_overwritten():
    fm = FlatMachine.from_code(assemble("""
movl 4(%esp), %edx
xorl %eax, %eax
movb $0x40, (%edx)
movb $0xC3, 1(%edx)
call *%edx
call *%edx
movb $0x48, (%edx)
call *%edx
ret""", base=0x100000))
    buf = fm.alloc(4096, align=4096)
    assert fm.call("start", buf) == 1
    page = buf >> 12
    assert fm.mem.executed_bytes(page) == 2          # dec eax; ret were executed
    fm.write(buf, b"\x00\x00")
    assert fm.mem.executed_bytes(page) == 0
