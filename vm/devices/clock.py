"""Emulated time: the CPU's cycle counter is the only clock.

The emulated CPU runs at CPU_HZ cycles per second. Devices that count time
(the PIT, the RTC, the ACPI PM timer) convert cycles to their own ticks with
exact integer arithmetic, so a run is deterministic on every host.

One PIT tick (1.193182 MHz) is CPU_HZ / PIT_HZ = 100_000_000 / 1_193_182
≈ 83.81 cycles; a PIT programmed for 100 Hz (divisor 11932) interrupts every
≈ 1,000,000 cycles.
"""

CPU_HZ = 100_000_000
PIT_HZ = 1_193_182
ACPI_PM_TIMER_HZ = 3_579_545


def ticks_at(cycles: int, hz: int, cpu_hz: int = CPU_HZ) -> int:
    """How many whole ticks of an `hz` clock have elapsed after `cycles`."""
    return cycles * hz // cpu_hz


def cycle_of_tick(tick: int, hz: int, cpu_hz: int = CPU_HZ) -> int:
    """The first cycle at which `ticks_at` reaches `tick`."""
    return -((-tick * cpu_hz) // hz)
