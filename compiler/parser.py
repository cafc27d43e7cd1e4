"""Source text -> lark parse tree, with located syntax errors.

kpy is Python 3 syntax, so we parse with the Python grammar that ships
with lark (LALR + PythonIndenter). The parser is built once per process
(and cached on disk by lark), because building it costs ~0.5 s.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

import lark.parse_tree_builder as _ptb
from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.exceptions import LarkError
from lark.indenter import DedentError, PythonIndenter

from .diagnostics import CompileError, DiagnosticSink, Loc

_parser: Lark | None = None


def get_parser() -> Lark:
    global _parser
    if _parser is None:
        with _start_positions_only():
            _parser = Lark(grammar_text(), parser="lalr", postlex=PythonIndenter(), start="file_input",
                           propagate_positions=True, maybe_placeholders=True, cache=True)
    return _parser


class _StartPositions(_ptb.PropagatePositions):
    """lark's PropagatePositions with the start of each node only: the line
    and column of its first token, filtered keywords and brackets included
    (`return` of a return statement), which is all the AST builder reads.
    The end positions lark also computes cost a fifth of the parse."""

    def __call__(self, children):
        res = self.node_builder(children)
        if isinstance(res, Tree):
            for c in children:
                if isinstance(c, Tree):
                    m = c._meta
                    if m is None or m.empty:
                        continue
                    line, column = m.container_line, m.container_column
                elif isinstance(c, Token):
                    line, column = c.line, c.column
                else:
                    continue            # a None placeholder
                meta = res.meta
                if not hasattr(meta, "line"):       # else an inlined rule's node, placed already
                    meta.line, meta.column, meta.empty = line, column, False
                meta.container_line, meta.container_column = line, column
                break
        return res


@contextmanager
def _start_positions_only():
    """lark builds its tree callbacks from parse_tree_builder.PropagatePositions
    when a parser is made (or loaded from its cache): ours, for that moment.
    tests/compiler/test_parser_positions.py checks that both give every node
    the same start."""
    saved = _ptb.PropagatePositions
    _ptb.PropagatePositions = _StartPositions
    try:
        yield
    finally:
        _ptb.PropagatePositions = saved


# lark's Python grammar lacks Python's negative literal patterns (`case -1:`,
# a signed_number in the language reference): kpy adds them as `neg_number`.
_LITERAL_PATTERN = """                      | STRING -> string
                      | number
