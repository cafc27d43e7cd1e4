"""Random bytes as code: the CPU must end every run with a guest-level
outcome (return, guest fault, hlt, instruction limit), never a Python error."""
from hypothesis import given, settings, strategies as st

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


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_random_code_in_real_mode(code):
    cpu = boot_sector("hlt")
    cpu.mem.write(0x7C00, code)
    assert cpu.run(max_insns=300) in ("hlt", "insn-limit", "triple-fault", "stop")
