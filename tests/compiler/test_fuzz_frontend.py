"""Feed the compiler thousands of mutated and malformed sources: each one
must end in located diagnostics or a clean success; never an uncaught
exception and never an internal compiler error."""
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from compiler.driver import CompileError, compile_source

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.kpy"))
SNIPPETS = [p.read_text().splitlines() for p in CORPUS]
LOCATED = re.compile(r"^fuzz\.kpy:\d+:\d+: error: .+")

TOKENS = ["(", ")", "[", "]", ":", ",", "=", "==", "+", "-", "*", "//", "/", "%", "<<", ">>", "&", "|", "^", "~",
          "not", "and", "or", "if", "else", "elif", "while", "for", "in", "range(", "return", "break", "continue",
          "def", "class", "pass", "None", "True", "False", "u8", "u16", "u32", "u64", "i32", "bool", "ptr[", "vptr[",
          "array[", "fn[[", "Struct", "Final", "VaList", "asm(", "cast(", "addr(", "sizeof(", "offsetof(", "ord(",
          "va_arg(", "global_asm(", "@section(", "@naked", "@interrupt", "@export(", "@extern", "@static",
          "@align(", "@constructor", "0x", "0xFFFFFFFFFFFFFFFFFF", "1.5", "-1", "99999999999999999999999", '"',
          "'", '"""', "\\", "\n", "    ", "\t", "#", "...", "lambda", "yield", "import", "from", "x", "p", "p.x",
          "p[0]", "*args", "->", "@", "{", "}", "$0", "=r", "import nowhere", "from lib.string import memset"]


@st.composite
def mutated_source(draw):
    lines = list(draw(st.sampled_from(SNIPPETS)))
    start = draw(st.integers(0, max(len(lines) - 1, 0)))
    lines = lines[start:start + draw(st.integers(1, 25))]
    text = "\n".join(lines)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 5))
        pos = draw(st.integers(0, len(text)))
        if op == 0:       # insert a token
            text = text[:pos] + draw(st.sampled_from(TOKENS)) + text[pos:]
        elif op == 1:     # delete a span
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        elif op == 2:     # duplicate a span
            span = text[pos:pos + draw(st.integers(1, 30))]
            text = text[:pos] + span + text[pos:]
        elif op == 3:     # replace a character with arbitrary text
            text = text[:pos] + draw(st.text(max_size=3)) + text[pos + 1:]
        elif op == 4:     # shift a line's indentation
            ls = text.split("\n")
            i = draw(st.integers(0, len(ls) - 1))
            ls[i] = draw(st.sampled_from(["", " ", "    ", "        ", "\t"])) + ls[i].lstrip()
            text = "\n".join(ls)
        else:             # swap two identifiers' spellings
            text = text.replace(draw(st.sampled_from(["u32", "ptr", "def", "return", "i", "x", "("])),
                                draw(st.sampled_from(["u8", "vptr", "class", "pass", "j", "y", "["])), 1)
    return text


def compile_or_diagnose(text: str) -> None:
    try:
        compile_source(text, filename="fuzz.kpy", module="fuzz", roots=[], opt=0, emit="llvm")
        # A source the front end accepts must also get through LLVM's
        # optimiser and code generator (asm text, constraints, sections).
        compile_source(text, filename="fuzz.kpy", module="fuzz", roots=[], opt=2, emit="obj")
    except CompileError as e:
        report = str(e)
        assert e.diagnostics, "a CompileError without diagnostics"
        assert "internal compiler error" not in report, report + "\n--- source ---\n" + text
        for d in e.diagnostics:
            assert d.loc.line >= 1 and d.loc.col >= 1, report
        assert LOCATED.match(report.splitlines()[0]), report


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutated_source())
def test_mutated_sources_end_in_located_diagnostics_or_success(text):
    compile_or_diagnose(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text):
    compile_or_diagnose(text)
