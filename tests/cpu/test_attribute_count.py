"""The CPU instance keeps fewer than 80 attributes.

PyPy stores an instance's attributes in a map (fields at fixed offsets,
which its JIT turns into plain loads) only below 80 of them; from the 80th
the instance gets a real dict and every `s.x` in a translated block becomes
a dict lookup. That is invisible on CPython and in every behaviour test, and
it costs PyPy most of its speed: at 85 attributes (after the issue 20 and
decode-memo merges) the polled-UART loop of bench/bench_cpu.py ran at ~22
MIPS on PyPy, against ~110 at 75. State that translated blocks never touch
goes into a holder object (vm/cpu/held.py), never straight onto the CPU.
"""
from tests.cpu.asm import assemble
from vm.flat import FlatMachine, GuestFault
from vm.machine import Machine

PYPY_MAP_LIMIT = 80
WORK = """
movl 4(%esp), %edi
movl $64, %ecx
rep stosb
movw $0x3FD, %dx
inb %dx, %al
movw $0x3F8, %dx
movb $0x41, %al
outb %al, %dx
movl $100, %ecx
1: decl %ecx
jnz 1b
ret
"""


def assert_below_the_limit(cpu):
    names = sorted(vars(cpu))
    assert len(names) < PYPY_MAP_LIMIT, f"{len(names)} CPU attributes: {names}"


def test_a_flat_machine_cpu_after_calls_and_a_fault():
    code = assemble(WORK, base=0x100000)
    fm = FlatMachine.from_code(code + b"\x0f\x0b")     # ud2 after the ret
    buf = fm.alloc(4096)
    for _ in range(5):                      # cold blocks, then the hot trace and its loop
        fm.call("start", buf)
    try:
        fm.call(0x100000 + len(code))
    except GuestFault:
        pass
    assert_below_the_limit(fm.cpu)


def test_a_machine_cpu_after_running_the_bios():
    machine = Machine(ram_size=16 << 20, timing="tcg")
    machine.run(max_insns=50_000)
    assert_below_the_limit(machine.cpu)
