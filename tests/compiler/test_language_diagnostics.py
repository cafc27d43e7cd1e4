"""Diagnostics for the C-kernel language features (issue 18): match as
switch, unions, constant tables, sizeof/offsetof, inline asm operands.
Each case asserts file:line:col and the caret, like test_diagnostics."""
import pytest

from compiler.driver import CompileError, compile_source
from harness import assert_error_at

M = "K: Final = 2\ndef f(x: u32) -> u32:\n    match x:\n"
CASES = [
    (M + "        case 1 | 2:\n            pass\n        case K:\n            pass\n    return 0\n", "6:14",
     "duplicate case value 2 (already a case at line 4)"),
    (M + "        case _:\n            pass\n        case 1:\n            pass\n    return 0\n", "6:9",
     "this case can never match: 'case _:' at line 4"),
    (M + "        case 1 if x > 3:\n            pass\n    return 0\n", "4:19", "a 'case' guard"),
    (M + "        case \"a\":\n            pass\n    return 0\n", "4:14", "must be an integer constant"),
    (M + "        case nope:\n            pass\n    return 0\n", "4:14", "unknown name 'nope'"),
    ("def f(x: u8) -> u32:\n    match x:\n        case 256:\n            pass\n    return 0\n", "3:14",
     "case value 256 does not fit in the subject's type u8"),
    # negative literal patterns (`case -1:`): signed subjects only, within range, once
    ("def f(x: u32) -> u32:\n    match x:\n        case -1:\n            pass\n    return 0\n", "3:14",
     "case value -1 is negative, and the subject's type u32 is unsigned; write 0xffffffff"),
    ("def f(x: u8) -> u32:\n    match x:\n        case 1 | -0x10:\n            pass\n    return 0\n", "3:18",
     "case value -16 is negative, and the subject's type u8 is unsigned; write 0xf0"),
    ("def f(x: i8) -> u32:\n    match x:\n        case -129:\n            pass\n    return 0\n", "3:14",
     "case value -129 does not fit in the subject's type i8"),
    ("def f(x: i32) -> u32:\n    match x:\n        case -2147483649:\n            pass\n    return 0\n", "3:14",
     "case value -2147483649 does not fit in the subject's type i32"),
    ("M3: Final[i32] = -3\ndef f(x: i32) -> u32:\n    match x:\n        case M3:\n            pass\n"
     "        case -3:\n            pass\n    return 0\n", "6:14", "duplicate case value -3 (already a case at line 4)"),
    ("def f(x: i32) -> u32:\n    match x:\n        case -x:\n            pass\n    return 0\n", "3:15",
     "invalid syntax"),
    ("def f(p: ptr[u8]) -> u32:\n    match p:\n        case 1:\n            pass\n    return 0\n", "2:11",
     "'match' needs an integer subject"),
    ("class U(Union):\n    a: u32\n    b: u8\ndef f() -> None:\n    u: U = U(a=1, b=2)\n", "5:19",
     "a union literal sets one member"),
    ("class U(Union):\n    p: ptr[u8]\ng: U = U(p=\"x\")\n", "3:12",
     "a union in a global's initialiser can set an integer member only"),
    ("class U(Union, packed=True):\n    a: u32\n", "1:16", "the only struct option is packed=True"),
    ("T: Final[array[u32, 2]] = [1, 2]\ndef f() -> None:\n    T[0] = 5\n", "3:5",
     "cannot assign to 'T': it is a Final table (read-only, in .rodata)"),
    ("class P(Struct):\n    x: array[u8, 2]\nT: Final[array[P, 2]] = []\ndef f() -> None:\n    T[1].x[0] += 1\n", "5:5",
     "cannot assign to 'T': it is a Final table"),
    ("class P(Struct):\n    x: u32\nONE: Final[P] = P(x=1)\ndef f() -> None:\n    ONE.x = 2\n", "5:5",
     "cannot assign to 'ONE': it is a Final table"),
    ("T: Final[array[u32, 2]]\n", "1:1", "Final table 'T' needs a value"),
    ("def f() -> u32:\n    return sizeof(3)\n", "2:19", "sizeof of an untyped integer constant"),
    ("class S(Struct):\n    a: array[u8, 4]\ndef f() -> u32:\n    return offsetof(S, a[4])\n", "4:26",
     "offsetof needs a constant index in 0..3"),
    ("class I(Struct):\n    b: u8\nclass S(Struct):\n    i: I\ndef f() -> u32:\n    return offsetof(S, i.c)\n",
     "6:26", "struct 'I' has no field 'c'"),
    ("class S(Struct):\n    a: u32\ndef f() -> u32:\n    return offsetof(S, a.b)\n", "4:26", "'b': u32 is not a struct"),
    # inline asm: every error at the asm(...) call, in the user's $N
    ("def f() -> u32:\n    x: u32 = 0\n    asm(\"cli\")\n    asm(\"movl %rax, $0\", outputs=[(\"=r\", x)])\n    return x\n",
     "4:5", "asm: register %rax is only available in 64-bit mode in 'movl %rax, $0'"),
    ("def f(a: u32, b: u32) -> None:\n    asm(\"cli\")\n    asm(\"movl $0, %eax\\n addl $2, %eax\", inputs=[(\"r\", a), (\"r\", b)])\n",
     "3:9", "asm operand $2 does not exist: this asm has 2 operands ($0..$1)"),
    ("def f(a: u32, b: u32, c: u32, d: u32, e: u32, g: u32, h: u32) -> None:\n    asm(\"cli\")\n"
     "    asm(\"nop\", inputs=[(\"r\", a), (\"r\", b), (\"r\", c), (\"r\", d), (\"r\", e), (\"r\", g), (\"r\", h)])\n",
     "3:9", "this asm needs 7 registers for its inputs, more than the 6 general registers available"),
    ("def f(a: u32) -> None:\n    asm(\"cli\")\n    asm(\"int $0\", inputs=[(\"i\", a)])\n", "3:33",
     "asm operand $0 has constraint 'i' (an immediate), but its value is not a compile-time constant"),
    ("def f(a: u32) -> u32:\n    asm(\"nop\", clobbers=[\"eax\", \"ebx\"])\n"
     "    asm(\"nop\", result=(\"=r\", u32), outputs=[(\"+r\", a)], inputs=[(\"r\", a), (\"r\", a), (\"r\", a), (\"r\", a)], clobbers=[\"esi\", \"edi\"])\n"
     "    return a\n", "3:9", "this asm needs 5 registers for its inputs and clobbers 2"),
    ("def f() -> None:\n    asm(\"nop\")\n    asm(\"movl $$1, %eax\", clobbers=[\"eax\"])\n    asm(\"movl $$1, %eex\")\n", "4:5",
     "asm: invalid register name in 'movl $$1, %eex'"),
]


