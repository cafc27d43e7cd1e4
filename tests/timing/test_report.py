"""`kpyc report`, built end to end (VM under tcg and kvm, QEMU TCG with one
run where qemu-system-i386 is installed): its tables carry the same figures
as the calibration table (bench/bench_timing.py) computed from the same
run's output, its plots are real images, and the HTML embeds them."""
import base64
import re
import shutil
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.report.experiments import EXPERIMENTS
from compiler.report.figures import figures
from calibration.table import kvm_rows, tcg_rows
from vm.timing.seed import seed_rows

ROOT = Path(__file__).resolve().parents[2]
HAVE_QEMU = shutil.which("qemu-system-i386") is not None
VM_TCG, VM_KVM, QEMU_TCG = 2, 5, 7          # columns of the per-experiment tables
TCG_LABEL = {fid: seed.label for fid, seed in seed_rows("tcg").items()}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    argv = ["report", "--root", str(ROOT), "-o", str(out), "--runs", "1"] + ([] if HAVE_QEMU else ["--no-qemu"])
    assert main(argv) == 0
    return out


def tables(md: str) -> dict[str, list[list[str]]]:
    """'## exp=NAME' -> the cells of the rows of its first table."""
    out = {}
    for section in re.split(r"^## exp=", md, flags=re.M)[1:]:
        name, body = section.split("\n", 1)
        table = body.strip().split("\n\n", 1)[0].splitlines()
        out[name.strip()] = [[c.strip() for c in r.strip().strip("|").split(" | ")] for r in table[2:]]
    return out


def outputs(out: Path, target: str) -> dict[str, str]:
    return {e: (out / "logs" / f"{e}.{target}.0.txt").read_text() for e in EXPERIMENTS}


def by_label(rows):
    return {r[0]: r for r in rows}


def test_every_vm_figure_is_the_calibration_tables_figure_from_the_same_run(report):
    md = (report / "report.md").read_text()
    rows = {label: r for t in tables(md).values() for label, r in by_label(t).items()}
    for target, column, calibrate in (("vm-tcg", VM_TCG, tcg_rows), ("vm-kvm", VM_KVM, kvm_rows)):
        bench = calibrate(outputs(report, target))
        assert bench and all(r.vm is not None for r in bench)
        for r in bench:       # a figure both profiles have is one row, under the tcg seed's label
            label = TCG_LABEL.get(r.id, r.what)
            assert rows[label][column] == f"{r.vm:,.0f}", (target, r.what)
    # the rows the calibration table has not: present, and what the logs say
    vm = figures(outputs(report, "vm-tcg"))
    assert rows["write loop on the boot stack"][VM_TCG] == f"{vm['stack_boot']:,}"
    assert rows["byte at phys 0x2008 after the check"][VM_TCG] == "0x23"
    assert rows["#GP error code after the GDT clobber"][VM_TCG] == "0x8"
    assert all(r[VM_TCG] != "-" for r in rows.values() if r[1] != "-")


@pytest.mark.skipif(not HAVE_QEMU, reason="qemu-system-i386 is not installed")
def test_qemu_column_is_filled_from_the_same_image(report):
    rows = {label: r for t in tables((report / "report.md").read_text()).values() for label, r in by_label(t).items()}
    q = rows["write loop, 127 executed ret bytes"][QEMU_TCG].split(" / ")
    assert len(q) == 3 and q[0] == q[1] == q[2]          # one run: min = median = max
    assert int(q[0].replace(",", "")) > 10 * int(rows["page filled with 0xC3, never executed"][QEMU_TCG]
                                                  .split(" / ")[0].replace(",", ""))
    assert rows["#GP error code after the GDT clobber"][QEMU_TCG].startswith("0x8")


def test_every_plot_decodes_and_is_not_blank_and_the_html_embeds_it(report):
    import matplotlib.image as mpimg
    md = (report / "report.md").read_text()
    pngs = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert {"sweep.png", "scan.png", "subpage.png", "rw.png", "hlt.png", "stack.png", "rdtsc.png",
            "hhdm.png"} <= set(pngs)
    page = (report / "report.html").read_text()
    embedded = [base64.b64decode(d) for d in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    assert len(embedded) == len(pngs)
    for name, data in zip(pngs, embedded):
        raw = (report / name).read_bytes()
        assert data == raw, name
        img = mpimg.imread(report / name)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert img.std() > 0.01, f"{name} is blank"
    assert "<img" in page and 'src="report' not in page and "<table>" in page
