"""Every link error names what is wrong; none is a traceback."""
import llvmlite.binding as llvm
import pytest

from compiler.linker import LinkError, TargetLayout, link, link_objects
from compiler.linker.layout import OutputSectionSpec

from lk_objects import make_object
from lk_programs import boot_layout, kernel_layout

CALLER_A = """
declare i32 @missing(i32)
define i32 @first_user(i32 %x) nounwind { %r = call i32 @missing(i32 %x)
 ret i32 %r }
"""
CALLER_B = """
declare i32 @missing(i32)
@fp = global ptr @missing
define i32 @second_user() nounwind { %r = call i32 @missing(i32 2)
 ret i32 %r }
"""


def link_error(objects, layout=None) -> str:
    with pytest.raises(LinkError) as err:
        if layout is None:
            link_objects(objects)
        else:
            link(objects, layout)
    return str(err.value)


def test_undefined_symbol_lists_every_referrer():
    text = link_error([("a.o", make_object(CALLER_A)), ("b.o", make_object(CALLER_B))])
    assert text.startswith("undefined symbol: missing")
    assert "referenced by a.o: function first_user (.text+0x" in text
    assert "referenced by b.o: function second_user (.text+0x" in text
    assert "referenced by b.o: object fp (.data+0x0)" in text


def test_undefined_entry_point():
    layout = kernel_layout(entry="no_such_entry")
    text = link_error([("a.o", make_object("define void @f() nounwind { ret void }"))], layout)
    assert "undefined symbol: no_such_entry" in text and "entry point of target kernel" in text


def test_duplicate_definition_names_both_places():
    one = make_object("define i32 @twice(i32 %x) nounwind { ret i32 %x }")
    two = make_object("@pad = global i32 1\ndefine i32 @twice(i32 %x) nounwind { ret i32 0 }")
    text = link_error([("one.o", one), ("two.o", two)])
    assert "duplicate symbol: twice" in text
    assert "defined in one.o (section .text, offset 0x0)" in text
    assert "and in two.o (section .text, offset 0x0)" in text


def test_layout_symbol_clashing_with_object_definition():
    obj = make_object("@__bss_start = global i32 1")
    text = link_error([("clash.o", obj)])
    assert "duplicate symbol: __bss_start" in text and "defined by the layout" in text and "clash.o" in text


def test_16_bit_relocation_overflow_names_site_symbol_value():
    asm = """
.code16
.section .text.entry,"ax"
.globl _start
_start:
  mov $far_data, %si
  ret
.data
.fill 0x9000, 1, 0
far_data: .byte 1
"""
    text = link_error([("boot.o", make_object(asm=asm))], boot_layout("stage2", "flat", 0x7E00))
    assert "relocation R_386_16 out of range at boot.o:(.text.entry+0x1) in _start" in text
    assert "value 0x10e0" in text and "symbol .data" in text and "[-32768, 65535]" in text


def test_pc8_overflow():
    # A short jmp (EB rel8) to a global 300 bytes away, in another object.
    jumper = '.section .text.entry,"ax"\n.globl _start\n_start:\n  .byte 0xEB\n  .byte far_target - .\n'
    target = ".text\n.fill 300, 1, 0x90\n.globl far_target\nfar_target: ret\n"
    objects = [("short.o", make_object(asm=jumper)), ("far.o", make_object(asm=target))]
    text = link_error(objects, boot_layout("stage2", "flat", 0x7E00))
    assert "R_386_PC8 out of range at short.o:(.text.entry+0x1) in _start" in text
    assert "(symbol far_target)" in text and "[-128, 127]" in text


def test_overlapping_sections():
    layout = TargetLayout(name="k", format="elf", vma=0x1000, sections=[
        OutputSectionSpec(".text", [[".text"]]),
        OutputSectionSpec(".data", [[".data"]], vma=0x1004)])
    obj = make_object("@d = global i32 1\ndefine i32 @f(i32 %x) nounwind { %y = mul i32 %x, %x\n %z = add i32 %y, 7\n ret i32 %z }")
    text = link_error([("o.o", obj)], layout)
    assert "section .data is placed at 0x1004, below the end of .text" in text


