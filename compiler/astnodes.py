"""The kpy syntax tree: what a .kpy file says, before any type is known.

Built from lark's Python parse tree by astbuild.py. Type annotations stay
expressions here; the checker resolves them. The checker annotates
expression nodes in place (`ty`, `const`) and wraps implicit conversions
in `Convert` nodes, so lowering never has to guess.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Loc


@dataclass(eq=False)
class Node:
    loc: Loc


# ---- expressions -------------------------------------------------------

@dataclass(eq=False)
class Expr(Node):
    # Filled in by the checker.
    ty: Any = field(default=None, init=False, repr=False)
    const: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Name(Expr):
    id: str
    # The checker resolves a name to a symbol (local, global, function, ...).
    sym: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class IntLit(Expr):
    value: int


@dataclass(eq=False)
class StrLit(Expr):
    value: bytes


@dataclass(eq=False)
class BoolLit(Expr):
    value: bool


@dataclass(eq=False)
class NoneLit(Expr):
    pass


@dataclass(eq=False)
class EllipsisLit(Expr):
    pass


@dataclass(eq=False)
class FloatLit(Expr):
    text: str


@dataclass(eq=False)
class Attribute(Expr):
    value: Expr
    attr: str
    attr_loc: Loc
    sym: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Subscript(Expr):
    value: Expr
    index: list[Expr]


@dataclass(eq=False)
class Keyword(Node):
    name: str
    value: Expr


@dataclass(eq=False)
class Call(Expr):
    func: Expr
    args: list[Expr]
    keywords: list[Keyword]
    # Set by the checker: what kind of call this is and its resolved parts.
    kind: str = field(default="", init=False, repr=False)
    info: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(eq=False)
class UnaryOp(Expr):
    op: str            # "-", "+", "~", "not"
    operand: Expr


@dataclass(eq=False)
class Compare(Expr):
    ops: list[str]
    operands: list[Expr]


@dataclass(eq=False)
class BoolOp(Expr):
    op: str            # "and" | "or"
    values: list[Expr]


@dataclass(eq=False)
class IfExp(Expr):
    test: Expr
    body: Expr
    orelse: Expr


@dataclass(eq=False)
class ListLit(Expr):
    elts: list[Expr]


@dataclass(eq=False)
class TupleLit(Expr):
    elts: list[Expr]


@dataclass(eq=False)
class Starred(Expr):
    value: Expr


@dataclass(eq=False)
class Convert(Expr):
    """An implicit conversion inserted by the checker (widening, decay...)."""
    value: Expr
    how: str = ""


# ---- statements --------------------------------------------------------

@dataclass(eq=False)
class Stmt(Node):
    pass


@dataclass(eq=False)
class ExprStmt(Stmt):
    value: Expr


@dataclass(eq=False)
class AnnAssign(Stmt):
    target: Expr
    annotation: Expr
    value: Expr | None
    sym: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Assign(Stmt):
    target: Expr
    value: Expr
    sym: Any = field(default=None, init=False, repr=False)   # set when it declares a new local


@dataclass(eq=False)
class AugAssign(Stmt):
    target: Expr
    op: str
    value: Expr


@dataclass(eq=False)
class Return(Stmt):
    value: Expr | None


@dataclass(eq=False)
class If(Stmt):
    test: Expr
    body: list[Stmt]
    orelse: list[Stmt]


@dataclass(eq=False)
class MatchCase(Node):
    patterns: list[Expr] | None     # None: `case _:` (C's default)
    body: list[Stmt]


@dataclass(eq=False)
class Match(Stmt):
    """`match x:` used as C's switch: integer constants only, no fall-through."""
    subject: Expr
    cases: list[MatchCase]


@dataclass(eq=False)
class While(Stmt):
    test: Expr
    body: list[Stmt]


@dataclass(eq=False)
class For(Stmt):
    var: Name
    start: Expr
    stop: Expr
    step: Expr | None
    body: list[Stmt]
    sym: Any = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Break(Stmt):
    pass


@dataclass(eq=False)
class Continue(Stmt):
    pass


@dataclass(eq=False)
class Pass(Stmt):
    pass


# ---- declarations ------------------------------------------------------

@dataclass(eq=False)
class Decorator(Node):
    name: str
    args: list[Expr] | None     # None: used bare (`@naked`)


@dataclass(eq=False)
class Param(Node):
    name: str
    annotation: Expr | None


@dataclass(eq=False)
class FunctionDef(Stmt):
    name: str
    params: list[Param]
    varargs: Param | None
    returns: Expr | None
    body: list[Stmt]
    decorators: list[Decorator]
    end_line: int = 0
    is_stub: bool = False       # body is just `...`


@dataclass(eq=False)
class ClassDef(Stmt):
    name: str
    bases: list[Expr]
    keywords: list[Keyword]
    fields: list[AnnAssign]


@dataclass(eq=False)
class ImportName(Stmt):
    module: str
    alias: str | None


@dataclass(eq=False)
class ImportFrom(Stmt):
    module: str
    names: list[tuple[str, str | None, Loc]]


@dataclass(eq=False)
class Module(Node):
    name: str
    filename: str
    body: list[Stmt]
