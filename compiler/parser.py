"""Source text -> lark parse tree, with located syntax errors.

kpy is Python 3 syntax, so we parse with the Python grammar that ships
with lark (LALR + PythonIndenter). The parser is built once per process
(and cached on disk by lark), because building it costs ~0.5 s.
"""
from __future__ import annotations

import re

from lark import Lark, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import LarkError
from lark.indenter import DedentError, PythonIndenter

from .diagnostics import CompileError, DiagnosticSink, Loc

_parser: Lark | None = None


def get_parser() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark.open_from_package(
            "lark", "python.lark", ["grammars"],
            parser="lalr", postlex=PythonIndenter(), start="file_input",
            propagate_positions=True, maybe_placeholders=True, cache=True,
        )
    return _parser


_TOKEN_WORDS = {
    "_NEWLINE": "end of line", "_INDENT": "indent", "_DEDENT": "dedent",
    "$END": "end of file",
}


def _describe_token(tok) -> str:
    if tok.type in _TOKEN_WORDS:
        return _TOKEN_WORDS[tok.type]
    text = str(tok)
    return f"'{text}'" if text else tok.type


# Parse trees by (file name, text): a build compiles many modules that
# import the same ones, and parsing is the front end's dearest step. Trees
# are never mutated (the AST builder makes new nodes).
_trees: dict[tuple[str, str], Tree] = {}
_MEMO_LIMIT = 512


def parse_source(text: str, filename: str) -> Tree:
    """Parse `text`; raise CompileError with a located diagnostic on error."""
    key = (filename, text)
    tree = _trees.get(key)
    if tree is None:
        tree = _parse(text, filename)
        if len(_trees) >= _MEMO_LIMIT:
            _trees.clear()
        _trees[key] = tree
    return tree


def _parse(text: str, filename: str) -> Tree:
    if not text.endswith("\n"):
        text += "\n"
    sink = DiagnosticSink({filename: text})
    try:
        return get_parser().parse(text)
    except UnexpectedToken as e:
        where = Loc(filename, e.line if e.line > 0 else _last_line(text), max(e.column, 1))
        sink.error(where, f"invalid syntax: unexpected {_describe_token(e.token)}")
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        msg = "unterminated string literal" if ch in "\"'" else f"invalid character {ch!r}"
        sink.error(Loc(filename, e.line, e.column), f"invalid syntax: {msg}")
    except UnexpectedEOF:
        sink.error(Loc(filename, _last_line(text), 1), "invalid syntax: unexpected end of file")
    except DedentError:
        line = _find_bad_dedent(text)
        sink.error(Loc(filename, line, 1), "invalid syntax: unindent does not match any outer indentation level")
    except UnexpectedInput as e:   # any other positioned lark error
        sink.error(Loc(filename, getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1), "invalid syntax")
    except (LarkError, RecursionError) as e:
        sink.error(Loc(filename, 1, 1), f"invalid syntax: {type(e).__name__}")
    raise CompileError(sink.diagnostics)


def _last_line(text: str) -> int:
    return max(text.count("\n"), 1)


def _find_bad_dedent(text: str) -> int:
    """DedentError has no position: find the first line whose indentation
    is not one of the enclosing levels."""
    levels = [0]
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        width = len(re.match(r"[ \t]*", line).group(0).expandtabs(8))
        if width > levels[-1]:
            levels.append(width)
            continue
        while width < levels[-1]:
            levels.pop()
        if width != levels[-1]:
            return n
    return _last_line(text)
