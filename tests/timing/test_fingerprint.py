"""Behaviour pinned while the VM's structure changes (issue 12): the default
boot and every `exp=` program under `tcg` and `kvm` give the serial output,
stop reason and final cycle and instruction counts recorded in
fingerprints.json (by fingerprint.py --write, from the code before the
change). A difference here is a change of emulated behaviour or timing."""
import json

import pytest

from fingerprint import DATA, RUNS, build_disk, fingerprint, key

RECORDED = json.loads(DATA.read_text())


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
    return build_disk(tmp_path_factory.mktemp("kernel"))


def test_every_run_is_recorded():
    assert sorted(RECORDED) == sorted(key(p, t) for p, t in RUNS)


@pytest.mark.parametrize("program,timing", RUNS, ids=[key(p, t) for p, t in RUNS])
def test_run_matches_its_fingerprint(disk, program, timing):
    assert fingerprint(disk, program, timing) == RECORDED[key(program, timing)]
