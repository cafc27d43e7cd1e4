"""One set of timing rule names: every `charge("rule", ...)` in the CPU, the
profiler's report and vm/timing/README.md use vm.timing.RULES."""
import re
from pathlib import Path

from vm.timing import RULES

ROOT = Path(__file__).resolve().parents[2]


def charged_rules():
    found = set()
    for path in (ROOT / "vm").rglob("*.py"):
        found |= set(re.findall(r'\bcharge\("(\w+)"', path.read_text()))
    return found


def test_every_charge_names_a_rule_and_every_dynamic_rule_is_charged():
    assert charged_rules() == set(RULES) - {"static", "ordinary_memory"}


def test_the_readme_table_lists_exactly_the_rules():
    text = (ROOT / "vm" / "timing" / "README.md").read_text()
    assert set(re.findall(r"^\| `(\w+)` \|", text, re.M)) == set(RULES)
