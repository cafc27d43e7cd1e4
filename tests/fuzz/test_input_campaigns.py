"""Issue 20's campaigns through the command lines (build_inputs.py,
vm_inputs.py), a few seconds each in the suite; bench/soak_fuzz.py runs
them longer. Every case's exit status is checked against README's table as
it is recorded (statuses.py)."""
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import build_inputs, vm_inputs


def bounded(n):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def object_project():
    project = build_inputs.ObjectProject()
    yield project
    project.close()


@pytest.fixture(scope="module")
def toml_project():
    project = build_inputs.TomlProject()
    yield project
    project.close()


@pytest.fixture(scope="module")
def cache_project():
    project = build_inputs.CacheProject()
    yield project
    project.close()


@bounded(60)
@given(case=build_inputs.object_edits())
def test_corrupted_objects_fail_the_build_cleanly(object_project, case):
    object_project.check(case)


@bounded(80)
@given(raw=build_inputs.toml_mutation())
def test_mutated_build_toml_fails_the_build_cleanly(toml_project, raw):
    toml_project.check(raw)


@bounded(6)
@given(case=build_inputs.cache_damage())
def test_damaged_cache_entries_are_compiled_again(cache_project, case):
    cache_project.check(case)


@bounded(120)
@given(fields=vm_inputs.elf_fields())
def test_multiboot_elf_header_fields_through_the_vm_cli(fields):
    vm_inputs.check_multiboot_cli(fields)


@bounded(100)
@given(case=vm_inputs.disk_or_rom())
def test_random_images_and_roms_through_the_vm_cli(case):
    vm_inputs.check_image_cli(case)


@bounded(40)
@given(case=vm_inputs.rep_runs())
def test_max_insns_is_exact_inside_any_rep(case):
    vm_inputs.check_rep_limit(case)
