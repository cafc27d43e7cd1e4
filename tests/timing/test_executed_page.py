"""The seed's controlled sweep as a small guest program: the cost of a
store to a page follows the executed code on that page under `tcg`, and
not at all under `kvm`."""
import pytest

from timing_guest import seed_machine

PAGE = 0x400000          # a page of RAM nothing else uses
STEP = 128
STORES = 200
SEED_CYCLES_PER_BYTE = 17.16   # (70473 - 2395) / (4095 - 127), hmm.md


def sweep(timing):
    """Store cost after each 128-byte step of executing, then of overwriting."""
    fm = seed_machine(timing)
    cost = lambda: fm.call("store_cycles", PAGE, STORES)
    cost()                                  # first touch
    fm.call("fill_with_ret", PAGE, 1, 4096)
    filled = cost()
    executed, cleared = [], []
    for end in range(STEP, 4096 + 1, STEP):
        fm.call("execute", PAGE, max(1, end - STEP), end)
        executed.append(cost())
    for end in range(STEP, 4096 + 1, STEP):
        fm.call("overwrite", PAGE, max(1, end - STEP), end)
        cleared.append(cost())
    return filled, executed, cleared


@pytest.fixture(scope="module")
def tcg_sweep():
    return sweep("tcg")


def test_write_cost_grows_linearly_with_executed_bytes(tcg_sweep):
    filled, executed, _ = tcg_sweep
    steps = [b - a for a, b in zip(executed, executed[1:])]
    assert len(set(steps)) == 1, steps                      # exactly linear
    per_byte = steps[0] / STEP
    assert abs(per_byte / SEED_CYCLES_PER_BYTE - 1) <= 0.25, per_byte
    assert executed[0] > 10 * filled


def test_write_cost_falls_back_linearly_as_code_is_overwritten(tcg_sweep):
    filled, executed, cleared = tcg_sweep
    steps = [a - b for a, b in zip(cleared, cleared[1:])]
    assert len(set(steps[:-1])) == 1, steps
    assert cleared[-1] == filled                            # no executed byte left
    assert cleared[0] < executed[-1]


def test_kvm_has_no_executed_page_effect():
    filled, executed, cleared = sweep("kvm")
    assert set(executed) == {filled} and set(cleared) == {filled}


def test_reads_are_not_slowed_by_executed_code():
    fm = seed_machine("tcg")
    fm.call("store_cycles", PAGE, 10)
    fm.call("fill_with_ret", PAGE, 1, 4096)
    before = fm.call("load_cycles", PAGE, STORES)
    fm.call("execute", PAGE, 1, 4096)
    assert fm.call("load_cycles", PAGE, STORES) == before
    assert fm.call("store_cycles", PAGE, STORES) > 100 * before


def test_ret_filled_page_never_executed_costs_as_a_touched_fresh_page():
    fm = seed_machine("tcg")
    fresh, filled_page = 0x800000, 0x801000
    first = fm.call("store_cycles", fresh, STORES)
    after_touch = fm.call("store_cycles", fresh, STORES)
    fm.call("fill_with_ret", filled_page, 0, 4096)
    assert fm.call("store_cycles", filled_page, STORES) == after_touch
    assert first > after_touch                              # the first touch did cost
