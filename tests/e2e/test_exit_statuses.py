"""Issue 20: the README documents every exit status `python -m vm`,
`kpyc build` and `kpyc run` can give; the hostile-input campaigns record
theirs in DOCUMENTED_STATUS checks through documented()."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
# Statuses that mean a bug in kpy: no hostile input may produce them.
BUG_STATUSES = {16, 70}


def documented_statuses() -> set:
    table = README.read_text().split("Exit statuses", 1)[1].split("\n\n", 2)[1]
    return {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}


def documented(status: int) -> bool:
    """A guest or user outcome the README names (odd: isa-debug-exit)."""
    return status not in BUG_STATUSES and (status in documented_statuses() or status % 2 == 1)


def test_readme_table_covers_the_vm_status_map():
    from vm.machine import EXIT_STATUS
    assert set(EXIT_STATUS.values()) | {2, 70} <= documented_statuses()


def test_kpyc_statuses_are_documented():
    from compiler.cli import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR
    assert {EXIT_USER_ERROR, EXIT_INTERNAL_ERROR, 130} <= documented_statuses()
