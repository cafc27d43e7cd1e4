"""Issue 20: hostile kpy input gets a located diagnostic, never an internal
compiler error, an abort or a runaway allocation."""
import pytest

from compiler.driver import CompileError, compile_source

CASES = [
    ("x: u32 = " + "1" * 4301 + "\n", "1:10", "integer literal is too long"),
    ("x: u8 = 0x" + "f" * 4000 + "\n", "1:9", "integer literal is too long"),
    ("x: array[u8, " + "9" * 4400 + "]\n", "1:14", "integer literal is too long"),
    ('def f() -> None:\n    s = "\\ud800"\n', "2:9", "lone surrogate"),
    ('@section(".bss")\ndef f() -> None:\n    pass\n', "1:1", "a function cannot be placed there"),
    ('@export("a\\x00b")\ndef f() -> None:\n    pass\n', "1:1", "contains a NUL"),
    ('@export("llvm.trap")\ndef f() -> None:\n    pass\n', "1:1", "reserved for LLVM intrinsics"),
    ("x: array[u8, 0x10000000] = [1]\n", "1:28", "initialised global of 268435456 bytes is too big"),
    ("def f() -> None:\n    x: array[u8, 0xffffffff]\n    x[0] = 1\n", "2:8", "does not fit on the stack"),
    ('global_asm(".org -1")\n', "1:1", "invalid .org offset"),
]


@pytest.mark.parametrize("src,where,text", CASES, ids=[c[2][:30] for c in CASES])
@pytest.mark.parametrize("debug", [False, True])
def test_hostile_source(src, where, text, debug):
    with pytest.raises(CompileError) as ei:
        compile_source(src, filename="h.kpy", module="h", roots=[], opt=0, debug=debug)
    report = str(ei.value)
    assert f"h.kpy:{where}: error: " in report, report
    assert text in report and "internal compiler error" not in report, report


def test_column_past_65535_with_debug_info():
    src = "def g(a: u32) -> u32:\n    return a\ndef f() -> u32:\n    return (" + " " * 70000 + "g(1))\n"
    obj = compile_source(src, filename="c.kpy", module="c", roots=[], opt=0, debug=True)
    assert obj[:4] == b"\x7fELF"
