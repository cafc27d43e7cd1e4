"""A kernel's null is an address: loads and stores through it survive every
-O level (null_pointer_is_valid), and `unreachable()` is a ud2 trap."""
import pytest

from compiler.driver import compile_file

SOURCE = """
def store() -> None:
    p: ptr[u32] = None
    p[0] = 0xDEAD


def load() -> u32:
    p: ptr[u32] = None
    return p[0]


def never(x: u32) -> u32:
    if x == 3:
        unreachable()
    return x
"""


def body(asm: str, name: str) -> list[str]:
    lines = asm.splitlines()
    start = lines.index(f"{name}:")
    out = []
    for line in lines[start + 1:]:
        if line.startswith(".Lfunc_end") or line.endswith(":") and not line.startswith("."):
            break
        out.append(line.strip())
    return out


@pytest.mark.parametrize("opt", [0, 1, 2])
def test_null_accesses_are_kept_and_unreachable_traps(tmp_path, opt):
    src = tmp_path / "nulls.kpy"
    src.write_text(SOURCE)
    asm = compile_file(src, roots=[tmp_path], opt=opt, emit="asm")
    store, load, never = (body(asm, n) for n in ("store", "load", "never"))
    assert not any("int3" in l for l in store + load + never)
    assert any(l.startswith("movl") and l.endswith(", 0") and "$57005" in l for l in store) or \
        any("(%" in l and l.startswith("movl\t$57005") for l in store), store
    assert any(l.startswith("movl") and ("\t0, %" in l or "(%" in l) for l in load), load
    assert "ud2" in never, never
