"""Guest exceptions as Python exceptions, raised inside the CPU and never
allowed to escape it: the run loop delivers them through the IDT/IVT."""
from __future__ import annotations

DE, DB, NMI, BP, OF_, BR, UD, NM, DF, TS, NP, SS_, GP, PF_, MF, AC = 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17
WITH_ERROR_CODE = frozenset((8, 10, 11, 12, 13, 14, 17))
CONTRIBUTORY = frozenset((0, 10, 11, 12, 13))
NAMES = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
         10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC"}


class Fault(Exception):
    """A guest exception: vector and (for vectors that have one) error code.
    `task_eip`: set when a task switch raised it after its commit point,
    where it belongs to the new task's first instruction (tasks.py)."""

    task_eip = None

    def __init__(self, vector: int, code: int | None = None):
        super().__init__(vector, code)
        self.vector = vector
        self.code = code if code is not None or vector not in WITH_ERROR_CODE else 0
        self.done = 0          # instructions of the block that completed before it

    def __str__(self):
        name = NAMES.get(self.vector, f"vector {self.vector}")
        return name if self.code is None else f"{name}({self.code:#x})"


class TripleFault(Exception):
    """Delivery of a double fault itself faulted: the processor shuts down."""
