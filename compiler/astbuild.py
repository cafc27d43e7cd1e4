"""lark's Python parse tree -> the kpy syntax tree (astnodes).

Everything Python has but kpy does not (classes with methods, lambdas,
comprehensions, try, with, floats, ...) is reported here with its location.
"""
from __future__ import annotations

import ast as pyast
import re

from lark import Token, Tree

from . import astnodes as A
from .diagnostics import Abort, DiagnosticSink, Loc

_UNSUPPORTED_STMTS = {
    "del_stmt": "'del'", "raise_stmt": "'raise'", "yield_stmt": "'yield'",
    "global_stmt": "'global' (module globals are visible in functions)", "nonlocal_stmt": "'nonlocal'",
    "assert_stmt": "'assert'", "try_stmt": "'try'", "try_finally": "'try'", "with_stmt": "'with'",
    "async_stmt": "'async'", "async_funcdef": "'async'",
}
_UNSUPPORTED_EXPRS = {
    "lambdef": "lambda", "lambdef_nocond": "lambda", "assign_expr": "':='",
    "yield_expr": "'yield'", "yield_from": "'yield'", "dict": "dict literals", "set": "set literals",
    "list_comprehension": "comprehensions", "tuple_comprehension": "generator expressions",
    "dict_comprehension": "comprehensions", "set_comprehension": "comprehensions",
    "await_expr": "'await'", "slice": "slices",
}


_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|.)", re.S)


def _hex_bytes(b: bytes) -> str:
    return "".join(f"\\x{x:02x}" for x in b)


def _literal_bytes(text: str, prefix: str) -> bytes:
    """The bytes of a string literal, as C means them: each `\\xNN` escape
    is one byte; a non-ASCII character (written as itself or as `\\u`,
    `\\U`, `\\N{}`) is its UTF-8 encoding. Done by rewriting the literal
    as a bytes literal, whose `\\x` escapes are bytes already."""
    if "b" in prefix or "r" in prefix:
        v = pyast.literal_eval(text)
        return v if isinstance(v, bytes) else v.encode("utf-8")

    def unicode_escape(m):
        esc = m.group(0)
        return _hex_bytes(pyast.literal_eval('"' + esc + '"').encode("utf-8")) if esc[1] in "uUN" else esc
    body = _ESCAPE.sub(unicode_escape, text[len(prefix):])
    body = "".join(c if ord(c) < 128 else _hex_bytes(c.encode("utf-8")) for c in body)
    return pyast.literal_eval("b" + body)


# 0b plus 64 binary digits, with room to spare; see number().
MAX_INT_LITERAL_CHARS = 80


