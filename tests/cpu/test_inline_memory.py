"""A loop's RAM accesses written inline (vm/cpu/inline_memory.py): every
width, aligned or not, inside a page or across two, at a register or a
constant address, and the accessor's slow path when the fast TLB misses
(a page fault, a read-only page, a store beside the loop's own code).
Each loop runs hot and again traced (every instruction through the exact
path, which calls the accessors): results, memory, faults and cycles must
agree; so must random loops of the Unicorn differential test's instructions."""
import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from tests.cpu.asm import assemble
from tests.cpu.insngen import R32, Gen
from tests.cpu.test_paging import PT, P, US, paged
from vm.flat import FlatMachine

CONSTANT = 0x800000      # plain RAM of the flat machine that nothing else uses

# zero the buffer (8 KiB, two pages) and the constant word, then loop
PROLOGUE = f"""
movl 8(%esp), %edi
movl $2048, %ecx
xorl %eax, %eax
cld
rep stosl
movl $0, {CONSTANT:#x}
movl $0, {CONSTANT + 4:#x}
movl 4(%esp), %ecx
movl 8(%esp), %esi
xorl %edx, %edx
"""
LOOPS = {
    "widths and alignments": f"""
1: movb %cl, (%esi,%ecx)
movw (%esi,%ecx), %ax
addw %ax, 2049(%esi)
movl 1(%esi,%ecx,4), %ebx
addl %ebx, %edx
movw 2049(%esi), %bx
xorl %ebx, %edx
decl %ecx
jnz 1b
""",
    "across a page": """
1: movl %ecx, 4094(%esi)
addl 4094(%esi), %edx
movw %dx, 4095(%esi)
movzbl 4096(%esi), %eax
addl %eax, %edx
decl %ecx
jnz 1b
""",
    "constant addresses": f"""
1: addl %ecx, {CONSTANT:#x}
movl {CONSTANT:#x}, %eax
movb %al, {CONSTANT + 5:#x}
addw {CONSTANT + 4:#x}, %dx
adcl {CONSTANT + 1:#x}, %edx
decl %ecx
jnz 1b
""",
}
EPILOGUE = """
movl %edx, %eax
movl 8(%esp), %esi
addl 4094(%esi), %eax
ret
"""


def machine(source, traced):
    """A flat machine running `source` at `start`, and its 8 KiB buffer;
    `traced`: every instruction through the exact path."""
    fm = FlatMachine.from_code(assemble(source, base=0x100000), timing="tcg")
    buf = fm.alloc(8192, align=4096)
    if traced:
        fm.cpu.trace = lambda cpu: None
    return fm, buf


def run(text, laps, traced):
    fm, buf = machine(PROLOGUE + text + EPILOGUE, traced)
    results = [fm.call("start", laps, buf) for _ in range(3)]     # cold blocks, then the loop hot
    return results, fm.read(buf, 8192), fm.read(CONSTANT, 8), fm.cpu.cycles, fm.cpu.insns, fm.cpu


def loop_sources(cpu):
    return [fn.block.source for fn in cpu.blocks.values() if fn.block.loop]


@pytest.mark.parametrize("name", sorted(LOOPS))
@pytest.mark.parametrize("laps", [5, 64, 1000])
def test_inline_accesses_match_the_exact_path(name, laps):
    hot = run(LOOPS[name], laps, traced=False)
    exact = run(LOOPS[name], laps, traced=True)
    assert hot[:5] == exact[:5]
    assert len(set(hot[0])) == 1          # the same answer from cold and hot blocks
    sources = loop_sources(hot[5])
    assert sources and all("RTG(" in s for s in sources)     # the loop did run with inline accesses


def test_the_inline_accesses_read_and_write_the_right_bytes():
    results, memory, constant, *_ = run(LOOPS["constant addresses"], 1000, traced=False)
    total = sum(range(1, 1001))
    assert struct.unpack("<I", constant[:4])[0] == total
    assert constant[5] == total & 0xFF                    # the last lap's byte store
    results, memory, *_ = run(LOOPS["widths and alignments"], 1000, traced=False)
    assert memory[1:1001] == bytes(k & 0xFF for k in range(1, 1001))


