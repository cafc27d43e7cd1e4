"""The compiler's objects are ELF32 i386 relocatables that binutils accept;
syntax errors are located diagnostics."""
import subprocess

import pytest

from compiler.driver import CompileError, compile_source

SAMPLE = '''
def add(a: u32, b: u32) -> u32:
    return a + b

def outb(port: u16, v: u8) -> None:
    asm("outb %al, %dx", inputs=[("{al}", v), ("{dx}", port)])

@section(".text.entry")
def _entry() -> None:
    s: ptr[u8] = "Hello from kpy\\r\\n"
    i: u32 = 0
    while s[i] != 0:
        outb(0x3F8, s[i])
        i += 1
'''


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_object_is_elf32_i386_relocatable(tmp_path, opt):
    obj = compile_source(SAMPLE, filename="t.kpy", module="t", roots=[], opt=opt)
    assert obj[:4] == b"\x7fELF" and obj[4] == 1          # ELFCLASS32
    assert int.from_bytes(obj[16:18], "little") == 1       # ET_REL
    assert int.from_bytes(obj[18:20], "little") == 3       # EM_386
    path = tmp_path / "t.o"
    path.write_bytes(obj)
    r = subprocess.run(["readelf", "-a", "-W", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert ".text.entry" in r.stdout and "_entry" in r.stdout
    assert ".eh_frame" not in r.stdout                     # every function is nounwind
    d = subprocess.run(["objdump", "-d", str(path)], capture_output=True, text=True)
    assert d.returncode == 0 and not d.stderr
    assert "out    %al,(%dx)" in d.stdout


def test_syntax_error_is_located():
    src = "def f() -> u32:\n    return (1 +\n"
    with pytest.raises(CompileError) as ei:
        compile_source(src, filename="bad.kpy", module="bad", roots=[])
    text = str(ei.value)
    first = text.splitlines()[0]
    assert first.startswith("bad.kpy:") and ": error: " in first
    assert "^" in text.splitlines()[-1]


def test_type_error_names_both_types():
    src = "def f(p: ptr[u8]) -> u32:\n    return p\n"
    with pytest.raises(CompileError) as ei:
        compile_source(src, filename="t.kpy", module="t", roots=[])
    msg = str(ei.value)
    assert "t.kpy:2:12: error:" in msg and "u32" in msg and "ptr[u8]" in msg


def test_unknown_name_suggests_nearest():
    src = "def counter() -> u32:\n    return 1\n\ndef f() -> u32:\n    return countr()\n"
    with pytest.raises(CompileError) as ei:
        compile_source(src, filename="t.kpy", module="t", roots=[])
    assert "did you mean 'counter'?" in str(ei.value)