def test_overlapping_load_addresses():
    layout = TargetLayout(name="k", format="elf", vma=0x1000, sections=[
        OutputSectionSpec(".text", [[".text"]]),
        OutputSectionSpec(".data", [[".data"]], vma=0x8000, lma=0x1002)])
    obj = make_object("@d = global i32 1\ndefine i32 @f(i32 %x) nounwind { %y = mul i32 %x, %x\n ret i32 %y }")
    text = link_error([("o.o", obj)], layout)
    assert "sections .text [0x1000, " in text and ".data [0x1002, 0x1006) overlap in load memory" in text


def test_section_matching_no_pattern():
    obj = make_object('@x = global i32 1, section ".weird"')
    text = link_error([("w.o", obj)])
    assert "match no output section pattern" in text and "w.o:(.weird) (4 bytes)" in text


@pytest.mark.parametrize("data, message", [
    (b"", "not an ELF file"),
    (b"hello world" * 10, "not an ELF file"),
    (b"\x7fELF\x02\x01\x01" + bytes(57), "not an ELF32 little-endian object"),
    (b"\x7fELF\x01\x01\x01" + bytes(9) + b"\x01\x00\x03\x00", "truncated ELF file (20 bytes"),
    (b"\x7fELF\x01\x01\x01" + bytes(9) + b"\x01\x00\x03\x00" + b"\xff" * 60, "malformed ELF object"),
])
def test_malformed_input(data, message):
    text = link_error([("bad.o", data)])
    assert text.startswith("bad.o: ") and message in text


def test_truncated_object():
    good = make_object("define i32 @f() nounwind { ret i32 1 }")
    text = link_error([("cut.o", good[:200])])
    assert text.startswith("cut.o: ") and ("malformed" in text or "past the end" in text)


def test_non_i386_object():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_triple("x86_64-unknown-none-elf")
    mod = llvm.parse_assembly('target triple = "x86_64-unknown-none-elf"\ndefine void @f() { ret void }\n')
    obj = target.create_target_machine().emit_object(mod)
    text = link_error([("amd64.o", obj)])
    assert text.startswith("amd64.o: ") and "ELF32" in text


def test_executable_as_input():
    exe = link_objects([("a.o", make_object("define i32 @f() nounwind { ret i32 1 }"))])
    text = link_error([("a.out", exe)])
    assert "a.out: is ET_EXEC, expected a relocatable object" in text


def test_stage2_over_its_sectors_names_excess_and_contributors():
    layout = boot_layout("stage2", "flat", 0x7E00)
    layout.max_size = 63 * 512
    big = make_object(asm='.section .text.entry,"ax"\n.globl _start\n_start: ret\n.data\n.fill 40000, 1, 1\n')
    text = link_error([("huge.o", big)], layout)
    size = int(text.split("the flat binary is ")[1].split()[0])
    assert size > 40000 and f"{size - 32256} bytes over its limit of 32256 (63 sectors)" in text
    assert "40000 bytes  huge.o:(.data)" in text and "  0 bytes" not in text


def test_unwind_tables_get_a_hint():
    obj = make_object("define i32 @f(i32 %x) uwtable { %y = add i32 %x, 1\n ret i32 %y }")
    text = link_error([("unwind.o", obj)])
    assert "unwind.o:(.eh_frame)" in text and "not marked nounwind" in text


def test_common_symbol_without_a_common_pattern():
    layout = TargetLayout(name="k", format="elf", vma=0x1000, sections=[
        OutputSectionSpec(".text", [[".text"]]), OutputSectionSpec(".bss", [[".bss"]])])
    obj = make_object("@c = common global i32 0, align 4\ndefine ptr @f() nounwind { ret ptr @c }")
    text = link_error([("c.o", obj)], layout)
    assert "common symbol(s) c (c.o)" in text and "COMMON" in text


def test_pic_relocations_are_named_and_rejected():
    asm = ".text\n.globl _start\n_start:\n  movl foo@GOT(%ebx), %eax\n  leal foo@GOTOFF(%ebx), %eax\n  ret\nfoo: ret\n"
    text = link_error([("pic.o", make_object(asm=asm))])
    assert "unsupported relocation R_386_GOT32" in text and "pic.o:(.text+0x2) in _start" in text
    assert "R_386_GOTOFF" in text and "static, non-PIC" in text
