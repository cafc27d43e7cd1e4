"""Language features of issue 18 that need more than a corpus program:
the switch's jump table in the -O2 assembly, and 300+-arm dispatches."""
import re

import pytest

import harness
from compiler.driver import compile_source
from vm.flat import GuestFault

ARMS = 330


def test_dense_match_becomes_a_jump_table_at_O2():
    # Calls to distinct functions, so LLVM cannot turn the switch into arithmetic or a value table.
    decls = "".join(f"@extern\ndef h{i}() -> u32: ...\n" for i in range(12))
    cases = "".join(f"        case {i}:\n            return h{i}()\n" for i in range(12))
    src = f"{decls}def f(x: u32) -> u32:\n    match x:\n{cases}        case _:\n            return 0\n"
    text = compile_source(src, filename="t.kpy", module="t", roots=[], opt=2, emit="asm")
    body = re.search(r"^f:\n(.*?)^\.Lfunc_end", text, re.S | re.M).group(1)
    assert re.search(r"jmpl\s+\*\.LJTI\d+_\d+\(,%\w+,4\)", body), body   # indirect jump through the table
    assert re.search(r"^\.LJTI\d+_\d+:\n(\s+\.long\s+\.LBB\d+_\d+\n){12}", text, re.M), text


def test_dense_negative_match_becomes_a_jump_table_at_O2():
    decls = "".join(f"@extern\ndef h{i}() -> u32: ...\n" for i in range(12))
    cases = "".join(f"        case {i - 6}:\n            return h{i}()\n" for i in range(12))
    src = f"{decls}def f(x: i32) -> u32:\n    match x:\n{cases}        case _:\n            return 0\n"
    text = compile_source(src, filename="t.kpy", module="t", roots=[], opt=2, emit="asm")
    assert re.search(r"^\.LJTI\d+_\d+:\n(\s+\.long\s+\.LBB\d+_\d+\n){12}", text, re.M), text


def _elif_chain(n: int) -> str:
    arms = "".join(f"    elif x == {i}:\n        return {i * 3 + 1}\n" for i in range(1, n))
    return f"def f(x: u32) -> u32:\n    if x == 0:\n        return 1\n{arms}    return 7\n"


def _match(n: int) -> str:
    arms = "".join(f"        case {i * 5}:\n            return {i * 3 + 1}\n" for i in range(n))
    return f"def f(x: u32) -> u32:\n    match x:\n{arms}        case _:\n            return 7\n"


@pytest.mark.parametrize("opt", [0, 2])
@pytest.mark.parametrize("shape", ["elif", "match"])
def test_a_330_arm_dispatch_compiles_and_runs(shape, opt):
    src = _elif_chain(ARMS) if shape == "elif" else _match(ARMS)
    m = harness.build(src, opt)
    step = 1 if shape == "elif" else 5
    for i in (0, 1, 150, ARMS - 1):
        assert m.call("f", i * step) == i * 3 + 1
    assert m.call("f", ARMS * step) == 7


def test_a_1200_arm_elif_chain_inside_a_loop_compiles():
    arms = "".join(f"        elif x == {i}:\n            return {i}\n" for i in range(1, 1200))
    src = f"def f(x: u32) -> u32:\n    while True:\n        if x == 0:\n            return 9\n{arms}        else:\n            return 5\n"
    assert compile_source(src, filename="t.kpy", module="t", roots=[], opt=0)


DIVISIONS = '''
zero: u32 = 0
def div_local(a: u32) -> u32:
    d: u32 = 0
    return a // d
def mod_local(a: i32) -> i32:
    d = i32(0)
    return a % d
def div64(a: u64) -> u64:
    d: u64 = 0
    return a // d
def mod64(a: i64) -> i64:
    d: i64 = 0
    return a % d
def min_by_minus1() -> i32:
    a: i32 = -2147483648
    m: i32 = -1
    return a // m
def helper(a: u32, d: u32) -> u32:
    return a // d
def inlined(a: u32) -> u32:
    return helper(a, 0)
def by_const(a: u32) -> u32:
    return a // 10 + a % 7
'''


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_division_by_zero_raises_DE_at_every_level(opt):
    m = harness.build(DIVISIONS, opt)
    for fn in ("div_local", "mod_local", "div64", "mod64", "min_by_minus1", "inlined"):
        with pytest.raises(GuestFault) as ei:
            m.call(fn, ("u64", 5) if fn in ("div64", "mod64") else 5)
        assert ei.value.vector == 0, (fn, ei.value)
    assert m.call("by_const", 100) == 10 + 2


def test_division_by_a_nonzero_constant_stays_a_multiply():
    text = compile_source(DIVISIONS, filename="t.kpy", module="t", roots=[], opt=2, emit="asm")
    body = re.search(r"^by_const:\n(.*?)^\.Lfunc_end", text, re.S | re.M).group(1)
    assert "div" not in body and "mul" in body, body


def test_final_tables_are_in_rodata():
    import io
    from elftools.elf.elffile import ELFFile
    src = ("class C(Struct):\n    name: ptr[u8]\n    f: fn[[], None]\n"
           "def g() -> None:\n    pass\n"
           "T: Final[array[u32, 3]] = [1, 2, 3]\nCS: Final[array[C, 1]] = [C(name=\"x\", f=g)]\n"
           "ONE: Final[C] = C(f=g)\nplain: array[u32, 3] = [1, 2, 3]\n")
    elf = ELFFile(io.BytesIO(compile_source(src, filename="t.kpy", module="t", roots=[], opt=2)))
    symtab = elf.get_section_by_name(".symtab")
    where = {s.name: elf.get_section(s["st_shndx"]).name for s in symtab.iter_symbols() if s.name in ("T", "CS", "ONE", "plain")}
    assert where == {"T": ".rodata", "CS": ".rodata", "ONE": ".rodata", "plain": ".data"}, where
