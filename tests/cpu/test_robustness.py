"""Random bytes as code: the CPU must end every run with a guest-level
outcome (return, guest fault, hlt, instruction limit), never a Python error."""
from hypothesis import example, given, settings, strategies as st

from tests.cpu.bare import boot_sector
from vm.flat import FlatMachine, GuestFault


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_random_code_in_protected_mode(code):
    fm = FlatMachine.from_code(code + b"\xC3", insn_limit=300)
    try:
        fm.call("start")
    except GuestFault:
        pass


def run_to_outcome(cpu, max_insns):
    """CPU.run until a final outcome: "event" hands control back to the caller
    (the Machine checks its devices and --timeout, e.g. every 64 exceptions of
    an exception loop) and the run goes on within the same budget."""
    end = cpu.insns + max_insns
    while True:
        reason = cpu.run(max_insns=max(end - cpu.insns, 0))
        if reason != "event":
            return reason


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64))
@example(b"\x00\x00m\x8c0")      # an exception loop: "event" every 64 exceptions, then a triple fault
def test_random_code_in_real_mode(code):
    cpu = boot_sector("hlt")
    cpu.mem.write(0x7C00, code)
    assert run_to_outcome(cpu, 300) in ("hlt", "insn-limit", "triple-fault", "stop")
