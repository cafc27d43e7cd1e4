"""Test programs for the linker: LLVM IR and module asm, with the layouts they link with.

Each program is a list of object sources plus a TargetLayout; the
differential test links each with ours and with ld.lld. The sources cover
what LLVM emits for i686 at -O0..-O2 (calls, globals, jump tables, 64-bit
division helpers, constructors, COMDAT, common and weak symbols, debug
info) and the 16-bit code of boot sectors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from compiler.linker.layout import OutputSectionSpec, TargetLayout, flat_layout


@dataclass
class Source:
    name: str
    ir: str = ""
    asm: str = ""
    opt: int = 2


@dataclass
class Program:
    name: str
    sources: list[Source]
    layout: TargetLayout
    calls: list = field(default_factory=list)     # (function, args, expected result) run on unicorn


def sec(name, *inputs, **kw):
    return OutputSectionSpec(name=name, inputs=[s.split() for s in inputs], **kw)


def kernel_layout(entry="_entry", gc=False) -> TargetLayout:
    """The seed kernel's layout: linked at 0xFE000000, loaded at 0x400000."""
    return TargetLayout(
        name="kernel", format="elf", entry=entry, vma=0xFE000000, lma=0x400000, gc_sections=gc,
        sections=[
            sec(".text", ".text.entry", ".text .text.*", align=4096,
                start_symbol="__text_start", end_symbol="__text_end"),
            sec(".rodata", ".rodata .rodata.*", align=4096),
            sec(".init_array", ".init_array .init_array.* .ctors .ctors.*", keep=True,
                start_symbol="__init_array_start", end_symbol="__init_array_end"),
            sec(".data", ".data .data.*", align=4096),
            sec(".bss", ".bss .bss.* COMMON", align=4096, start_symbol="__bss_start", end_symbol="__bss_end"),
        ],
        symbols={"__kernel_phys_start": ("load_start", ".text", 0), "__kernel_end": ("end", ".bss", 0),
                 "__kernel_phys_end": ("load_end", ".bss", 0), "__stack_top": ("end", ".bss", 0x1000),
                 "__virt_base": 0xFE000000, "__text_size": ("size", ".text", 0)},
    )


def boot_layout(name="boot", fmt="bootsector", vma=0x7C00) -> TargetLayout:
    return TargetLayout(name=name, format=fmt, entry="_start", vma=vma, sections=[
        sec(".text", ".text.entry", ".text .text.*", ".rodata .rodata.* .data .data.*"),
        sec(".bss", ".bss .bss.* COMMON", start_symbol="__boot_bss_start", end_symbol="__boot_bss_end"),
    ])


CALLS_IR = """
@counter = global i32 5
@table = global [4 x i32] [i32 1, i32 2, i32 3, i32 4], align 16
@buffer = global [64 x i8] zeroinitializer, align 32
@greeting = private unnamed_addr constant [6 x i8] c"hello\\00"
declare i32 @twice(i32)
define i32 @main(i32 %x) nounwind {
  %c = load i32, ptr @counter
  %t = call i32 @twice(i32 %x)
  %s = add i32 %t, %c
  store i32 %s, ptr @counter
  ret i32 %s
}
define i32 @sum_table() nounwind {
entry:
  br label %loop
loop:
  %i = phi i32 [0, %entry], [%n, %loop]
  %acc = phi i32 [0, %entry], [%a2, %loop]
  %p = getelementptr [4 x i32], ptr @table, i32 0, i32 %i
  %v = load i32, ptr %p
  %a2 = add i32 %acc, %v
  %n = add i32 %i, 1
  %done = icmp eq i32 %n, 4
  br i1 %done, label %out, label %loop
out:
  ret i32 %a2
}
define ptr @message() nounwind { ret ptr @greeting }
define ptr @buf() nounwind { ret ptr @buffer }
"""

HELPER_IR = """
@greeting2 = private unnamed_addr constant [6 x i8] c"world\\00"
define i32 @twice(i32 %x) nounwind noinline { %r = shl i32 %x, 1
 ret i32 %r }
define ptr @message2() nounwind { ret ptr @greeting2 }
"""

SWITCH_IR = """
define i32 @classify(i32 %x) nounwind {
  switch i32 %x, label %d [ i32 0, label %a  i32 1, label %b i32 2, label %c i32 3, label %e i32 4, label %f
                            i32 5, label %g i32 6, label %h ]
a: call void @note(i32 1)
   ret i32 10
b: call void @note(i32 2)
   ret i32 20
c: call void @note(i32 3)
   ret i32 35
e: call void @note(i32 4)
   ret i32 47
f: call void @note(i32 5)
   ret i32 51
g: call void @note(i32 6)
   ret i32 52
h: call void @note(i32 7)
   ret i32 53
d: ret i32 -1
}
@last = global i32 0
define void @note(i32 %v) nounwind noinline { store volatile i32 %v, ptr @last
 ret void }
"""

