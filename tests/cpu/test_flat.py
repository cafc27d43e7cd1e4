"""FlatMachine: cdecl calls into raw code, output ports, faults as GuestFault."""
import pytest

from tests.cpu.asm import assemble as _assemble


def assemble(text):
    return _assemble(text, base=0x100000)
from vm.flat import FlatMachine, GuestFault

SUM_LOOP = """
movl 4(%esp), %ecx
xorl %eax, %eax
1: addl %ecx, %eax
decl %ecx
jnz 1b
ret
"""


def test_call_returns_eax_and_can_be_repeated():
    fm = FlatMachine.from_code(assemble(SUM_LOOP))
    assert fm.call("start", 10) == 55
    assert fm.call("start", 100000) == 5000050000 & 0xFFFFFFFF


def test_call64_returns_edx_eax():
    fm = FlatMachine.from_code(assemble("movl 4(%esp), %eax\nmull 8(%esp)\nret"))
    assert fm.call64("start", 0x12345678, 0x9ABCDEF0) == 0x12345678 * 0x9ABCDEF0


def test_output_ports_are_captured():
    fm = FlatMachine.from_code(assemble("""
movb $0x48, %al
outb %al, $0xe9
movw $0x3f8, %dx
movb $0x69, %al
outb %al, %dx
ret"""))
    fm.call("start")
    assert fm.output == b"Hi"


def test_memory_helpers():
    fm = FlatMachine.from_code(assemble("movl 4(%esp), %edx\nmovl (%edx), %eax\nincl (%edx)\nret"))
    buf = fm.alloc(4)
    fm.write(buf, (41).to_bytes(4, "little"))
    assert fm.call("start", buf) == 41
    assert fm.read(buf, 4) == (42).to_bytes(4, "little")


def test_divide_by_zero_is_a_guest_fault():
    fm = FlatMachine.from_code(assemble("xorl %ecx, %ecx\nmovl $1, %eax\ncltd\ndivl %ecx\nret"))
    with pytest.raises(GuestFault) as info:
        fm.call("start")
    assert info.value.vector == 0
    assert info.value.eip == 0x100000 + 8


def test_page_fault_free_ud_reports_vector_6():
    fm = FlatMachine.from_code(assemble("ud2"))
    with pytest.raises(GuestFault) as info:
        fm.call("start")
    assert info.value.vector == 6


def test_runaway_loop_is_reported():
    fm = FlatMachine.from_code(assemble("1: jmp 1b"), insn_limit=10000)
    with pytest.raises(GuestFault, match="did not return"):
        fm.call("start")


STRING_OPS = """
movl 4(%esp), %esi
movl 8(%esp), %edi
movl 12(%esp), %ecx
movl 16(%esp), %eax
cld
testl %eax, %eax
jz copy
cmpl $1, %eax
je fill
repe cmpsb
movl %ecx, %eax
ret
copy:
rep movsb
movl %edi, %eax
ret
fill:
movl $0x5a5a5a5a, %eax
shrl $2, %ecx
rep stosl
movl %edi, %eax
ret
"""


def test_long_string_operations_across_pages():
    fm = FlatMachine.from_code(assemble(STRING_OPS))
    src, dst = fm.alloc(20000) + 3, fm.alloc(20000) + 1
    data = bytes((i * 7 + 3) & 0xFF for i in range(12345))
    fm.write(src, data)
    fm.call("start", src, dst, 1, 0)          # one item first: the TLBs get filled
    assert fm.call("start", src, dst, len(data), 0) == dst + len(data)
    assert fm.read(dst, len(data)) == data
    other = bytearray(data)
    other[9999] ^= 1
    fm.write(dst, bytes(other))
    # repe cmpsb stops after the first difference: ECX left = n - 10000
    assert fm.call("start", src, dst, len(data), 2) == len(data) - 10000
    assert fm.call("start", src, dst, 12000, 1) == dst + 12000
    assert fm.read(dst, 12000) == b"\x5a" * 12000


def test_cmpxchg8b_sets_zf_only():
    fm = FlatMachine.from_code(assemble("""
movl 4(%esp), %esi
movl $1, %eax
movl $2, %edx
movl $3, %ebx
movl $4, %ecx
stc
cmpxchg8b (%esi)
setz %bl
setc %bh
movzwl %bx, %eax
ret"""))
    buf = fm.alloc(8)
    fm.write(buf, (2 << 32 | 1).to_bytes(8, "little"))
    assert fm.call("start", buf) == 0x0101                # equal: ZF=1, CF kept
    assert fm.read(buf, 8) == (4 << 32 | 3).to_bytes(8, "little")
    assert fm.call("start", buf) & 0xFF == 0              # differs now: ZF=0


def test_repe_cmps_over_rom_and_unclaimed_memory():
    fm = FlatMachine.from_code(assemble(STRING_OPS))
    rom = bytes((i * 13) & 0xFF for i in range(8192))
    fm.mem.add_rom(0x3000000, rom)
    copy = fm.alloc(8192, align=4096)
    fm.write(copy, rom)
    assert fm.call("start", 0x3000000, copy, 8192, 2) == 0           # all equal
    fm.write(copy + 5000, b"\x00")
    assert fm.call("start", 0x3000000, copy, 8192, 2) == 8192 - 5001  # stops after the difference
    beyond = fm.mem.ram_size + 0x1000                                  # unclaimed: reads 0xFF
    ones = fm.alloc(4096, align=4096)
    fm.write(ones, b"\xff" * 4096)
    assert fm.call("start", beyond, ones, 4096, 2) == 0