"""
_WITH_NEGATIVE = _LITERAL_PATTERN + """                      | "-" number -> neg_number
"""


def grammar_text() -> str:
    """lark's python.lark with the negative literal patterns; unchanged if a
    lark release words that rule differently (then `case -1:` is a syntax error)."""
    from importlib.resources import files
    text = files("lark").joinpath("grammars", "python.lark").read_text(encoding="utf-8")
    return text.replace(_LITERAL_PATTERN, _WITH_NEGATIVE, 1)


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


MAX_SYNTAX_ERRORS = 20


def _parse(text: str, filename: str) -> Tree:
    """Parse; on a syntax error keep going to report several per run.

    Recovery is by top-level statement: the statement (a def or class with
    its body and decorators, or one module-level line) holding the error is
    blanked out, line numbers kept, and the rest parsed again. Every error
    found that way is a real one in an independent statement, without the
    cascades that token-level resumption produces."""
    if not text.endswith("\n"):
        text += "\n"
    sink = DiagnosticSink({filename: text})
    work = text
    seen: set[int] = set()
    while True:
        tree, where, msg = _parse_once(work, filename)
        if tree is not None:
            break
        if not sink.diagnostics or where.line not in seen:
            sink.error(where, msg)
        if where.line in seen or len(sink.diagnostics) >= MAX_SYNTAX_ERRORS:
            break
        first, last = _statement_span(work, where.line)
        seen.update(range(first, last + 1))
        wl = work.split("\n")
        for n in range(first, last + 1):
            if n - 1 < len(wl):
                wl[n - 1] = ""
        work = "\n".join(wl)
    if sink.diagnostics:
        sink.diagnostics.sort(key=lambda d: (d.loc.line, d.loc.col))
        raise CompileError(sink.diagnostics)
    return tree


def _parse_once(text: str, filename: str):
    """(tree, None, None), or (None, location, message) of the first error."""
    try:
        return get_parser().parse(text), None, None
    except UnexpectedToken as e:
        where = Loc(filename, e.line if e.line > 0 else _last_line(text), max(e.column, 1))
        if e.token.type in ("_INDENT", "_DEDENT"):
            # The indenter gives these the position of the newline before
            # them: point at the first token of the line that (de)indents.
            where = _next_code_line(text, where)
        unclosed = _unclosed_bracket(text, where)
        if unclosed is not None:
            return None, Loc(filename, *unclosed[1:]), f"invalid syntax: '{unclosed[0]}' was never closed"
        return None, where, f"invalid syntax: unexpected {_describe_token(e.token)}"
    except UnexpectedCharacters as e:
        ch = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        msg = "unterminated string literal" if ch in "\"'" else f"invalid character {ch!r}"
        return None, Loc(filename, e.line, e.column), f"invalid syntax: {msg}"
    except UnexpectedEOF:
        return None, Loc(filename, _last_line(text), 1), "invalid syntax: unexpected end of file"
    except DedentError:
        line = _find_bad_dedent(text)
        return None, Loc(filename, line, 1), "invalid syntax: unindent does not match any outer indentation level"
    except UnexpectedInput as e:   # any other positioned lark error
        return None, Loc(filename, getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1), "invalid syntax"
    except (LarkError, RecursionError) as e:
        return None, Loc(filename, 1, 1), f"invalid syntax: {type(e).__name__}"


def _next_code_line(text: str, where: Loc) -> Loc:
    lines = text.split("\n")
    for n in range(where.line + 1, len(lines) + 1):
        stripped = lines[n - 1].strip()
        if stripped and not stripped.startswith("#"):
            return Loc(where.file, n, len(lines[n - 1]) - len(lines[n - 1].lstrip()) + 1)
    return where


def _unclosed_bracket(text: str, where: Loc):
    """(bracket, line, col) of a bracket opened on an earlier line than the
    error and never closed (lark then complains about whatever follows)."""
    import io
    import tokenize
    stack: list[tuple[str, int, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.OP:
                if tok.string in "([{":
                    stack.append((tok.string, tok.start[0], tok.start[1] + 1))
                elif tok.string in pairs:
                    if not stack or stack[-1][0] != pairs[tok.string]:
                        return None
                    stack.pop()
    except tokenize.TokenError:
        if stack and stack[0][1] < where.line:
            return stack[0]
    except (SyntaxError, ValueError):
        pass
    return None


def _statement_starts(text: str) -> list[int]:
    """Lines that begin a top-level logical line (column 0, outside brackets
    and strings), found with Python's tokenizer."""
    import io
    import tokenize
    starts: list[int] = []
    at_line_start = True
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                at_line_start = tok.type == tokenize.NEWLINE or at_line_start
                continue
            if tok.type in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
                continue
            if at_line_start and tok.start[1] == 0:
                starts.append(tok.start[0])
            at_line_start = False
    except IndentationError as e:
        # The rest of the file is scanned line by line.
        after = (e.lineno or 0) + 1
        for n, line in enumerate(text.split("\n")[after - 1:], after):
            if line[:1] and not line[:1].isspace() and line[:1] != "#":
                starts.append(n)
    except (tokenize.TokenError, SyntaxError):
        pass        # an unclosed bracket or string runs to the end of the file
    return starts


def _statement_span(text: str, line: int) -> tuple[int, int]:
    """First and last line of the top-level statement holding `line`
    (with the decorators above a def or class)."""
    starts = _statement_starts(text)
    nlines = text.count("\n") + 1
    before = [s for s in starts if s <= line]
    after = [s for s in starts if s > line]
    first = before[-1] if before else 1
    src = text.split("\n")
    k = len(before) - 1
    while k > 0 and src[before[k - 1] - 1].startswith("@"):
        k -= 1
        first = before[k]
    last = after[0] - 1 if after else nlines
    return first, max(last, line)


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
