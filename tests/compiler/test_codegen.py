"""Code-generation properties the optimiser must not undo, checked in the
emitted assembly at -O2."""
import re

from compiler.driver import compile_source


def asm(src: str, opt: int = 2) -> str:
    return compile_source(src, filename="t.kpy", module="t", roots=[], opt=opt, emit="asm")


def body(text: str, fn: str) -> str:
    m = re.search(rf"^{fn}:\n(.*?)^\.Lfunc_end", text, re.S | re.M)
    assert m, text
    return m.group(1)


def test_back_to_back_volatile_loads_survive_O2():
    src = '''
def two_reads(p: vptr[u32]) -> u32:
    a: u32 = p[0]
    b: u32 = p[0]
    return a + b

def two_helper_reads(p: ptr[u8]) -> u8:
    return volatile_load(p) + volatile_load(p)
'''
    text = asm(src)
    assert len(re.findall(r"movl\s+\(%\w+\), %\w+|addl\s+\(%\w+\)", body(text, "two_reads"))) == 2
    assert len(re.findall(r"\(%eax\)", body(text, "two_helper_reads"))) == 2


def test_volatile_store_loop_keeps_every_store():
    src = '''
def writes(p: vptr[u8], n: u32) -> None:
    for i in range(n):
        p[0] = 0
'''
    b = body(asm(src), "writes")
    assert re.search(r"movb\s+\$0, \(%\w+\)", b)      # the store is inside the loop
    assert "jne" in b or "jb" in b or "jl" in b


def test_plain_stores_are_merged_but_volatile_are_not():
    plain = body(asm("def f(p: ptr[u32]) -> None:\n    p[0] = 1\n    p[0] = 2\n"), "f")
    vol = body(asm("def f(p: vptr[u32]) -> None:\n    p[0] = 1\n    p[0] = 2\n"), "f")
    assert len(re.findall(r"movl\s+\$\d, \(", plain)) == 1
    assert len(re.findall(r"movl\s+\$\d, \(", vol)) == 2


def test_interrupt_handlers_return_with_iret():
    src = '''
ticks: u32 = 0

@interrupt
def timer(frame: ptr[InterruptFrame]) -> None:
    ticks += 1

@interrupt
def fault(frame: ptr[InterruptFrame], code: u32) -> None:
    ticks = code
'''
    text = asm(src)
    assert re.search(r"\biretl?\b", body(text, "timer"))
    f = body(text, "fault")
    assert re.search(r"addl\s+\$4, %esp", f) and re.search(r"\biretl?\b", f)


def test_naked_has_no_prologue():
    text = asm('@naked\ndef stub() -> None:\n    asm("hlt")\n')
    lines = [l.strip() for l in body(text, "stub").splitlines() if l.strip() and not l.strip().startswith(("#", "."))]
    assert lines[0] == "hlt"


def test_section_and_align_attributes():
    text = asm('@section(".text.entry")\n@align(64)\ndef _entry() -> None:\n    pass\n')
    assert '.section\t.text.entry' in text
    assert re.search(r"\.p2align\s+6", text)


def test_every_function_is_nounwind_and_freestanding():
    ir = compile_source('def printf(f: ptr[u8], *a: VaList) -> i32:\n    return 0\n'
                        'def g() -> None:\n    printf("\\n")\n', filename="t.kpy", module="t", roots=[], opt=2, emit="llvm")
    assert "putchar" not in ir and "puts" not in ir
    assert '"no-builtins"' in ir and "nounwind" in ir


def test_u64_division_calls_the_runtime():
    text = asm("def f(a: u64, b: u64) -> u64:\n    return a // b\n")
    assert "__udivdi3" in text


def test_interrupt_frame_stores_survive_O2():
    # LLVM models the frame as a byval copy; kpy keeps stores to it so a
    # handler can resume elsewhere (skip a faulting instruction).
    text = asm('@interrupt\ndef h(frame: ptr[InterruptFrame]) -> None:\n    frame.eip += 2\n')
    assert re.search(r"addl\s+\$2, \d*\(%\w+\)|movl\s+%\w+, \d*\(%\w+\)", body(text, "h"))


def test_no_fpu_or_sse_instructions():
    # The kernel never sets up the FPU: 64-bit and struct copies must use
    # integer registers only.
    src = '''
class S(Struct):
    a: u64
    b: array[u8, 40]
x: S
y: S
def f() -> None:
    x = y
def g(p: ptr[u64], q: ptr[u64]) -> u64:
    p[0] = q[0]
    return p[0] * q[1] // 3
'''
    for opt in (0, 1, 2):
        text = asm(src, opt)
        assert not re.search(r"%xmm|%st\b|%st\(|\bfild|\bfist|\bfld", text), text


def test_final_constants_are_folded_without_storage():
    src = '''
N_WRITES: Final = 10_000
TWICE: Final[u32] = N_WRITES * 2 + 1

def get() -> u32:
    return TWICE
'''
    for opt in (0, 2):
        ir = compile_source(src, filename="t.kpy", module="t", roots=[], opt=opt, emit="llvm")
        assert "N_WRITES" not in ir and "@TWICE" not in ir, ir       # no global, no symbol
        assert "ret i32 20001" in ir, ir                               # folded even at -O0
