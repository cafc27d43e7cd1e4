"""The corpus: small kpy programs, one or more per language capability,
each compiled at -O0, -O1 and -O2, linked with the runtime and executed;
the results and output are checked against the expectations written in
each program's header comments:

    # expect: f(1, 2) == 3          32-bit result (compared modulo 2**32)
    # expect64: g(u64(5)) == 10     64-bit result (edx:eax)
    # output: main() == b"hi\\r\\n"  bytes written to ports 0xE9/0x3F8
"""
from pathlib import Path

import pytest

import harness

CORPUS = Path(__file__).parent / "corpus"
PROGRAMS = sorted(p for p in CORPUS.glob("*.kpy"))


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program(path, opt):
    src = path.read_text()
    assert harness.expectations(src), f"{path.name} has no '# expect:' lines"
    m = harness.build(src, opt, roots=[CORPUS], filename=str(path), module=path.stem)
    harness.check_expectations(m, src)


def test_corpus_is_large_enough():
    assert len(PROGRAMS) >= 60


# The same programs on Unicorn: a second opinion on what the VM computes
# (interrupts_int needs real IDT vectoring, which Unicorn does not do).
UNICORN_SAMPLE = ["int_arith", "u64_divmod", "i64_divmod", "varargs", "printf_mini", "struct_literals",
                  "asm_registers", "asm_memory", "seed_ret_page", "runtime_memfuncs", "volatile_ptr", "interrupts"]


@pytest.mark.parametrize("name", UNICORN_SAMPLE)
def test_program_on_unicorn(name):
    path = CORPUS / f"{name}.kpy"
    src = path.read_text()
    objs = harness.compile_program(src, 2, roots=[CORPUS], filename=str(path), module=name)
    elf = harness.link_objects(objs + list(harness.runtime_objects(2)), base=harness.BASE)
    harness.check_expectations(harness.UnicornFlat(elf), src)
