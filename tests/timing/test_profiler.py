"""The cycle profile: books every cycle to a rule, a symbol and a page,
and changes no cycle count."""
from timing_guest import seed_machine
from vm.profiler import CycleProfiler

PAGE = 0x400000


def executed_page_stores(fm):
    fm.call("store_cycles", PAGE, 1)
    fm.call("fill_with_ret", PAGE, 1, 4096)
    fm.call("execute", PAGE, 1, 512)
    return fm.call("store_cycles", PAGE, 100)


def test_profiling_changes_no_cycle_count():
    plain, profiled = seed_machine("tcg"), seed_machine("tcg")
    CycleProfiler(profiled.cpu)
    assert executed_page_stores(plain) == executed_page_stores(profiled)
    assert plain.cpu.cycles == profiled.cpu.cycles


def test_stores_to_an_executed_page_are_booked_to_that_rule_and_page():
    fm = seed_machine("tcg")
    prof = CycleProfiler(fm.cpu)
    executed_page_stores(fm)
    total = sum(prof.by_rule.values())
    assert total == fm.cpu.cycles - prof.start_cycles
    assert prof.by_rule["first_touch"] == fm.cpu.timing.first_touch      # PAGE is in a fresh chunk
    assert prof.by_rule["code_write"] > 0.8 * (total - prof.by_rule["first_touch"])
    assert prof.by_page[PAGE >> 12]["code_write"] == prof.by_rule["code_write"]
    text = prof.report()
    assert "stores to pages holding executed code" in text and "0x00400000" in text


def test_cycles_are_booked_to_the_function_running(tmp_path):
    from timing_guest import SEED_LOOPS, linked
    elf = tmp_path / "guest.elf"
    elf.write_bytes(linked(SEED_LOOPS))
    fm = seed_machine("tcg")
    prof = CycleProfiler(fm.cpu, [elf])
    executed_page_stores(fm)
    top = max(prof.by_symbol.items(), key=lambda kv: sum(kv[1].values()))
    assert top[0] == "store_cycles" and max(top[1], key=top[1].get) == "code_write"


def test_unreadable_symbol_file_is_a_clear_error(tmp_path):
    import pytest
    from vm.profiler import ProfilerError
    bad = tmp_path / "bad.elf"
    bad.write_text("not an ELF")
    with pytest.raises(ProfilerError, match="cannot read symbols"):
        CycleProfiler(seed_machine("off").cpu, [bad])


def test_port_accesses_of_a_hot_loop_are_booked_to_io():
    """A polled-UART loop's trace does its port I/O inline unless charges
    are observed: every access is still booked to `io`."""
    import sys
    from pathlib import Path
    from vm.flat import FlatMachine
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_cpu
    fm = FlatMachine.from_code(bench_cpu.assembled()["polled-UART print loop"], timing="tcg")
    prof = CycleProfiler(fm.cpu)
    fm.call("start", 500)
    assert fm.output == b"A" * 500
    assert any(fn.block.loop for fn in fm.cpu.blocks.values())
    assert prof.by_rule["io"] == 2 * 500 * fm.cpu.timing.io
    assert sum(prof.by_rule.values()) == fm.cpu.cycles - prof.start_cycles