@pytest.mark.parametrize("src,where,text", CASES, ids=[c[2][:30] for c in CASES])
def test_error(src, where, text):
    assert_error_at(src, where, text)


WARNINGS = [
    ("def f(a: u8, b: u8) -> bool:\n    return a + b > 250\n", "2:14",
     "'+' is computed in u8 and may wrap before this comparison"),
    ("def f(a: u16, b: u16) -> u32:\n    r: u32 = a * b\n    return r\n", "2:16",
     "'*' is computed in u16 and may wrap before it is widened to u32"),
    ("def f(x: u8) -> bool:\n    return x < 256\n", "2:16", "comparison is always True: 256 is outside the range of u8"),
    ("def f(x: i8) -> bool:\n    return -200 == x\n", "2:12", "comparison is always False: -200 is outside the range of i8"),
]


@pytest.mark.parametrize("src,where,text", WARNINGS, ids=[c[2][:30] for c in WARNINGS])
def test_warning_does_not_fail_the_build(src, where, text):
    from compiler.driver import compile_module
    res = compile_module(src, "e.kpy", "e", [], 0, False, "obj")
    report = "\n".join(w.format() for w in res.warnings)
    assert f"e.kpy:{where}: warning: " in report, report
    assert text in report, report
    assert res.output


def test_negative_range_stop_over_unsigned_is_an_error():
    src = "def f(n: u32) -> u32:\n    t: u32 = 0\n    for i in range(n, -1, -1):\n        t += i\n    return t\n"
    with pytest.raises(CompileError) as ei:
        compile_source(src, filename="e.kpy", module="e", roots=[], opt=0)
    assert str(ei.value).startswith("e.kpy:3:23: error: the range stop -1 is negative, but the loop counts in u32 "
                                    "(it would be 4294967295)"), str(ei.value)