def faulting(body):
    """(registers, CR2, error code, the fault's frame, cycles, instructions)
    of `body` run hot and traced on the identity-mapped machine where page
    0x1FF is not present and page 0x1FE is read-only (CR0.WP)."""
    results = []
    for traced in (False, True):
        cpu = paged(body)
        cpu.mem.write(PT + 4 * 0x1FF, struct.pack("<I", 0))
        cpu.mem.write(PT + 4 * 0x1FE, struct.pack("<I", 0x1FE000 | P | US))
        cpu.mem.write(0x1FD000, bytes(range(256)) * 16)
        if traced:
            cpu.trace = lambda c: None
        assert cpu.run(max_insns=100000) == "hlt"
        frame = cpu.mem.read(cpu.esp, 12)
        results.append((list(cpu.regs), cpu.cr[2], cpu.edi, frame, cpu.cycles, cpu.insns,
                        cpu.mem.read(0x1FC000, 3 * 4096), loop_sources(cpu)))
    hot, exact = results
    assert hot[:7] == exact[:7]
    assert hot[7] and all("RTG(" in s or "WTG(" in s for s in hot[7])
    return hot


def test_a_hot_loops_read_that_walks_into_a_missing_page_faults_there():
    hot = faulting("""
movl $0x1fd000, %ebx
xorl %edx, %edx
1: addl (%ebx), %edx
movw 2(%ebx), %cx
addl $4, %ebx
jmp 1b""")
    assert hot[1] == 0x1FF000 and hot[2] == 0         # CR2, error code: not present, read
    assert hot[0][3] == 0x1FF000                      # EBX: the fault is the load, before the add


def test_a_hot_loops_unaligned_read_that_crosses_into_a_missing_page_faults():
    hot = faulting("""
movl $0x1fd001, %ebx
1: movl (%ebx), %eax
movl %eax, 0x1fc000
addl $3, %ebx
jmp 1b""")
    assert hot[1] == 0x1FF000 and hot[0][3] == 0x1FEFFF


def test_a_hot_loops_store_to_a_read_only_page_faults_and_stores_nothing():
    hot = faulting("""
movl $0x1fc000, %ebx
movl $0x1fc800, %ecx
1: movl %ebx, (%ecx)
movw %bx, 6(%ecx)
movl %ebx, (%ebx)
movb %al, 1(%ebx)
addl $8, %ebx
jmp 1b""")
    assert hot[1] == 0x1FE000 and hot[2] == 3         # present, write
    assert hot[0][3] == 0x1FE000
    assert hot[3][:4] == struct.pack("<I", 0x7C65)     # EIP: the third store (the lap starts at 0x7C5F)
    assert struct.unpack("<I", hot[6][0x1FF8:0x1FFC])[0] & 0xFFFF00FF == 0x1FDFF8 & 0xFFFF00FF
    assert hot[6][0x2000:0x2008] == bytes(8)          # nothing stored on the read-only page


# the families whose instructions never jump or fault in the data window
RANDOM_FAMILIES = ("alu", "alu", "unary", "shift", "move", "move", "bits", "atomics")
SAVE_REGISTERS = "".join(f"movl %{r}, {4096 + 4 * k}(%ebp)\n" for k, r in enumerate(R32))


def random_loop(rng):
    """A loop of random instructions on the data window (`disp(%ebp)`, any
    width and alignment; insngen never writes EBP), its lap count in memory
    at CONSTANT, then every register stored after the window."""
    gen = Gen(rng)
    body = [getattr(gen, rng.choice(RANDOM_FAMILIES))()[0] for _ in range(rng.randint(1, 10))]
    return (f"movl 8(%esp), %ebp\nmovl ${rng.choice([3, 70, 300])}, {CONSTANT:#x}\n1:\n" + "\n".join(body)
            + f"\ndecl {CONSTANT:#x}\njnz 1b\n{SAVE_REGISTERS}ret\n")


def run_random(text, data, traced):
    fm, buf = machine(text, traced)
    finals = []
    for _ in range(3):          # cold blocks, then the loop hot
        fm.write(buf, data)
        fm.call("start", 0, buf)
        finals.append(fm.read(buf, 8192))
    return finals, fm.cpu.cycles, fm.cpu.insns, loop_sources(fm.cpu)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_random_loops_match_the_exact_path(seed):
    rng = random.Random(seed)
    text = random_loop(rng)
    data = rng.randbytes(4096)
    hot = run_random(text, data, traced=False)
    assert hot[:3] == run_random(text, data, traced=True)[:3], text
    assert hot[3] and all("RTG(" in s for s in hot[3])
