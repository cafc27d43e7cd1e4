"""VGA text memory (MMIO) is slow to write under `tcg`; code runs colder
for a while after `hlt` under `tcg` and `kvm`, not under `off`."""
import pytest

from timing_guest import seed_machine
from vm.flat import GuestFault

VGA = 0xB8000
ORDINARY = 0x400000
STORES = 200
SQUARE = 314159265


class TextMemory:
    def __init__(self):
        self.cells = bytearray(0x8000)

    def mmio_read(self, addr, size):
        return int.from_bytes(self.cells[addr - VGA:addr - VGA + size], "little")

    def mmio_write(self, addr, size, value):
        self.cells[addr - VGA:addr - VGA + size] = value.to_bytes(size, "little")


def test_vga_writes_cost_more_than_20x_ordinary_writes():
    fm = seed_machine("tcg")
    vga = TextMemory()
    fm.mem.add_mmio(VGA, 0x8000, vga)
    fm.call("store_cycles", ORDINARY, 1)                  # first touch out of the way
    ordinary = fm.call("store_cycles", ORDINARY, STORES)
    text = fm.call("store_cycles", VGA, STORES)
    assert text > 20 * ordinary
    assert vga.cells[0] == 0                              # the stores reached the device


def isqrt_runs(timing):
    """Three warm runs, hlt, three more: cycles of each."""
    fm = seed_machine(timing)
    fm.call("isqrt", SQUARE)                              # translate everything once
    warm = [fm.call("isqrt_cycles", SQUARE) for _ in range(3)]
    with pytest.raises(GuestFault, match="hlt"):
        fm.call("halt")
    after = [fm.call("isqrt_cycles", SQUARE) for _ in range(3)]
    return warm, after


@pytest.mark.parametrize("timing", ["tcg", "kvm"])
def test_first_isqrt_after_hlt_costs_more_than_warm_ones(timing):
    warm, after = isqrt_runs(timing)
    assert len(set(warm)) == 1
    assert after[0] > warm[0]
    assert after[1:] == warm[1:]                          # the cold period is over


def test_off_profile_has_no_cold_period():
    warm, after = isqrt_runs("off")
    assert after == warm
