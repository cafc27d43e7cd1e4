"""Segment limits in protected mode: an access with a byte outside its
segment raises #GP(0), or #SS(0) through SS; expand-down segments invert
the range; a null data segment has no inside; rep strings fault at the
first item outside, with the registers of the items done."""
from tests.cpu.bare import gdt_entry, protected
from tests.cpu.test_protection import IDTR, with_idt

SMALL = 0x38                 # GDT entry the tests fill: base 0x20000, limit 0xFFF, byte granular
HANDLERS = """
.org 0x300
gp:
movl %ecx, %ebp
popl %ecx
movl (%esp), %edx
movl $13, %esi
hlt
.org 0x380
ss:
movl %ecx, %ebp
popl %ecx
movl (%esp), %edx
movl $12, %esi
hlt
"""


def run(code, access=0x92, data=b""):
    cpu = protected("lidtl idtr_ptr\n" + code + "\nmovl $0x99, %esi\nhlt\n" + IDTR + HANDLERS)
    cpu.mem.write(0x500 + SMALL, gdt_entry(0x20000, 0xFFF, access, flags=0x4))
    cpu.mem.write(0x20000, data)
    with_idt(cpu, 13, 0x7C00 + 0x300)
    with_idt(cpu, 12, 0x7C00 + 0x380)
    cpu.esi = cpu.edx = cpu.ecx = 0xDEAD
    assert cpu.run(max_insns=10_000) == "hlt"
    return cpu


def labels_of(code):
    from tests.cpu.asm import assemble_with_labels
    from tests.cpu.bare import PM_PROLOGUE
    return assemble_with_labels(PM_PROLOGUE + "lidtl idtr_ptr\n" + code + "\nhlt\n" + IDTR, code16=True, base=0)[1]


def load(segment):
    return f"movw ${SMALL}, %ax\nmovw %ax, %{segment}\n"


def faulted(cpu, vector):
    """The handler for `vector` ran with error code 0 (it keeps ECX in EBP
    and puts the faulting EIP in EDX)."""
    return cpu.esi == vector and cpu.ecx == 0 and 0x7C00 < cpu.edx < 0x7F00


def test_data_access_up_to_the_limit_works_and_past_it_gives_gp():
    cpu = run(load("ds") + "movl 0xffc, %eax", data=bytes(0xFFC) + b"\x44\x33\x22\x11")
    assert cpu.esi == 0x99 and cpu.eax == 0x11223344
    code = load("ds") + "fault_here: movl 0xffd, %eax"      # its last byte is at 0x1000
    cpu = run(code)
    assert faulted(cpu, 13) and cpu.edx == 0x7C00 + labels_of(code)["fault_here"]
    cpu = run(load("fs") + "movb $1, %fs:0x1000")
    assert faulted(cpu, 13)


def test_ss_relative_access_past_the_limit_gives_ss():
    # the stack itself stays inside (the handler's frame is pushed there)
    cpu = run(load("ss") + "movl $0x800, %esp\nmovl 0x900(%esp), %eax")
    assert faulted(cpu, 12)
    cpu = run(load("ss") + "movl $0x800, %esp\npushl $7\npopl %ebx")
    assert cpu.esi == 0x99 and cpu.ebx == 7


def test_expand_down_segment_holds_the_offsets_above_its_limit():
    cpu = run(load("es") + "movl $0x5a5a5a5a, %es:0x1000\nmovl %es:0x1000, %eax", access=0x96)
    assert cpu.esi == 0x99 and cpu.eax == 0x5A5A5A5A and cpu.mem.read(0x21000, 4) == b"\x5a" * 4
    cpu = run(load("es") + "movl %es:0xffe, %eax", access=0x96)
    assert faulted(cpu, 13)
    cpu = run(load("es") + "movl %es:0x1000, %eax")          # expanding up, 0x1000 is outside
    assert faulted(cpu, 13)


def test_a_null_data_segment_faults_on_use():
    cpu = run("xorw %ax, %ax\nmovw %ax, %gs\nmovl %gs:0x100, %eax")
    assert faulted(cpu, 13)


def test_rep_stos_faults_at_the_first_item_outside():
    cpu = run(load("es") + "movl $0xff0, %edi\nmovl $0x20, %ecx\nmovb $0xab, %al\ncld\nrep stosb")
    assert faulted(cpu, 13)
    assert cpu.ebp == 0x10 and cpu.regs[7] == 0x1000          # ECX and EDI of the items done
    assert cpu.mem.read(0x20FF0, 0x11) == b"\xab" * 0x10 + b"\x00"


def test_running_past_the_code_segment_limit_gives_gp_at_the_first_instruction_outside():
    code = f"ljmpl ${SMALL}, $in_small\nin_small: nop\nnop\nedge: nop"
    edge = 0x7C00 + labels_of(code)["edge"]
    cpu = protected("lidtl idtr_ptr\n" + code + "\nhlt\n" + IDTR + HANDLERS)
    cpu.mem.write(0x500 + SMALL, gdt_entry(0, edge - 1, 0x9A, flags=0x4))    # code: base 0, ends before `edge`
    with_idt(cpu, 13, 0x7C00 + 0x300)
    assert cpu.run(max_insns=10_000) == "hlt"
    assert faulted(cpu, 13) and cpu.edx == edge
