"""The seed's experiments as kernel programs (kernel_src/exp/), booted on
the VM: what they print has the seed's shape under `tcg` and `kvm`."""
from pathlib import Path

import pytest

from compiler.build import build
from compiler.image import with_cmdline
from calibration.table import hlt_figures, run_experiment, rw_figures, address_figures

ROOT = Path(__file__).resolve().parents[2]
BOOT_STACK_PAGE, STAGE2_PAGE, ORDINARY, VGA = 0xC0007000, 0xC0008000, 0xC0100000, 0xC00B8000


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    disk = build(ROOT, out_dir=tmp_path_factory.mktemp("kernel")).disk_image.read_bytes()
    return lambda name: with_cmdline(disk, f"exp={name}")


def test_rw_under_tcg_reads_never_pay_writes_to_boot_pages_do(image):
    rw = rw_figures(run_experiment(image("rw"), "tcg"))
    reads = {a: r for a, (r, w) in rw.items()}
    writes = {a: w for a, (r, w) in rw.items()}
    assert reads[BOOT_STACK_PAGE] == reads[STAGE2_PAGE] == reads[ORDINARY]
    assert writes[BOOT_STACK_PAGE] > 50 * writes[ORDINARY]
    assert writes[STAGE2_PAGE] > 50 * writes[ORDINARY]
    assert writes[VGA] > 20 * writes[ORDINARY]


def test_rw_under_kvm_writes_cost_the_same_on_every_ram_page(image):
    rw = rw_figures(run_experiment(image("rw"), "kvm"))
    assert rw[BOOT_STACK_PAGE][1] == rw[STAGE2_PAGE][1] == rw[ORDINARY][1]


def test_subpage_slowness_is_per_page(image):
    cycles = address_figures(run_experiment(image("subpage"), "tcg"))
    assert len(cycles) == 24
    pages = {}
    for a, c in cycles.items():
        pages.setdefault(a >> 12, []).append(c)
    below, stack_page, next_page = pages[0xC0006], pages[0xC0007], pages[0xC0008]
    assert max(below) * 50 < min(stack_page)           # the page boundary is the edge
    assert max(below) * 50 < min(next_page)
    for page in (stack_page, next_page):               # and within a page, no edge
        assert max(page) - min(page) < 0.05 * min(page)


def test_first_isqrt_after_hlt_is_slower_than_warm_runs(image):
    warm, cold = hlt_figures(run_experiment(image("hlt"), "tcg"))
    assert len(warm) >= 3 and len(cold) == 2
    assert min(cold) > max(warm)


def test_store_counts_come_from_the_command_line(image):
    """`stores=N` sets the loop counts: a short loop pays its timing overhead
    (two rdtsc) over fewer stores."""
    short = rw_figures(run_experiment(image("rw stores=10"), "tcg"))
    default = rw_figures(run_experiment(image("rw"), "tcg"))
    assert short.keys() == default.keys()
    assert short != default                             # the count changed what was measured
    assert default[ORDINARY] == (5, 14)                 # 1000 ops: rdtsc's cost all but hidden
    assert short[ORDINARY] == (10, 19)                  # 10 ops: ~50 cycles of overhead over 10


def test_scan_prints_the_store_count_it_runs(image):
    out = run_experiment(image("scan stores=30"), "tcg")
    assert "0xc0000000-0xc7fe0000 and the kernel mapping, 30 stores a page" in out
    assert address_figures(out).keys() == address_figures(run_experiment(image("scan"), "tcg")).keys()