DIV64_IR = """
declare i64 @__udivdi3(i64, i64)
define i32 @div_hi(i64 %a, i64 %b) nounwind { %r = udiv i64 %a, %b
 %h = lshr i64 %r, 32
 %t = trunc i64 %h to i32
 ret i32 %t }
define i32 @div_lo(i32 %a, i32 %b) nounwind {
 %a64 = zext i32 %a to i64
 %b64 = zext i32 %b to i64
 %s = shl i64 %a64, 8
 %r = udiv i64 %s, %b64
 %t = trunc i64 %r to i32
 ret i32 %t }
"""

# A naive __udivdi3, enough for the tests' operands.
UDIVDI3_IR = """
define i64 @__udivdi3(i64 %a, i64 %b) nounwind noinline {
entry:
  br label %loop
loop:
  %q = phi i64 [0, %entry], [%q2, %body]
  %r = phi i64 [%a, %entry], [%r2, %body]
  %ge = icmp uge i64 %r, %b
  br i1 %ge, label %body, label %done
body:
  %r2 = sub i64 %r, %b
  %q2 = add i64 %q, 1
  br label %loop
done:
  ret i64 %q
}
"""

# Constructors as an explicit .init_array table (run forwards). llvm.global_ctors
# would go to .ctors, whose entries LLVM writes in reverse (run backwards).
INIT_ARRAY_IR = """
@ctor_a = internal global ptr @init_a, section ".init_array", align 4
@ctor_b = internal global ptr @init_b, section ".init_array", align 4
@llvm.used = appending global [2 x ptr] [ptr @ctor_a, ptr @ctor_b], section "llvm.metadata"
"""

GLOBAL_CTORS_IR = """
@llvm.global_ctors = appending global [2 x { i32, ptr, ptr }] [
  { i32, ptr, ptr } { i32 65535, ptr @init_a, ptr null },
  { i32, ptr, ptr } { i32 65535, ptr @init_b, ptr null }]
"""

CTORS_IR = """
@state = global i32 0
define void @init_a() nounwind { %v = load i32, ptr @state
 %w = add i32 %v, 1
 store i32 %w, ptr @state
 ret void }
define void @init_b() nounwind { %v = load i32, ptr @state
 %w = mul i32 %v, 10
 store i32 %w, ptr @state
 ret void }
"""

CRT_IR = """
@__init_array_start = external global ptr
@__init_array_end = external global ptr
@state = external global i32
define i32 @run_constructors() nounwind {
entry:
  br label %loop
loop:
  %p = phi ptr [@__init_array_start, %entry], [%next, %call]
  ; "<" on integers, as musl does: LLVM folds == between two distinct globals to false
  %pi = ptrtoint ptr %p to i32
  %more = icmp ult i32 %pi, ptrtoint (ptr @__init_array_end to i32)
  br i1 %more, label %call, label %out
call:
  %f = load ptr, ptr %p
  call void %f()
  %next = getelementptr ptr, ptr %p, i32 1
  br label %loop
out:
  %s = load i32, ptr @state
  ret i32 %s
}
"""

WEAK_A_IR = """
define weak i32 @hook() nounwind { ret i32 1 }
@level = weak global i32 10
declare extern_weak i32 @maybe()
define i32 @call_hook() nounwind { %r = call i32 @hook()
 %l = load i32, ptr @level
 %s = add i32 %r, %l
 ret i32 %s }
define i32 @has_maybe() nounwind { %c = icmp ne ptr @maybe, null
 %r = zext i1 %c to i32
 ret i32 %r }
"""
WEAK_B_IR = """
define i32 @hook() nounwind { ret i32 100 }
@level = global i32 1000
"""
WEAK_C_IR = """
define weak i32 @hook() nounwind { ret i32 7 }
"""

COMMON_A_IR = """
@shared = common global i32 0, align 4
@big = common global [8 x i32] zeroinitializer, align 8
define ptr @shared_a() nounwind { ret ptr @shared }
define ptr @big_a() nounwind { ret ptr @big }
"""
COMMON_B_IR = """
@shared = common global i32 0, align 4
@big = common global [32 x i32] zeroinitializer, align 32
define ptr @shared_b() nounwind { ret ptr @shared }
define ptr @big_b() nounwind { ret ptr @big }
"""

