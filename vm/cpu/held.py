"""CPU state kept off the CPU instance, behind properties of its class.

PyPy keeps an instance's attributes in a map (fields at fixed offsets, which
its JIT compiles to plain loads) only while it has fewer than 80 of them;
past that the instance gets a real dict and every `s.x` in a translated
block is a dict lookup (docs/vm-execution.md: an 80th CPU attribute halved
the memory and UART loops; at 85, bench_cpu's PyPy UART loop ran at ~22 MIPS
against ~110 at 75). State that translated blocks never touch (descriptor
table registers, the exception-loop counters) lives in one plain object per
group instead, and the CPU class gets a property per name, so the rest of
the VM keeps reading and writing `cpu.tr_sel`.
"""
from __future__ import annotations

from operator import attrgetter


class Holder:
    """A group of rarely used CPU attributes."""


def held(group: str, *names: str):
    """One property per name that reads and writes `self.<group>.<name>`
    (unpack them into the class body: `a, b = held("g", "a", "b")`)."""
    return tuple(_forward(group, name) for name in names)


def _forward(group, name):
    holder = attrgetter(group)

    def put(self, value):
        setattr(holder(self), name, value)
    return property(attrgetter(f"{group}.{name}"), put, doc=f"kept in self.{group} (vm/cpu/held.py)")
