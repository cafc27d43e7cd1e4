"""Reading the experiment programs' output (as the seed printed it)."""
from calibration.table import Row, hlt_figures, rdtsc_figures, rw_figures, sweep_figures, format_table

SWEEP = """page=c3ff0000
Writing to fresh, crunchy ram...\tcycles/op=91
Filling RAM with executable instructions...\tcycles/op=12
Executed 127/4095 bytes...\tcycles/op=2375
Cleared 4095/4095 bytes...\tcycles/op=12
"""

HLT = """cycles=300
cycles=100
cycles=101
hlt
cycles=250
cycles=100
cycles=100
hlt
cycles=260
cycles=99
cycles=100
hlt
"""


def test_sweep_lines():
    assert sweep_figures(SWEEP) == {"fresh": 91, "filled": 12, "executed 127": 2375, "cleared 4095": 12}


def test_hlt_runs_split_into_warm_and_first_after_hlt():
    warm, cold = hlt_figures(HLT)
    assert cold == [250, 260]
    assert warm == [100, 101, 100, 100, 99, 100]       # the very first run is neither


def test_rw_and_rdtsc_lines():
    assert rw_figures("addr=c0100000 reads cycles/op=5 writes cycles/op=14\n") == {0xC0100000: (5, 14)}
    text = "rdtsc with a stack temporary:\ntime between rdtsc=60\nrdtsc in registers:\n" \
           "time between rdtsc=19\ntime between rdtsc=19\ntime between rdtsc=19\n"
    assert rdtsc_figures(text) == [19, 19, 19]


def test_rows_outside_the_tolerance_or_missing_are_marked():
    rows = [Row("a", "10", 10, 12.4, "x"), Row("b", "10", 10, 13, "x"), Row("c", "10", 10, None, "x")]
    assert [r.ok for r in rows] == [True, False, False]
    table = format_table("tcg", rows)
    assert "| a | 10 | 12 | 1.24 | yes |" in table and "| b | 10 | 13 | 1.30 | NO |" in table
    assert "| c | 10 | - | - | NO |" in table


def test_seed_figures_file_gives_every_row_a_label_a_value_and_a_place_in_the_notes():
    from vm.timing.seed import seed_rows, seed_series
    for profile, count in (("tcg", 16), ("kvm", 9)):
        rows = seed_rows(profile)
        assert len(rows) == count
        for r in rows.values():
            assert r.label and r.text and r.value > 0 and r.where.startswith("hmm.md:")
    assert seed_rows("tcg")["executed_127"].value == 2395
    series = seed_series()
    assert len(series["subpage"]["addr"]) == len(series["subpage"]["cycles"]) == 24
    assert len(series["scan"]["addr"]) == len(series["scan"]["cycles"])
