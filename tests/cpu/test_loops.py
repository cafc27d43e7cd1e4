"""Self-looping blocks (translate.py's `while` loops): many laps in one call,
registers kept in locals in pure loops, an inc/dec's carry source kept
across laps. Each loop runs on the hot path and again traced (every
instruction a block of its own, the exact path): results, flags and
emitted cycles must agree."""
import pytest

from tests.cpu.asm import assemble
from vm.flat import FlatMachine

FLAGS = 0x8D5      # CF PF AF ZF SF OF

LOOPS = {
    # the carry set before the loop survives every dec (CF is not touched by dec)
    "dec keeps CF": """
movl 4(%esp), %ecx
xorl %eax, %eax
stc
1: incl %eax
decl %ecx
jnz 1b
""",
    # dec first: its carry source is a local, then adc reads it each lap;
    # the carry the last lap's cmp leaves differs from lap to lap
    "dec then adc": """
movl 4(%esp), %ecx
movl $0x7fffffff, %ebx
xorl %eax, %eax
stc
1: decl %ebx
adcl %ebx, %eax
movl %ecx, %edx
andl $3, %edx
cmpl $2, %edx
loop 1b
""",
    # adc at a lap's start reads the record the previous lap left
    "adc chain": """
movl 4(%esp), %ecx
movl $0xfffffff0, %eax
xorl %edx, %edx
1: addl $7, %eax
adcl $0, %edx
decl %ecx
jnz 1b
""",
    # a memory loop (not pure): stores each lap
    "memory": """
movl 4(%esp), %ecx
movl 8(%esp), %esi
xorl %eax, %eax
1: addl %ecx, %eax
movl %eax, (%esi)
decl %ecx
jnz 1b
""",
    # 16-bit and byte registers inside a pure loop
    "partial registers": """
movl 4(%esp), %ecx
movl $0x12345678, %eax
xorl %ebx, %ebx
1: addb %cl, %al
adcw %ax, %bx
xchgb %ah, %bl
decl %ecx
jnz 1b
""",
}
EPILOGUE = """
pushfl
popl %edx
andl $0x8d5, %edx
ret
"""


def run(text, laps, timing, traced):
    fm = FlatMachine.from_code(assemble(text + EPILOGUE, base=0x100000), timing=timing)
    buf = fm.alloc(4096, align=4096)
    if traced:
        fm.cpu.trace = lambda cpu: None
    results = []
    for _ in range(3):          # the first runs are cold blocks, then the loop is hot
        results.append(fm.call64("start", laps, buf))
    return results, fm.cpu.cycles, fm.cpu.insns


@pytest.mark.parametrize("name", sorted(LOOPS))
@pytest.mark.parametrize("laps", [1, 63, 64, 65, 1000])
def test_loop_matches_exact_steps(name, laps):
    hot = run(LOOPS[name], laps, "tcg", traced=False)
    exact = run(LOOPS[name], laps, "tcg", traced=True)
    assert hot == exact
    assert len(set(hot[0])) == 1          # the same answer from cold and hot blocks


def test_dec_keeps_carry_across_laps():
    results, _, insns = run(LOOPS["dec keeps CF"], 5000, "off", traced=False)
    value = results[-1]
    assert value & 0xFFFFFFFF == 5000
    assert value >> 32 & 1 == 1           # CF from stc
    assert value >> 32 & 0x40 == 0x40     # ZF from the last dec
