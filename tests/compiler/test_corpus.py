"""The corpus: small kpy programs, one or more per language capability,
each compiled at -O0, -O1 and -O2, linked with the runtime and executed;
the results and output are checked against the expectations written in
each program's header comments:

    # expect: f(1, 2) == 3          32-bit result (compared modulo 2**32)
    # expect64: g(u64(5)) == 10     64-bit result (edx:eax)
    # output: main() == b"hi\\r\\n"  bytes written to ports 0xE9/0x3F8
"""
import re
from pathlib import Path

import pytest

import harness

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(p for p in CORPUS.glob("*.kpy"))
LINE = re.compile(r"^#\s*(expect|expect64|output):\s*(\w+)\((.*)\)\s*==\s*(.+)$")


def expectations(src: str):
    out = []
    for line in src.splitlines():
        m = LINE.match(line.strip())
        if m:
            kind, fn, args, want = m.groups()
            out.append((kind, fn, _args(args), _value(want.strip())))
    return out


def _value(text: str):
    """Evaluate an expectation's constant expression (test-authored text)."""
    return eval(text, {"__builtins__": {}, "u64": harness.arg64, "ord": ord})


def _args(text: str):
    return list(_value(f"({text},)")) if text.strip() else []


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program(path, opt):
    src = path.read_text()
    checks = expectations(src)
    assert checks, f"{path.name} has no '# expect:' lines"
    m = harness.build(src, opt, roots=[CORPUS], filename=str(path), module=path.stem)
    for kind, fn, args, want in checks:
        if kind == "expect":
            got = m.call(fn, *args)
            assert got & 0xFFFFFFFF == want & 0xFFFFFFFF, f"{fn}{tuple(args)} = {got:#x}, want {want & 0xFFFFFFFF:#x}"
        elif kind == "expect64":
            got = m.call64(fn, *args)
            assert got == want & 0xFFFFFFFFFFFFFFFF, f"{fn}{tuple(args)} = {got:#x}, want {want:#x}"
        else:
            before = len(m.output)
            m.call(fn, *args)
            assert m.output[before:] == want



def test_corpus_is_large_enough():
    assert len(PROGRAMS) >= 60