COMDAT_IR = """
$helper = comdat any
define linkonce_odr i32 @helper(i32 %x) nounwind noinline comdat { %r = add i32 %x, {K}
 ret i32 %r }
define i32 @user_{N}(i32 %x) nounwind { %r = call i32 @helper(i32 %x)
 ret i32 %r }
"""

GC_IR = """
@used_data = global i32 42, section ".data.used_data"
@unused_data = global i32 13, section ".data.unused_data"
define void @_entry() nounwind section ".text.entry" { %v = call i32 @used()
 store volatile i32 %v, ptr @used_data
 ret void }
define i32 @used() nounwind noinline section ".text.used" { %v = load i32, ptr @used_data
 ret i32 %v }
define i32 @unused() nounwind noinline section ".text.unused" { %v = load i32, ptr @unused_data
 ret i32 %v }
"""

ENTRY_IR = """
@ticks = global i32 0
@boot_msg = constant [5 x i8] c"kpy!\\00"
declare i32 @main(i32)
define void @_entry() nounwind section ".text.entry" {
  %r = call i32 @main(i32 1)
  store i32 %r, ptr @ticks
  ret void
}
define ptr @boot_message() nounwind { ret ptr @boot_msg }
"""

MBR_ASM = r"""
.code16
.section .text.entry,"ax"
.globl _start
_start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov %ax, %ss
  mov $0x7C00, %sp
  mov $msg, %si
1:
  lodsb
  test %al, %al
  jz 2f
  call putc
  jmp 1b
2:
  lgdtl gdt_desc
  mov %cr0, %eax
  or $1, %al
  mov %eax, %cr0
  ljmpl $0x08, $pm_entry
putc:
  mov $0x0E, %ah
  int $0x10
  ret
  .byte msg - _start
  .word msg
  .word putc - .
  .byte 2b - .
.code32
pm_entry:
  mov $0x10, %ax
  mov %ax, %ds
  call stage_main@PLT
  hlt
.section .rodata
msg: .asciz "Booting kpy"
.data
.p2align 3
gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF
  .quad 0x00CF92000000FFFF
gdt_desc:
  .word gdt_desc - gdt - 1
  .long gdt
.bss
scratch: .skip 16
"""

MBR_C_IR = """
@boot_counter = global i32 0
define void @stage_main() nounwind { %v = load i32, ptr @boot_counter
 %w = add i32 %v, 1
 store i32 %w, ptr @boot_counter
 ret void }
"""

REALMODE_ASM = r"""
.code16
.section .text.entry,"ax"
.globl _start
_start:
  call far_away
  jmp near_label
near_label:
  mov $data_word, %bx
  movw (%bx), %ax
  movb $data_byte, %cl
  ret
.data
data_word: .word 0x1234
.globl data_byte
.set data_byte, 0x42
"""
REALMODE_HELPER_ASM = r"""
.code16
.text
.globl far_away
far_away:
  mov $0x1234, %ax
  ret
"""


def strings_ir(n: int) -> str:
    """Strings shared between objects (merged once), one of each object's own, and one unused."""
    return f"""
@shared = private unnamed_addr constant [7 x i8] c"shared\\00"
@own = private unnamed_addr constant [6 x i8] c"own{n:02d}\\00"
@unused_{n} = private unnamed_addr constant [10 x i8] c"unused{n:02d}!\\00"
@suffix = private unnamed_addr constant [4 x i8] c"red\\00"
define ptr @shared_{n}() nounwind section ".text.shared_{n}" {{ ret ptr @shared }}
define ptr @own_{n}() nounwind section ".text.own_{n}" {{ ret ptr @own }}
define ptr @suffix_{n}() nounwind section ".text.suffix_{n}" {{ ret ptr @suffix }}
define ptr @unused_user_{n}() nounwind section ".text.unused_user_{n}" {{ ret ptr @unused_{n} }}
"""


CONSTANTS_ASM = r"""
.section .rodata.cst16,"aM",@progbits,16
.p2align 4
mask_a: .quad 0x1111111111111111, 0x2222222222222222
mask_b: .quad 0x3333333333333333, 0x4444444444444444
.section .rodata.cst8,"aM",@progbits,8
.p2align 3
k: .quad 0x0123456789ABCDEF
.text
.globl load_masks_{n}
load_masks_{n}:
  movl $mask_{ab}, %eax
  movl $k + 4, %edx
  ret
"""


