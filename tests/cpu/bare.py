"""A bare CPU + memory for tests that set up their own modes and tables."""
from __future__ import annotations

from tests.cpu.asm import assemble
from vm.cpu import CPU
from vm.memory import PhysicalMemory
from vm.ports import PortBus


class Capture:
    def __init__(self):
        self.data = bytearray()

    def port_read(self, port, size):
        return 0

    def port_write(self, port, size, value):
        self.data.append(value & 0xFF)


def boot_sector(text: str, ram=4 << 20, timing="off", at=0x7C00):
    """Real-mode code assembled and placed at 0:7C00, CPU ready to run it."""
    mem = PhysicalMemory(ram)
    ports = PortBus()
    out = Capture()
    ports.register(0xE9, 1, out)
    cpu = CPU(mem, ports, timing=timing)
    mem.write(at, assemble(text, code16=True))
    cpu.load_seg(1, 0)
    cpu.eip = at
    cpu.out = out
    return cpu


def gdt_entry(base, limit, access, flags=0xC):
    return (limit & 0xFFFF | (base & 0xFFFF) << 16 | ((base >> 16) & 0xFF) << 32 | access << 40
            | ((limit >> 16) & 0xF) << 48 | flags << 52 | ((base >> 24) & 0xFF) << 56).to_bytes(8, "little")


def gate(offset, selector=0x08, kind=0x8E):
    return (offset & 0xFFFF | selector << 16 | kind << 40 | (offset >> 16) << 48).to_bytes(8, "little")


# Real mode -> flat 32-bit protected mode; GDT at 0x500: 0x08 code, 0x10 data,
# 0x18 ring-3 code, 0x20 ring-3 data, 0x28 TSS (filled by tests that need it),
# 0x30 a second ring-0 code segment.
PM_PROLOGUE = """
cli
lgdtl gdtr_ptr
movl %cr0, %eax
orl $1, %eax
movl %eax, %cr0
ljmpl $0x08, $pm32
gdtr_ptr: .word 0x3f
.long 0x500
.code32
pm32:
movw $0x10, %ax
movw %ax, %ds
movw %ax, %es
movw %ax, %ss
movw %ax, %fs
movw %ax, %gs
movl $0x90000, %esp
"""


def protected(text: str, ram=4 << 20, timing="off"):
    """A CPU that runs PM_PROLOGUE then `text` in 32-bit protected mode (code at 0x7C00)."""
    cpu = boot_sector(PM_PROLOGUE + text, ram=ram, timing=timing)
    gdt = (bytes(8) + gdt_entry(0, 0xFFFFF, 0x9A) + gdt_entry(0, 0xFFFFF, 0x92)
           + gdt_entry(0, 0xFFFFF, 0xFA) + gdt_entry(0, 0xFFFFF, 0xF2) + bytes(8)
           + gdt_entry(0, 0xFFFFF, 0x9A) + bytes(8))
    cpu.mem.write(0x500, gdt)
    return cpu
