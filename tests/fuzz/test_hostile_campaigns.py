"""Issue 20's campaigns, a few seconds each in the suite (see hostile.py;
bench/soak_fuzz.py runs them longer)."""
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz import hostile

SHORT = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck))


@SHORT
@given(hostile.source_bytes())
def test_source_bytes_end_in_located_diagnostics(raw):
    hostile.check_source_bytes(raw)


@SHORT
@given(hostile.multiboot_fields())
def test_multiboot_header_fields_give_a_loader_error_or_load(fields):
    hostile.check_multiboot(fields)


@pytest.fixture(scope="module")
def gdb_target():
    target = hostile.GdbTarget()
    yield target
    target.stub.listener.close()


@SHORT
@given(packet=hostile.gdb_packet())
def test_malformed_gdb_packets_are_answered_and_keep_the_guest_stopped(gdb_target, packet):
    gdb_target.check(packet)