def many_objects(count: int = 24, funcs: int = 12) -> list[Source]:
    """A larger program: a chain of calls across many objects."""
    sources = []
    for m in range(count):
        body = [f"@data_{m} = global [{m + 1} x i32] zeroinitializer, align {1 << (m % 5 + 2)}",
                f"@name_{m} = private unnamed_addr constant [8 x i8] c\"mod{m:04d}\\00\""]
        for f in range(funcs):
            nxt = f"f_{m + 1}_0" if f == funcs - 1 and m + 1 < count else (f"f_{m}_{f + 1}" if f < funcs - 1 else None)
            if nxt and (f == funcs - 1):
                body.append(f"declare i32 @{nxt}(i32)")
            call = (f"  %r = call i32 @{nxt}(i32 %y)\n  ret i32 %r" if nxt else "  ret i32 %y")
            body.append(f"define i32 @f_{m}_{f}(i32 %x) nounwind noinline {{\n"
                        f"  %p = getelementptr [{m + 1} x i32], ptr @data_{m}, i32 0, i32 0\n"
                        f"  store i32 %x, ptr %p\n  %y = add i32 %x, 1\n{call}\n}}")
        body.append(f"define ptr @name_of_{m}() nounwind {{ ret ptr @name_{m} }}")
        sources.append(Source(f"m{m}.o", ir="\n".join(body), opt=m % 3))
    return sources


def programs() -> list[Program]:
    progs = []
    for opt in (0, 1, 2):
        progs.append(Program(f"calls-O{opt}", [Source("main.o", CALLS_IR, opt=opt),
                                               Source("helper.o", HELPER_IR, opt=opt)],
                             flat_layout(0x100000, "main"),
                             calls=[("main", (20,), 45), ("sum_table", (), 10)]))
    progs.append(Program("switch-O2", [Source("switch.o", SWITCH_IR)], flat_layout(0x200000, "classify"),
                         calls=[("classify", (3,), 47), ("classify", (6,), 53), ("classify", (9,), 0xFFFFFFFF)]))
    progs.append(Program("switch-O0", [Source("switch.o", SWITCH_IR, opt=0)], flat_layout(0x200000, "classify"),
                         calls=[("classify", (2,), 35)]))
    progs.append(Program("div64", [Source("div.o", DIV64_IR, opt=1), Source("udivdi3.o", UDIVDI3_IR, opt=1)],
                         flat_layout(0x300000, "div_lo"), calls=[("div_lo", (1000, 7), 36571)]))
    progs.append(Program("ctors", [Source("crt.o", CRT_IR),
                                   Source("ctors.o", CTORS_IR + INIT_ARRAY_IR)],
                         flat_layout(0x100000, "run_constructors"), calls=[("run_constructors", (), 10)]))
    progs.append(Program("weak", [Source("a.o", WEAK_A_IR), Source("c.o", WEAK_C_IR), Source("b.o", WEAK_B_IR)],
                         flat_layout(0x100000, "call_hook"),
                         calls=[("call_hook", (), 1100), ("has_maybe", (), 0)]))
    progs.append(Program("common", [Source("a.o", COMMON_A_IR), Source("b.o", COMMON_B_IR, opt=0)],
                         flat_layout(0x100000, "shared_a")))
    progs.append(Program("comdat", [Source(f"u{n}.o", COMDAT_IR.replace("{K}", str(n + 5)).replace("{N}", str(n)))
                                    for n in range(3)], flat_layout(0x100000, "user_0"),
                         calls=[("user_2", (1,), 6)]))
    progs.append(Program("kernel-layout", [Source("entry.o", ENTRY_IR), Source("main.o", CALLS_IR),
                                           Source("helper.o", HELPER_IR), Source("crt.o", CRT_IR),
                                           Source("ctors.o", CTORS_IR + GLOBAL_CTORS_IR, opt=0)], kernel_layout()))
    progs.append(Program("gc-sections", [Source("gc.o", GC_IR, opt=0)], kernel_layout(gc=True)))
    progs.append(Program("mbr", [Source("mbr.o", asm=MBR_ASM), Source("stage.o", MBR_C_IR, opt=2)],
                         boot_layout()))
    progs.append(Program("realmode-flat", [Source("rm.o", asm=REALMODE_ASM),
                                           Source("rm2.o", asm=REALMODE_HELPER_ASM)],
                         boot_layout("stage2", "flat", 0x7E00)))
    progs.append(debug_program())
    progs.append(debug_program(opt=2))
    gc_debug = debug_program()
    gc_debug.name, gc_debug.layout = "debug-info-gc", kernel_layout(gc=True)
    progs.append(gc_debug)
    strings = [Source(f"s{n}.o", strings_ir(n)) for n in range(3)]
    strings += [Source(f"c{n}.o", asm=CONSTANTS_ASM.replace("{n}", str(n)).replace("{ab}", "ab"[n % 2]))
                for n in range(2)]
    progs.append(Program("merged-strings", strings, flat_layout(0x100000, "shared_0")))
    gc_layout = kernel_layout(entry="shared_0", gc=True)
    gc_layout.keep_symbols = ["own_1", "suffix_2", "load_masks_1"]
    progs.append(Program("merged-strings-gc", strings, gc_layout))
    unmerged = flat_layout(0x100000, "shared_0")
    unmerged.merge_sections = False
    progs.append(Program("unmerged-strings", strings, unmerged))
    fixed = TargetLayout(name="fixed", format="elf", entry="main", vma=0x100000, sections=[
        sec(".text", ".text.entry", ".text .text.*", ".rodata .rodata.*"),
        sec(".data", ".data .data.*", vma=0x200000, lma=0x180000, align=64, start_symbol="__data_start"),
        sec(".bss", ".bss .bss.* COMMON", nobits=True, end_symbol="__bss_end"),
        sec(".stack", ".stack", vma=0x300000, nobits=True, start_symbol="__stack_bottom")],
        symbols={"__data_load": ("load_start", ".data", 0), "__data_size": ("size", ".data", 0),
                 "__stack_top": ("start", ".stack", 0x4000)})
    progs.append(Program("fixed-addresses", [Source("main.o", CALLS_IR), Source("helper.o", HELPER_IR)], fixed))
    fixed_flat = TargetLayout(**{**fixed.__dict__, "name": "fixed-flat", "format": "flat"})
    progs.append(Program("fixed-addresses-flat", [Source("main.o", CALLS_IR), Source("helper.o", HELPER_IR)],
                         fixed_flat))
    progs.append(Program("many-objects", many_objects(), flat_layout(0x100000, "f_0_0"),
                         calls=[("f_0_0", (0,), 24 * 12)]))
    return progs


