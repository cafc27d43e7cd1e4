"""link_objects: the simple flat layout the language part runs programs with."""
import subprocess

import pytest

from compiler.linker import LinkError, link_objects

from lk_objects import make_object
from lk_runner import Loaded

MAIN = """
@counter = global i32 5
@zeros = global [16 x i32] zeroinitializer
@msg = private constant [6 x i8] c"hello\\00"
declare i32 @twice(i32)
define i32 @main(i32 %x) nounwind {
  %c = load i32, ptr @counter
  %t = call i32 @twice(i32 %x)
  %s = add i32 %t, %c
  ret i32 %s
}
define ptr @message() nounwind { ret ptr @msg }
define ptr @zero_area() nounwind { ret ptr @zeros }
"""
HELPER = """
define i32 @twice(i32 %x) nounwind noinline { %r = shl i32 %x, 1
 ret i32 %r }
"""


@pytest.fixture(scope="module")
def program():
    return link_objects([("main.o", make_object(MAIN)), ("helper.o", make_object(HELPER))])


def test_linked_code_runs(program):
    m = Loaded(program)
    assert m.call("main", 20) == 45
    assert m.read(m.call("message"), 6) == b"hello\0"
    assert m.read(m.call("zero_area"), 64) == bytes(64)


def test_layout_order_and_symbols(program):
    m = Loaded(program)
    s = m.symbols
    assert 0x100000 <= s["main"] < s["message"]
    assert s["__bss_start"] <= s["zeros"] < s["__bss_end"]
    assert s["counter"] < s["__bss_start"]
    assert s["__init_array_start"] == s["__init_array_end"]


def test_text_entry_comes_first():
    entry = make_object("""
define void @_entry() nounwind section ".text.entry" { ret void }
""")
    other = make_object("define i32 @f() nounwind { ret i32 1 }")
    m = Loaded(link_objects([("other.o", other), ("entry.o", entry)], base=0x200000, entry="_entry"))
    assert m.symbols["_entry"] == 0x200000
    assert m.elf.header["e_entry"] == 0x200000


def test_binutils_accept_output(program, tmp_path):
    path = tmp_path / "p.elf"
    path.write_bytes(program)
    for cmd in (["readelf", "-a", "-W", str(path)], ["objdump", "-d", "-r", str(path)]):
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert "Warning" not in res.stderr and "Error" not in res.stderr, res.stderr


def test_undefined_symbol_names_referrer():
    with pytest.raises(LinkError) as err:
        link_objects([("main.o", make_object(MAIN))])
    text = str(err.value)
    assert "undefined symbol: twice" in text
    assert "main.o: function main" in text


def test_output_is_deterministic():
    objects = [("main.o", make_object(MAIN)), ("helper.o", make_object(HELPER))]
    assert link_objects(objects) == link_objects(list(objects))


def test_map_file_flags_pages_shared_by_code_and_data():
    from compiler.linker import flat_layout, link
    from lk_programs import kernel_layout
    objects = [("main.o", make_object(MAIN)), ("helper.o", make_object(HELPER))]
    packed = link(objects, flat_layout(0x100000, "main")).map_text
    assert "0x00100000  .text .rodata .data .bss  ! code and writable data share this page" in packed
    separate = link(objects, kernel_layout(entry="main")).map_text
    assert "share this page" not in separate
    assert "0xfe000000  .text\n" in separate
