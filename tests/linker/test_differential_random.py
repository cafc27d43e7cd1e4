"""Random objects and layouts: ours and ld.lld must agree byte for byte (hypothesis)."""
import shutil

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from compiler.linker import LinkError, link
from compiler.linker.layout import OutputSectionSpec, TargetLayout

from lk_diff import lld_link, loadable_sections, symbol_values
from lk_objects import make_object

pytestmark = pytest.mark.skipif(shutil.which("ld.lld") is None, reason="ld.lld not installed")

INPUT_NAMES = [".text", ".text.a", ".text.entry", ".rodata", ".rodata.x", ".data", ".data.y", ".bss", ".bss.z"]
FLAGS = {".text": '"ax",@progbits', ".rodata": '"a",@progbits', ".data": '"aw",@progbits', ".bss": '"aw",@nobits'}


REFS_32 = ["{t}", "{t} - .", "{t} + {k}"]
REFS_16 = ["{t}", "{t} - .", "{t} + {k}", "{t} - {k}"]


@st.composite
def random_objects(draw, width=32):
    count = draw(st.integers(1, 3))
    sections = [[(draw(st.sampled_from(INPUT_NAMES)), draw(st.integers(0, 5)), draw(st.integers(0, 40)))
                 for _ in range(draw(st.integers(1, 4)))] for _ in range(count)]
    labels = [f"sym_{o}_{i}" for o, secs in enumerate(sections) for i in range(len(secs))]
    objects = []
    for o, secs in enumerate(sections):
        lines = []
        for i, (name, align, size) in enumerate(secs):
            kind = FLAGS[next(k for k in FLAGS if name.startswith(k))]
            lines += [f".section {name},{kind}", f".p2align {align}", f".globl sym_{o}_{i}", f"sym_{o}_{i}:"]
            if "nobits" in kind:
                lines.append(f".skip {size + 1}")
                continue
            for _ in range(draw(st.integers(0, 3))):
                directive = {32: ".long", 16: draw(st.sampled_from([".word", ".byte"]))}[width]
                form = draw(st.sampled_from(REFS_32 if width == 32 else REFS_16))
                expr = form.format(t=draw(st.sampled_from(labels)), k=draw(st.integers(0, 64)))
                lines.append(f"{directive} {expr}")
            lines.append(f".fill {size}, 1, {0x90 + o}")
        if width == 32 and draw(st.booleans()):
            lines += _mergeable_strings(draw, o)
        if width == 32:
            lines += _shared_definitions(draw, o)
        objects.append((f"r{o}.o", make_object(asm="\n".join(lines))))
    return objects


def _shared_definitions(draw, o: int) -> list[str]:
    """Names several objects define: common (merged: largest size, strictest alignment),
    weak (first wins), or strong (beats both); plus references to them."""
    lines = []
    for name in ("shared_a", "shared_b"):
        kind = draw(st.sampled_from(["none", "common", "weak", "strong"]))
        if kind == "common":
            lines.append(f".comm {name}, {draw(st.integers(1, 64))}, {1 << draw(st.integers(0, 4))}")
        elif kind in ("weak", "strong"):
            lines += ['.section .data.shared,"aw",@progbits', f".globl {name}"]
            lines += [f".weak {name}"] if kind == "weak" else []
            lines += [f"{name}: .long {o}"]
        if kind != "none" and draw(st.booleans()):
            lines += ['.section .data.refs,"aw",@progbits', f".long {name}"]
    if draw(st.booleans()):          # an absolute symbol, and a weak reference nothing defines (0)
        lines += [f".globl abs_{o}", f".set abs_{o}, {draw(st.integers(0, 0xFFFFF))}",
                  ".weak nowhere", '.section .data.refs,"aw",@progbits',
                  f".long abs_{o} + 1", ".long nowhere", ".long nowhere - ."]
    return lines


STRINGS = ["", "a", "ab", "abc", "hello", "lo", "kpy kernel", "x" * 40]


