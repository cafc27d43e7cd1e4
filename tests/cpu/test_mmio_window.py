"""An untimed MMIO device with a plain-memory `window` (VGA text) is read
and written by the CPU in that buffer directly, without a call into the
device: the guest sees the same values, the device the same bytes, and the
clock the same MMIO charges as through the device's own mmio_read/write."""
from __future__ import annotations

import pytest

from vm.devices.vga import BASE, SIZE, VGAText
from vm.flat import FlatMachine
from tests.cpu.asm import assemble

# bytes, words and dwords to the second text page, a sum of loads of them,
# and a store straddling the end of VGA memory's first page (over the first
# lap's byte)
PROGRAM = """
movl $0xB9000, %edi
movl 4(%esp), %ecx
xorl %eax, %eax
1: movb %cl, (%edi)
movw $0x0741, 2(%edi)
movl %ecx, 4(%edi)
movzbl (%edi), %edx
addl %edx, %eax
movzwl 2(%edi), %edx
addl %edx, %eax
addl 4(%edi), %eax
addl $8, %edi
decl %ecx
jnz 1b
movl $0x12345678, 0xB8FFE
addl 0xB8FFE, %eax
ret
"""


class WithoutWindow(VGAText):
    """VGA text reached only through the device's own MMIO methods."""
    window = None


def run(device_class, timing):
    fm = FlatMachine.from_code(assemble(PROGRAM, base=0x100000), timing=timing)
    vga = device_class()
    fm.mem.add_mmio(BASE, SIZE, vga)
    result = fm.call("start", 200)
    return result, fm.cpu.cycles, bytes(vga.memory)


@pytest.mark.parametrize("timing", ["tcg", "off"])
def test_window_accesses_match_the_devices_own(timing):
    direct, through_device = run(VGAText, timing), run(WithoutWindow, timing)
    assert direct == through_device
    result, _, memory = direct
    laps = range(1, 201)
    assert result == (sum(n & 0xFF for n in laps) + 200 * 0x0741 + sum(laps) + 0x12345678) & 0xFFFFFFFF
    assert memory[0x1002:0x1008] == bytes([0x41, 0x07]) + (200).to_bytes(4, "little")     # the first lap's
    assert memory[0x1008] == 199
    assert memory[0xFFE:0x1002] == (0x12345678).to_bytes(4, "little")     # over the first lap's byte


def test_window_is_used_after_the_first_access():
    fm = FlatMachine.from_code(assemble(PROGRAM, base=0x100000), timing="tcg")
    fm.mem.add_mmio(BASE, SIZE, VGAText())
    fm.call("start", 3)
    entry = fm.cpu.mwtlb[0xB9]
    assert entry[2] is not None and entry[3] == 0x1000
