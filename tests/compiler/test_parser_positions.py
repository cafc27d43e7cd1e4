"""compiler.parser computes only where each parse-tree node starts (its own
PropagatePositions): every node must start where lark's own places it, for
every source of the project and the corpus, and for constructs whose first
token is filtered out of the tree (keywords, brackets, decorators) or whose
rule is inlined."""
from pathlib import Path

import pytest
from lark import Lark
from lark.indenter import PythonIndenter

from compiler import parser as kparser

ROOT = Path(__file__).resolve().parents[2]

SNIPPETS = [
    "@export\n@section('.x')\ndef f(a: u32,\n      b: u32) -> u32:\n    return  (a +\n  b)\n",
    "def g() -> None:\n    if (x):\n        pass\n    elif not y:\n        return\n    while [1][0]:\n        break\n",
    "x: Final = -(1)\nmatch v:\n    case -1 | 2:\n        pass\n    case _:\n        y = ~v[3].a\n",
    "class S(Struct):\n    a: u8\n    b: array[u8, 4]\n\nasm(\"\"\"\n  cli\n\"\"\", outputs=[(\"=r\", x)])\n",
]


@pytest.fixture(scope="module")
def lark_reference() -> Lark:
    return Lark(kparser.grammar_text(), parser="lalr", postlex=PythonIndenter(), start="file_input",
                propagate_positions=True, maybe_placeholders=True, cache=True)


def _starts(tree):
    return [(t.data, t.meta.empty, getattr(t.meta, "line", None), getattr(t.meta, "column", None))
            for t in tree.iter_subtrees()]


def _texts():
    files = sorted(p for d in ("runtime", "kernel_src", "tests/compiler/corpus") for p in (ROOT / d).rglob("*.kpy"))
    assert len(files) > 100
    return [p.read_text(encoding="utf-8") for p in files] + SNIPPETS


def test_every_node_starts_where_lark_puts_it(lark_reference):
    ours = kparser.get_parser()
    for text in _texts():
        assert _starts(ours.parse(text)) == _starts(lark_reference.parse(text))


def test_lark_keeps_its_own_positions_elsewhere(lark_reference):
    """The swap lasts only while compiler.parser makes its parser."""
    import lark.parse_tree_builder as ptb
    kparser.get_parser()
    assert ptb.PropagatePositions is not kparser._StartPositions
    assert hasattr(lark_reference.parse("x = 1\n").children[0].meta, "end_line")