def debug_ir(module: str, functions: list[tuple[str, int]], callee: str | None = None) -> str:
    """IR with DWARF line info: each function (name, first line) in ``module``.kpy, -O0 style."""
    lines = []
    meta = [f'!0 = distinct !DICompileUnit(language: DW_LANG_C99, file: !1, producer: "kpyc", '
            f'isOptimized: false, runtimeVersion: 0, emissionKind: FullDebug)',
            f'!1 = !DIFile(filename: "{module}.kpy", directory: "/src")',
            '!2 = !{i32 2, !"Dwarf Version", i32 4}', '!3 = !{i32 2, !"Debug Info Version", i32 3}',
            '!4 = !DISubroutineType(types: !5)', '!5 = !{null}']
    n = 6
    if callee:
        lines.append(f"declare i32 @{callee}(i32)")
    for name, line in functions:
        sp, l1, l2, l3 = n, n + 1, n + 2, n + 3
        n += 4
        meta.append(f'!{sp} = distinct !DISubprogram(name: "{name}", scope: !1, file: !1, line: {line}, '
                    f'type: !4, scopeLine: {line}, spFlags: DISPFlagDefinition, unit: !0)')
        meta += [f"!{l1} = !DILocation(line: {line + 1}, column: 5, scope: !{sp})",
                 f"!{l2} = !DILocation(line: {line + 2}, column: 9, scope: !{sp})",
                 f"!{l3} = !DILocation(line: {line + 3}, column: 5, scope: !{sp})"]
        call = (f"  %c = call i32 @{callee}(i32 %y), !dbg !{l2}\n" if callee else f"  %c = mul i32 %y, 3, !dbg !{l2}\n")
        # One section per function (what -ffunction-sections does) so gc can drop one.
        lines.append(f"define i32 @{name}(i32 %x) nounwind section \".text.{name}\" !dbg !{sp} {{\n"
                     f"  %y = add i32 %x, 1, !dbg !{l1}\n{call}  ret i32 %c, !dbg !{l3}\n}}")
    lines.append("!llvm.dbg.cu = !{!0}\n!llvm.module.flags = !{!2, !3}")
    return "\n".join(lines + meta) + "\n"


def debug_program(opt: int = 0) -> Program:
    main = debug_ir("kernel/main", [("_entry", 10), ("kmain", 20)], callee="helper")
    helper = debug_ir("lib/helper", [("helper", 5), ("unused_helper", 30)])
    layout = kernel_layout()
    name = "debug-info" + (f"-O{opt}" if opt else "")
    return Program(name, [Source("main.o", main, opt=opt), Source("helper.o", helper, opt=opt)], layout)
