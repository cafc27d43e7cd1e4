"""-g: DWARF line tables, subprograms and variables that binutils and GNU
gdb read, in objects and in linked programs."""
import shutil
import subprocess

import pytest

import harness
from compiler.driver import compile_source

SRC = '''counter: u32 = 0

class Point(Struct):
    x: u32
    y: u32

def add(a: u32, b: u32) -> u32:
    t: u32 = a + b
    p: Point
    p.x = t
    counter += 1
    return p.x
'''

needs_gdb = pytest.mark.skipif(shutil.which("gdb") is None, reason="GNU gdb is not installed (scripts/setup installs it)")


def obj(tmp_path, opt: int):
    path = tmp_path / "dbg.kpy"
    path.write_text(SRC)
    o = tmp_path / "dbg.o"
    o.write_bytes(compile_source(SRC, filename=str(path), module="dbg", roots=[], opt=opt, debug=True))
    return o


@pytest.mark.parametrize("opt", [0, 2])
def test_decoded_line_table(tmp_path, opt):
    o = obj(tmp_path, opt)
    out = subprocess.run(["objdump", "--dwarf=decodedline", str(o)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("dbg.kpy")]
    lines = {int(r[1]) for r in rows if r[1].isdigit()}
    assert 7 in lines and lines <= set(range(1, 13)), out


@needs_gdb
def test_gdb_lists_the_kpy_source_of_a_function(tmp_path):
    o = obj(tmp_path, 0)
    r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info line add", "-ex", "list add",
                        "-ex", "ptype struct Point", "-ex", "info scope add", str(o)],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout
    assert 'Line 7 of "dbg.kpy"' in out
    assert "def add(a: u32, b: u32) -> u32:" in out
    assert "u32 x;" in out and "u32 y;" in out
    for var in ("a", "b", "t", "p"):
        assert f"Symbol {var} is" in out


@needs_gdb
def test_gdb_sees_varargs_signatures(tmp_path):
    path = tmp_path / "va.kpy"
    src = "def printf(fmt: ptr[u8], *args: VaList) -> i32:\n    return 0\n"
    o = tmp_path / "va.o"
    o.write_bytes(compile_source(src, filename=str(path), module="va", roots=[], opt=0, debug=True))
    r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info functions printf", str(o)],
                       capture_output=True, text=True, timeout=60)
    assert "i32 printf(u8 *, ...);" in r.stdout, r.stdout


@needs_gdb
def test_gdb_reads_a_linked_program(tmp_path):
    path = tmp_path / "dbg.kpy"
    path.write_text(SRC)
    objs = harness.compile_program(SRC, 1, filename=str(path), module="dbg", debug=True)
    elf = harness.link(objs)
    exe = tmp_path / "dbg.elf"
    exe.write_bytes(elf)
    r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "info line add", "-ex", "print sizeof(counter)", str(exe)],
                       capture_output=True, text=True, timeout=60)
    assert 'Line 7 of "dbg.kpy"' in r.stdout and "= 4" in r.stdout, r.stdout + r.stderr


# Programs whose debug info is tricky: self-referential structs, ptr[void],
# varargs, naked and interrupt functions, 64-bit values. With -g they must
# compile at every level and still compute the same results.
DEBUG_PROGRAMS = ["struct_pointers", "ptr_void", "varargs", "deco_naked", "interrupts_int", "u64_divmod",
                  "global_init_refs", "fn_pointers", "modules_import"]
CORPUS = harness.ROOT / "tests" / "compiler" / "corpus"


@pytest.mark.parametrize("opt", [0, 2])
@pytest.mark.parametrize("name", DEBUG_PROGRAMS)
def test_debug_builds_behave_the_same(name, opt):
    path = CORPUS / f"{name}.kpy"
    src = path.read_text()
    m = harness.build(src, opt, roots=[CORPUS], filename=str(path), module=name, debug=True)
    harness.check_expectations(m, src)


TYPES_SRC = '''class Node(Struct):
    next: ptr[Node]
    key: u64

class Header(Struct, packed=True):
    tag: u8
    length: u32
    flag: bool

def twice(x: u64) -> u64:
    return x + x

def thrice(x: u64) -> u64:
    return x * 3

TABLE: array[fn[[u64], u64], 2] = [twice, thrice]
head: ptr[Node] = None
hdr: Header
ready: bool = False
callback: fn[[u32, ptr[u8]], None]
'''


@needs_gdb
def test_gdb_ptype_of_function_pointers_structs_bool_and_packed_layouts(tmp_path):
    """ptype as gdb gives it for the equivalent C from clang."""
    path = tmp_path / "types.kpy"
    o = tmp_path / "types.o"
    o.write_bytes(compile_source(TYPES_SRC, filename=str(path), module="types", roots=[], opt=0, debug=True))
    r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "ptype TABLE", "-ex", "whatis TABLE[0]",
                        "-ex", "ptype head", "-ex", "ptype ready", "-ex", "ptype callback",
                        "-ex", "print sizeof(hdr)", "-ex", "print &((struct Header *)0)->flag", str(o)],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout
    assert "type = u64 (*[2])(u64)" in out, out + r.stderr
    assert "type = u64 (*)(u64)" in out, out
    assert "type = struct Node {\n    struct Node *next;\n    u64 key;\n} *" in out, out
    assert "type = bool" in out and "type = void (*)(u32, u8 *)" in out, out
    assert "= 6" in out and "(bool *) 0x5" in out, out
