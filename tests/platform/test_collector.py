"""vm/collector.py: the cyclic collector runs with relaxed thresholds while
a machine runs, and the caller's thresholds are back when it stops."""
import gc
import io

import pytest
from guest_asm import boot_sector

from vm.collector import RUN_THRESHOLDS
from vm.machine import Machine

pytestmark = pytest.mark.skipif(not hasattr(gc, "get_threshold"), reason="this Python's collector has no thresholds")


def thresholds_while_running(before):
    """The thresholds the guest's first instruction sees, and those after the run."""
    seen = []
    gc.set_threshold(*before)
    try:
        m = Machine(ram_size=16 << 20, timing="off", disk=boot_sector("cli; 1: hlt; jmp 1b"), serial=io.BytesIO())
        m.cpu.add_exec_hook(0x7C00, lambda cpu: seen.append(gc.get_threshold()))
        m.run(max_insns=200_000)
        return seen, gc.get_threshold()
    finally:
        gc.set_threshold(*before)


def test_relaxed_during_the_run_and_restored_after():
    seen, after = thresholds_while_running((700, 10, 10))
    assert seen == [RUN_THRESHOLDS]
    assert after == (700, 10, 10)


def test_a_caller_more_relaxed_keeps_its_thresholds():
    seen, after = thresholds_while_running((200_000, 10, 500))
    assert seen == [(200_000, 20, 500)]
    assert after == (200_000, 10, 500)
