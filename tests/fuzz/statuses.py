"""The README's exit-status table, parsed, and the statuses the hostile-input
campaigns saw (issue 20: no fuzz case may end in an undocumented status).

Every campaign check calls `record(tool, status)`, which fails the case at
once when the README's column for that tool does not list the status;
`SEEN` keeps what was recorded, for the table test and the soak's summary."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
VM, BUILD, RUN = "python -m vm", "kpyc build", "kpyc run"
# Statuses that mean a bug in kpy: no hostile input may produce them.
BUG_STATUSES = {16, 70}
SEEN: Counter = Counter()       # (tool, status) -> cases


def exit_status_table(text: str | None = None) -> dict:
    """{tool: {status: meaning}} from the README's "Exit statuses" table; the
    status "odd" (isa-debug-exit) is kept as the key "odd"."""
    text = README.read_text() if text is None else text
    after = text.split("Exit statuses", 1)[1]
    rows = [line for line in after.split("\n\n", 2)[1].splitlines() if line.startswith("|")]
    header = [cell.strip(" `") for cell in rows[0].strip("|").split("|")]
    tools = [[name.strip(" `") for name in cell.split(",")] for cell in header[1:]]
    table: dict = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
        status = cells[0] if cells[0] == "odd" else int(cells[0])
        for names, meaning in zip(tools, cells[1:]):
            for name in names:
                if meaning != "-":
                    table.setdefault(name, {})[status] = meaning
    return table


def documented(tool: str, status: int, table: dict | None = None) -> bool:
    """Whether the README names `status` as an outcome of `tool` (odd: isa-debug-exit)."""
    column = (exit_status_table() if table is None else table)[tool]
    return status in column or (status % 2 == 1 and "odd" in column)


_TABLE = None


def record(tool: str, status: int, detail: str = "") -> None:
    """Count a case's exit status; fail it when the README does not document
    the status for this tool or when it is a kpy bug (16, 70)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = exit_status_table()
    SEEN[(tool, status)] += 1
    assert status not in BUG_STATUSES, f"{tool} ended in {status} (a kpy bug): {detail[-2000:]}"
    assert documented(tool, status, _TABLE), f"{tool} ended in {status}, not in README's table: {detail[-2000:]}"


def undocumented(seen=None) -> list:
    """The recorded (tool, status) pairs the README does not document."""
    table = exit_status_table()
    return sorted(k for k in (SEEN if seen is None else seen)
                  if k[1] in BUG_STATUSES or not documented(k[0], k[1], table))