def _mergeable_strings(draw, o: int) -> list[str]:
    """A .rodata.str1.1 of strings from a small pool (so objects share some), and
    references to them: section-symbol relocations whose addend picks the piece."""
    chosen = draw(st.lists(st.sampled_from(STRINGS), min_size=1, max_size=5))
    lines = ['.section .rodata.str1.1,"aMS",@progbits,1']
    lines += [f".Ls{o}_{i}: .asciz \"{text}\"" for i, text in enumerate(chosen)]
    lines.append('.section .data.strrefs,"aw",@progbits')
    for i in range(len(chosen)):
        if draw(st.booleans()):
            lines.append(f".long .Ls{o}_{i} + {draw(st.integers(0, len(chosen[i])))}")
    return lines


@st.composite
def random_layout(draw):
    vma = draw(st.integers(0, 0x1000)) * 16 + draw(st.sampled_from([0, 0x100000, 0xC0000000]))
    lma = draw(st.one_of(st.none(), st.integers(0x1000, 0x8000).map(lambda v: v * 16)))
    def spec(name, inputs, **kw):
        return OutputSectionSpec(name, [s.split() for s in inputs], align=draw(st.sampled_from([1, 4, 16, 4096])),
                                 **kw)
    sections = [spec(".text", [".text.entry", ".text .text.*"], start_symbol="__text_start"),
                spec(".rodata", [".rodata .rodata.*"]),
                spec(".data", [".data .data.*"], end_symbol="__data_end"),
                spec(".bss", [".bss .bss.* COMMON"], start_symbol="__bss_start", end_symbol="__bss_end")]
    if draw(st.booleans()):
        sections[2].lma = draw(st.integers(0x200000, 0x300000)) & ~0xF
    symbols = {"__data_load": ("load_start", ".data", 0), "__end": ("end", ".bss", draw(st.integers(0, 64)))}
    layout = TargetLayout(name="random", format="elf", vma=vma, lma=lma, sections=sections, symbols=symbols)
    if draw(st.booleans()):          # garbage collection from sym_0_0 (always defined) and maybe more roots
        layout.gc_sections, layout.entry = True, "sym_0_0"
        layout.keep_symbols = draw(st.lists(st.sampled_from(["sym_1_0", "sym_2_1", "sym_0_2"]), max_size=2))
    return layout


EXAMPLES = settings(max_examples=int(__import__("os").environ.get("LK_EXAMPLES", "25")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_links_alike(objects, layout, tmp_path_factory, shared_error: str):
    """Link with ours and with ld.lld: both fail with `shared_error` in
    their messages, or both succeed with the same bytes and symbols."""
    try:
        ours = link(objects, layout)
    except LinkError as exc:
        ours = exc
    try:
        theirs = lld_link(objects, layout, tmp_path_factory.mktemp("lld"))
    except AssertionError as exc:
        theirs = exc
    if isinstance(ours, LinkError) or isinstance(theirs, AssertionError):
        assert isinstance(ours, LinkError) and isinstance(theirs, AssertionError), (ours, theirs)
        assert shared_error in str(ours) and shared_error in str(theirs)
        event(f"both linkers report: {shared_error}")
        return
    event("both linkers link")
    assert loadable_sections(ours.elf) == loadable_sections(theirs)
    assert symbol_values(ours.elf) == symbol_values(theirs)


@EXAMPLES
@given(objects=random_objects(), layout=random_layout())
def test_random_links_match_lld(objects, layout, tmp_path_factory):
    assert_links_alike(objects, layout, tmp_path_factory, "duplicate symbol")


@st.composite
def small_layout(draw):
    """Real-mode sized: 8/16-bit references may or may not fit; both linkers must agree."""
    layout = draw(random_layout())
    layout.vma = draw(st.integers(0, 0x7F00))
    layout.lma = None
    layout.sections[2].lma = None
    for sec in layout.sections:
        sec.align = min(sec.align, 16)
    return layout


@EXAMPLES
@given(objects=random_objects(width=16), layout=small_layout())
def test_random_8_and_16_bit_relocations_match_lld(objects, layout, tmp_path_factory):
    assert_links_alike(objects, layout, tmp_path_factory, "out of range")