class AstBuilder:
    def __init__(self, filename: str, sink: DiagnosticSink, bodies: bool = True):
        self.filename = filename
        self.sink = sink
        # An imported module is used for its declarations only (each module's
        # bodies are checked when it is compiled itself): without bodies its
        # syntax tree costs about a third of the time.
        self.bodies = bodies

    # ---- helpers --------------------------------------------------------
    def loc(self, node) -> Loc:
        if isinstance(node, Token):
            return Loc(self.filename, node.line or 1, node.column or 1)
        if isinstance(node, Tree) and not node.meta.empty:
            return Loc(self.filename, node.meta.line, node.meta.column)
        if isinstance(node, Tree):
            for c in node.children:
                if c is not None:
                    return self.loc(c)
        return Loc(self.filename, 1, 1)

    def fail(self, node, message: str):
        self.sink.error(self.loc(node), message)
        raise Abort()

    def name_of(self, node) -> str:
        if isinstance(node, Token):
            return str(node)
        if node.data == "name":
            return str(node.children[0])
        if node.data == "var":
            return self.name_of(node.children[0])
        self.fail(node, "expected a name")

    # ---- module and statements -----------------------------------------
    def module(self, tree: Tree, modname: str) -> A.Module:
        body = self.stmts(tree.children)
        return A.Module(Loc(self.filename, 1, 1), modname, self.filename, body)

    def stmts(self, nodes) -> list[A.Stmt]:
        out: list[A.Stmt] = []
        for n in nodes:
            if n is None or isinstance(n, Token):
                continue
            if n.data == "simple_stmt":
                out.extend(self.stmts(n.children))
                continue
            try:
                s = self.stmt(n)
            except Abort:
                # Error recorded; keep going to report more. A placeholder
                # tells the checker a statement is missing (no "must return"
                # error for it) and which local names it would have declared.
                s = A.Pass(self.loc(n))
                s.poison = self._declared_names(n)
            if s is not None:
                out.append(s)
        return out

    def _declared_names(self, n) -> set[str]:
        """Plain names a (failed) statement assigns to or loops over."""
        names: set[str] = set()
        if isinstance(n, Tree) and n.data == "assign_stmt" and n.children:
            n = n.children[0]
        if isinstance(n, Tree) and n.data in ("annassign", "assign", "for_stmt") and n.children:
            target = n.children[0]
            if isinstance(target, Tree) and target.data in ("var", "name"):
                try:
                    names.add(self.name_of(target))
                except Abort:
                    pass
        return names

    def suite(self, node) -> list[A.Stmt]:
        if isinstance(node, Tree) and node.data == "suite":
            return self.stmts(node.children)
        return self.stmts([node])

    def stmt(self, n: Tree) -> A.Stmt | None:
        d = n.data
        loc = self.loc(n)
        if d in _UNSUPPORTED_STMTS:
            self.fail(n, f"{_UNSUPPORTED_STMTS[d]} is not supported in kpy")
        if d == "expr_stmt":
            return A.ExprStmt(loc, self.expr(n.children[0]))
        if d == "assign_stmt":
            return self.stmt(n.children[0])
        if d == "annassign":
            target, ann, value = n.children
            return A.AnnAssign(loc, self.expr(target), self.expr(ann),
                               None if value is None else self.expr(value))
        if d == "assign":
            if len(n.children) != 2:
                self.fail(n, "chained assignment is not supported in kpy")
            return A.Assign(loc, self.expr(n.children[0]), self.expr(n.children[1]))
        if d == "augassign":
            target, op, value = n.children
            opstr = str(op.children[0])[:-1]
            if opstr in ("@", "**", "/"):
                self.fail(op, f"'{opstr}=' is not supported in kpy" + ("; use '//='" if opstr == "/" else ""))
            return A.AugAssign(loc, self.expr(target), opstr, self.expr(value))
        if d == "pass_stmt":
            return A.Pass(loc)
        if d == "break_stmt":
            return A.Break(loc)
        if d == "continue_stmt":
            return A.Continue(loc)
        if d == "return_stmt":
            v = n.children[0] if n.children else None
            return A.Return(loc, None if v is None else self.expr(v))
        if d == "import_stmt":
            return self.import_stmt(n.children[0])
        if d == "if_stmt":
            return self.if_stmt(n)
        if d == "while_stmt":
            test, body, orelse = n.children
            if orelse is not None:
                self.fail(orelse, "'while ... else' is not supported in kpy")
            return A.While(loc, self.expr(test), self.suite(body))
        if d == "for_stmt":
            return self.for_stmt(n)
        if d == "match_stmt":
            return self.match_stmt(n)
        if d == "funcdef":
            return self.funcdef(n, [])
        if d == "classdef":
            return self.classdef(n, [])
        if d == "decorated":
            decos = [self.decorator(x) for x in n.children[0].children]
            target = n.children[1]
            if target.data == "funcdef":
                return self.funcdef(target, decos)
            if target.data == "classdef":
                if decos:
                    self.fail(n, "decorators on classes are not supported in kpy")
                return self.classdef(target, decos)
            self.fail(target, "'async' is not supported in kpy")
        self.fail(n, f"this statement ({d}) is not supported in kpy")

    def import_stmt(self, n: Tree) -> A.Stmt:
        loc = self.loc(n)
        if n.data == "import_name":
            items = n.children[0].children
            if len(items) != 1:
                self.fail(n, "import one module per statement")
            dotted, alias = items[0].children
            return A.ImportName(self.loc(dotted), self.dotted(dotted), None if alias is None else self.name_of(alias))
        kids = [c for c in n.children if c is not None]
        if kids and isinstance(kids[0], Tree) and kids[0].data == "dots":
            self.fail(n, "relative imports are not supported in kpy; use the full module name")
        module = self.dotted(kids[0])
        if len(kids) < 2:
            self.fail(n, "'from ... import *' is not supported in kpy; name what you import")
        loc = self.loc(kids[0])        # errors about the module point at its name
        names = []
        for item in kids[1].children:
            if item is None:
                continue
            nm, alias = item.children
            names.append((self.name_of(nm), None if alias is None else self.name_of(alias), self.loc(item)))
        return A.ImportFrom(loc, module, names)

    def dotted(self, n: Tree) -> str:
        return ".".join(self.name_of(c) for c in n.children)

    def if_stmt(self, n: Tree) -> A.If:
        test, body, elifs, orelse = n.children
        tail = [] if orelse is None else self.suite(orelse)
        for elif_ in reversed(elifs.children):
            etest, ebody = elif_.children
            tail = [A.If(self.loc(elif_), self.expr(etest), self.suite(ebody), tail)]
        return A.If(self.loc(n), self.expr(test), self.suite(body), tail)

    def match_stmt(self, n: Tree) -> A.Match:
        subject, *cases = n.children
        out = []
        for c in cases:
            pattern, guard, body = c.children
            if guard is not None:
                self.fail(guard, "a 'case' guard ('if ...') is not supported in kpy; test inside the case")
            out.append(A.MatchCase(self.loc(c), self.case_patterns(pattern, c), self.suite(body)))
        return A.Match(self.loc(n), self.expr(subject), out)

    def case_patterns(self, p: Tree, case: Tree) -> list[A.Expr] | None:
        """The values of `case 1 | K | m.K:`; None for `case _:`."""
        if p.data == "any_pattern":
            return None
        alts = p.children if p.data == "or_pattern" else [p]
        out = []
        for a in alts:
            if isinstance(a, Tree) and a.data == "literal_pattern":
                lit = a.children[0]
                if isinstance(lit, Tree) and lit.data == "neg_number":      # `case -1:` (C's case -1:)
                    out.append(A.UnaryOp(self.loc(lit), "-", self.expr(lit.children[0])))
                else:
                    out.append(self.expr(lit))
            elif isinstance(a, Tree) and a.data == "capture_pattern":
                # Python would bind the name; kpy compares with a Final constant of that name.
                out.append(A.Name(self.loc(a.children[0]), str(a.children[0])))
            elif isinstance(a, Tree) and a.data == "value":
                e: A.Expr = A.Name(self.loc(a.children[0]), str(a.children[0]))
                for part in a.children[1:]:
                    e = A.Attribute(self.loc(part), e, str(part), self.loc(part))
                out.append(e)
            elif isinstance(a, Tree) and a.data == "any_pattern":
                self.fail(case, "'_' must be a case of its own ('case _:')")
            else:
                self.fail(a if isinstance(a, Tree) and not a.meta.empty else case,
                          "a kpy 'case' matches integer constants only (`case 1 | 2 | NAME:` or `case _:`)")
        return out

    def for_stmt(self, n: Tree) -> A.For:
        target, iterable, body, orelse = n.children
        if orelse is not None:
            self.fail(orelse, "'for ... else' is not supported in kpy")
        if not (isinstance(target, Tree) and target.data == "var"):
            self.fail(target, "a for loop variable must be a plain name")
        it = self.expr(iterable)
        if not (isinstance(it, A.Call) and isinstance(it.func, A.Name) and it.func.id == "range"):
            self.fail(iterable, "kpy 'for' loops iterate over range(...) only")
        if it.keywords or not 1 <= len(it.args) <= 3:
            self.fail(iterable, "range() takes 1 to 3 positional arguments")
        args = it.args
        if len(args) == 1:
            start, stop, step = A.IntLit(it.loc, 0), args[0], None
        else:
            start, stop = args[0], args[1]
            step = args[2] if len(args) == 3 else None
        var = A.Name(self.loc(target), self.name_of(target))
        return A.For(self.loc(n), var, start, stop, step, self.suite(body))

    def decorator(self, n: Tree) -> A.Decorator:
        dotted, args = n.children
        name = self.dotted(dotted)
        parsed = None           # `@f` and `@f()` are alike: lark drops the parentheses
        if args is not None:
            pos, kws, _ = self.arguments(args)
            if kws:
                self.fail(args, f"decorator '{name}' takes no keyword arguments")
            parsed = pos
        return A.Decorator(self.loc(n), name, parsed)

    def funcdef(self, n: Tree, decos) -> A.FunctionDef:
        name, params, ret, body = n.children
        plist, varargs = self.parameters(params)
        if self.bodies or _statement_count(body) == 1:
            stmts = self.suite(body)        # (a one-statement body may be the stub `...`)
        else:
            stmts = []
        is_stub = (len(stmts) == 1 and isinstance(stmts[0], A.ExprStmt)
                   and isinstance(stmts[0].value, A.EllipsisLit))
        return A.FunctionDef(self.loc(name), self.name_of(name), plist, varargs,
                             None if ret is None else self.expr(ret), stmts, decos, 0, is_stub)

    def parameters(self, n) -> tuple[list[A.Param], A.Param | None]:
        if n is None:
            return [], None
        out, varargs = [], None
        for c in n.children:
            if c is None:
                continue
            if isinstance(c, Token):
                self.fail(c, "positional-only marker '/' is not supported in kpy")
            if c.data == "starparams":
                star, post = c.children
                if star.data == "starguard":
                    self.fail(star, "keyword-only parameters are not supported in kpy")
                varargs = self.param(star.children[0])
                if post is not None and any(x is not None for x in post.children):
                    self.fail(post, "parameters after *args are not supported in kpy")
                continue
            if c.data == "kwparams":
                self.fail(c, "'**kwargs' is not supported in kpy")
            if c.data == "paramvalue":
                self.fail(c, "default parameter values are not supported in kpy")
            out.append(self.param(c))
        return out, varargs

    def param(self, n) -> A.Param:
        if isinstance(n, Tree) and n.data == "typedparam":
            nm, ann = n.children
            return A.Param(self.loc(n), self.name_of(nm), self.expr(ann))
        return A.Param(self.loc(n), self.name_of(n), None)

    def classdef(self, n: Tree, decos) -> A.ClassDef:
        name, args, body = n.children
        bases, kws = [], []
        if args is not None:
            bases, kws, _ = self.arguments(args)
        fields = []
        for s in self.suite(body):
            if isinstance(s, A.AnnAssign) and isinstance(s.target, A.Name):
                if s.value is not None:
                    self.sink.error(s.value.loc, "struct fields cannot have default values")
                fields.append(s)
            elif isinstance(s, A.Pass) or (isinstance(s, A.ExprStmt) and isinstance(s.value, (A.StrLit, A.EllipsisLit))):
                continue
            else:
                self.sink.error(s.loc, "a struct body holds only annotated fields (`name: type`)")
        return A.ClassDef(self.loc(name), self.name_of(name), bases, kws, fields)

    # ---- expressions ----------------------------------------------------
    def expr(self, n) -> A.Expr:
        if isinstance(n, Token):
            self.fail(n, f"unexpected {n!s}")
        d = n.data
        loc = self.loc(n)
        if d in _UNSUPPORTED_EXPRS:
            what = _UNSUPPORTED_EXPRS[d]
            self.fail(n, f"{what} {'are' if what.endswith('s') else 'is'} not supported in kpy")
        if d == "var":
            return A.Name(loc, self.name_of(n))
        if d == "number":
            return self.number(n.children[0])
        if d in ("string", "string_concat"):
            return self.string(n)
        if d == "const_none":
            return A.NoneLit(loc)
        if d == "const_true":
            return A.BoolLit(loc, True)
        if d == "const_false":
            return A.BoolLit(loc, False)
        if d == "ellipsis":
            return A.EllipsisLit(loc)
        if d == "funccall":
            func, args = n.children
            pos, kws, _ = self.arguments(args) if args is not None else ([], [], None)
            return A.Call(loc, self.expr(func), pos, kws)
        if d == "getitem":
            value, sub = n.children
            if isinstance(sub, Tree) and sub.data == "subscript_tuple":
                index = [self.expr(c) for c in sub.children if c is not None]
            else:
                index = [self.expr(sub)]
            return A.Subscript(loc, self.expr(value), index)
        if d == "getattr":
            value, attr = n.children
            return A.Attribute(loc, self.expr(value), self.name_of(attr), self.loc(attr))
        if d in ("arith_expr", "term", "shift_expr"):
            kids = n.children
            left = self.expr(kids[0])
            for i in range(1, len(kids), 2):
                op = str(kids[i])
                if op == "/":
                    # Reported, then read as '//' so checking goes on.
                    self.sink.error(self.loc(kids[i]), "'/' is not supported in kpy; use '//' for integer division")
                    op = "//"
                if op == "@":
                    self.fail(kids[i], "'@' is not supported in kpy")
                left = A.BinOp(self.loc(kids[i]), op, left, self.expr(kids[i + 1]))
            return left
        if d in ("or_expr", "xor_expr", "and_expr"):
            op = {"or_expr": "|", "xor_expr": "^", "and_expr": "&"}[d]
            left = self.expr(n.children[0])
            for c in n.children[1:]:
                left = A.BinOp(loc, op, left, self.expr(c))
            return left
        if d == "factor":
            op, operand = n.children
            return A.UnaryOp(loc, str(op), self.expr(operand))
        if d == "power":
            self.fail(n, "'**' is not supported in kpy")
        if d == "not_test":
            return A.UnaryOp(loc, "not", self.expr(n.children[0]))
        if d in ("and_test", "or_test"):
            return A.BoolOp(loc, "and" if d == "and_test" else "or", [self.expr(c) for c in n.children])
        if d == "comparison":
            kids = n.children
            ops, operands = [], [self.expr(kids[0])]
            for i in range(1, len(kids), 2):
                op = " ".join(str(t) for t in kids[i].children)
                if op not in ("<", ">", "==", ">=", "<=", "!=", "is", "is not"):
                    self.fail(kids[i], f"comparison '{op}' is not supported in kpy")
                ops.append({"is": "==", "is not": "!="}.get(op, op))
                operands.append(self.expr(kids[i + 1]))
            return A.Compare(loc, ops, operands)
        if d == "test":
            body, cond, orelse = n.children
            return A.IfExp(loc, self.expr(cond), self.expr(body), self.expr(orelse))
        if d in ("tuple", "testlist_tuple"):
            return A.TupleLit(loc, [self.expr(c) for c in n.children if c is not None])
        if d == "list":
            return A.ListLit(loc, [self.expr(c) for c in n.children if c is not None])
        if d == "star_expr":
            return A.Starred(loc, self.expr(n.children[0]))
        self.fail(n, f"this expression ({d}) is not supported in kpy")

    def arguments(self, n: Tree):
        pos: list[A.Expr] = []
        kws: list[A.Keyword] = []
        for c in n.children:
            if c is None:
                continue
            if isinstance(c, Tree) and c.data == "argvalue":
                key, value = c.children
                if not (isinstance(key, Tree) and key.data == "var"):
                    self.fail(c, "keyword argument name must be a plain name")
                kws.append(A.Keyword(self.loc(c), self.name_of(key), self.expr(value)))
            elif isinstance(c, Tree) and c.data in ("starargs", "kwargs"):
                self.fail(c, "'*' and '**' in calls are not supported in kpy")
            elif isinstance(c, Tree) and c.data == "comprehension":
                self.fail(c, "generator expressions are not supported in kpy")
            else:
                if kws:
                    self.fail(c, "positional argument after keyword argument")
                pos.append(self.expr(c))
        return pos, kws, None

    def number(self, tok: Token) -> A.Expr:
        loc = self.loc(tok)
        if tok.type in ("FLOAT_NUMBER", "IMAG_NUMBER"):
            return A.FloatLit(loc, str(tok))
        # Bound the text before converting: kpy integers are at most 64 bits, and
        # Python refuses (or takes quadratic time) to convert very long literals.
        if len(str(tok).replace("_", "")) > MAX_INT_LITERAL_CHARS:
            self.fail(tok, f"integer literal is too long ({len(str(tok))} characters); kpy integers are at most 64 bits")
        return A.IntLit(loc, int(str(tok), 0))

    def string(self, n: Tree) -> A.Expr:
        toks = [c.children[0] for c in n.children] if n.data == "string_concat" else [n.children[0]]
        parts = []
        for t in toks:
            text = str(t)
            prefix = text[:text.find(text[-1])].lower()
            if "f" in prefix:
                self.fail(t, "f-strings are not supported in kpy")
            try:
                parts.append(_literal_bytes(text, prefix))
            except UnicodeEncodeError as e:
                self.fail(t, f"string literal has a character UTF-8 cannot encode "
                             f"(a lone surrogate U+{ord(e.object[e.start]):04X})")
            except (ValueError, SyntaxError) as e:
                self.fail(t, f"bad string literal: {e}")
        return A.StrLit(self.loc(n), b"".join(parts))


def build_module(tree: Tree, filename: str, modname: str, sink: DiagnosticSink,
                 bodies: bool = True) -> A.Module:
    """The module's syntax tree; `bodies=False`: function bodies are left
    empty (a stub `...` is kept), for a module that is only imported."""
    return AstBuilder(filename, sink, bodies).module(tree, modname)


def _statement_count(body) -> int:
    if isinstance(body, Tree) and body.data == "suite":
        return len(body.children)
    return 1
