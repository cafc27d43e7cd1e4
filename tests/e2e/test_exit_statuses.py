"""Issue 20: the README documents every exit status `python -m vm`,
`kpyc build` and `kpyc run` can give, and no fuzz case ends in another:
the campaigns record each case's status against the README's table as it
runs (tests/fuzz/statuses.py); here a sample of every campaign runs and
what it saw is checked against the table, parsed afresh."""
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import build_inputs, statuses, vm_inputs
from tests.fuzz.statuses import BUILD, RUN, VM, documented, exit_status_table, undocumented


def test_readme_table_covers_the_vm_status_map():
    from vm.machine import EXIT_STATUS
    table = exit_status_table()
    assert set(EXIT_STATUS.values()) | {2, 70} <= set(table[VM]) == set(table[RUN])


def test_kpyc_statuses_are_documented():
    from compiler.cli import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR
    assert {EXIT_USER_ERROR, EXIT_INTERNAL_ERROR, 130} <= set(exit_status_table()[BUILD])


def test_the_table_parser_sees_a_changed_readme():
    text = statuses.README.read_text()
    assert documented(VM, 8) and documented(VM, 5) and not documented(BUILD, 8) and not documented(BUILD, 5)
    without_limits = "\n".join(line for line in text.splitlines() if not line.startswith("| 8 |"))
    assert not documented(VM, 8, exit_status_table(without_limits))
    assert undocumented({(VM, 8): 1, (BUILD, 3): 1, (VM, 16): 1}) == [(BUILD, 3), (VM, 16)]


SAMPLE = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def campaigns_seen():
    """Run a sample of every command-line campaign; the statuses they saw."""
    statuses.SEEN.clear()
    projects = [build_inputs.ObjectProject(), build_inputs.TomlProject()]
    try:
        for project, strategy in zip(projects, (build_inputs.object_edits(), build_inputs.toml_mutation())):
            SAMPLE(given(strategy)(project.check))()
        SAMPLE(given(vm_inputs.elf_fields())(vm_inputs.check_multiboot_cli))()
        SAMPLE(given(vm_inputs.disk_or_rom())(vm_inputs.check_image_cli))()
    finally:
        for project in projects:
            project.close()
    return dict(statuses.SEEN)


def test_no_fuzz_case_ended_in_an_undocumented_status(campaigns_seen):
    assert undocumented(campaigns_seen) == []
    seen = {tool: {s for t, s in campaigns_seen if t == tool} for tool in (BUILD, VM)}
    # the sample reaches both sides of each tool: success and refusal, and guest outcomes
    assert {0, 1} <= seen[BUILD] and 1 in seen[VM] and seen[VM] & {4, 6, 8, 12}, campaigns_seen
