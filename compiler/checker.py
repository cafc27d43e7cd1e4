"""The type checker: every expression gets a type (and a folded value when
it is a constant), implicit conversions become explicit Convert nodes, and
every mistake is reported with both types named before LLVM sees anything.
"""
from __future__ import annotations

from . import astnodes as A
from . import typesys as T
from .declarations import BUILTIN_SCOPE, Resolver, _describe
from .diagnostics import Abort, Loc
from .modules import ModuleInfo, PackageSym
from .suggest import nearest
from .symbols import (BuiltinSym, ConstSym, FuncSym, GlobalVar, LocalVar, ModuleSym,
                      Symbol, TypeSym)

# Bounds checked before LLVM (or the lowering) would allocate or abort: a stack
# frame is a few KiB in practice, and initialised data is stored in the image.
MAX_LOCAL_BYTES = 16 << 20
MAX_INITIALISED_BYTES = 64 << 20

ARITH_OPS = ("+", "-", "*", "//", "%", "&", "|", "^", "<<", ">>")


def c_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fold_binop(op: str, a: int, b: int) -> int | None:
    if op in ("//", "%") and b == 0:
        return None
    if op in ("<<", ">>") and b < 0:
        return None
    return {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
        "//": lambda: c_div(a, b), "%": lambda: a - c_div(a, b) * b,
        "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
        "<<": lambda: a << b if b < 256 else 0, ">>": lambda: a >> b,
    }[op]()


class FunctionContext:
    def __init__(self, sym: FuncSym | None):
        self.sym = sym
        self.scopes: dict[str, LocalVar] = {}
        self.locals: list[LocalVar] = []
        self.loop_depth = 0
        self.ret = sym.ty.ret if sym is not None else T.VOID
        # Locals whose declaration was in error (already reported): a use
        # of one is not a second error ("unknown name").
        self.poisoned: set[str] = set()
        self.dropped = False     # a statement was dropped by the AST builder's errors


class Checker:
    """Checks expressions and statements of one module."""

    def __init__(self, resolver: Resolver, module: ModuleInfo):
        self.r = resolver
        self.module = module
        self.sink = resolver.sink
        self.fn: FunctionContext | None = None

    def error(self, loc: Loc, msg: str):
        self.sink.error(loc, msg)
        raise Abort()

    # ======================================================================
    # functions and statements
    # ======================================================================
    def check_function(self, sym: FuncSym) -> None:
        self.r.resolve_function(sym)
        self.fn = FunctionContext(sym)
        for p in sym.params + ([sym.varargs] if sym.varargs else []):
            if p.name in self.fn.scopes:
                self.sink.error(p.loc, f"duplicate parameter '{p.name}'")
            self.fn.scopes[p.name] = p
        d: A.FunctionDef = sym.decl
        if sym.attrs.extern:
            return
        if sym.attrs.naked:
            self._check_naked_body(d)
        self.block(d.body)
        if sym.ty.ret is not T.VOID and not sym.attrs.naked and not self.fn.dropped and not self.terminates(d.body):
            self.sink.error(d.loc, f"function '{d.name}' must return a {sym.ty.ret} on every path")

    def _check_naked_body(self, d: A.FunctionDef) -> None:
        for s in d.body:
            ok = (isinstance(s, A.ExprStmt) and isinstance(s.value, A.Call) and isinstance(s.value.func, A.Name)
                  and s.value.func.id in ("asm", "unreachable")) or isinstance(s, A.Pass) \
                 or (isinstance(s, A.ExprStmt) and isinstance(s.value, A.StrLit))
            if not ok:
                self.sink.error(s.loc, "a @naked function body may contain only asm(...) statements")

    def terminates(self, body: list[A.Stmt]) -> bool:
        if not body:
            return False
        last = body[-1]
        if isinstance(last, A.Return):
            return True
        if isinstance(last, A.If):
            # An elif chain is walked in a loop, not by recursion (300+ arms).
            while len(last.orelse) == 1 and isinstance(last.orelse[0], A.If):
                if not self.terminates(last.body):
                    return False
                last = last.orelse[0]
            return self.terminates(last.body) and self.terminates(last.orelse)
        if isinstance(last, A.Match):
            return (any(c.patterns is None for c in last.cases)
                    and all(self.terminates(c.body) for c in last.cases))
        if isinstance(last, A.While):
            return last.test.const not in (None, 0, False) and not self._has_break(last.body)
        if isinstance(last, A.ExprStmt) and isinstance(last.value, A.Call) and last.value.kind == "unreachable":
            return True
        return False

    def _has_break(self, body: list[A.Stmt]) -> bool:
        """A `break` of this loop (not of a nested one); a work list, not
        recursion, so a long elif chain is fine."""
        todo = [body]
        while todo:
            for s in todo.pop():
                if isinstance(s, A.Break):
                    return True
                if isinstance(s, A.If):
                    todo += [s.body, s.orelse]
                elif isinstance(s, A.Match):
                    todo += [c.body for c in s.cases]
        return False

    def block(self, stmts: list[A.Stmt]) -> None:
        for s in stmts:
            try:
                self.stmt(s)
            except Abort:
                pass

    def stmt(self, s: A.Stmt) -> None:
        m = getattr(self, "stmt_" + type(s).__name__, None)
        if m is None:
            self.error(s.loc, f"{type(s).__name__} statements are not allowed inside a function")
        m(s)

    def stmt_ExprStmt(self, s: A.ExprStmt) -> None:
        if isinstance(s.value, (A.StrLit, A.EllipsisLit)):
            return      # docstring / placeholder
        s.value = self.check_expr(s.value, None)
        if isinstance(s.value.ty, T.LiteralIntType):
            s.value = self.coerce(s.value, T.literal_type_for(s.value.const), "expression")

    def stmt_Pass(self, s) -> None:
        poison = getattr(s, "poison", None)      # stands for a statement in error (astbuild)
        if poison is not None:
            self.fn.poisoned |= poison
            self.fn.dropped = True

    def declare_local(self, name: str, loc: Loc, ty: T.Type) -> LocalVar:
        if name in BUILTIN_SCOPE:
            self.error(loc, f"'{name}' is a builtin and cannot be a variable name")
        old = self.fn.scopes.get(name)
        if old is not None:
            if not T.same_type(old.ty, ty):
                self.error(loc, f"'{name}' is already declared as {old.ty} (line {old.loc.line}); cannot redeclare it as {ty}")
            return old
        v = LocalVar(name, loc, ty)
        self.fn.scopes[name] = v
        self.fn.locals.append(v)
        return v

    def stmt_AnnAssign(self, s: A.AnnAssign) -> None:
        if not isinstance(s.target, A.Name):
            self.error(s.target.loc, "an annotated assignment declares a plain local name")
        if isinstance(s.annotation, A.Name) and s.annotation.id == "Final" or (
                isinstance(s.annotation, A.Subscript) and isinstance(s.annotation.value, A.Name)
                and s.annotation.value.id == "Final"):
            self.error(s.annotation.loc, "Final constants are declared at module level")
        try:
            ty = self.r.resolve_type(s.annotation, self.module)
            self.r.require_complete(ty, s.annotation.loc)
            if ty.size > MAX_LOCAL_BYTES:
                self.error(s.annotation.loc, f"a local {ty} of {ty.size} bytes does not fit on the stack "
                           f"(limit {MAX_LOCAL_BYTES} bytes); make it a global")
        except Abort:
            self.fn.poisoned.add(s.target.id)
            raise
        # Declared even when the initialiser is wrong, so later uses do not
        # report a second, misleading error.
        s.sym = self.declare_local(s.target.id, s.target.loc, ty)
        s.target.sym, s.target.ty = s.sym, ty
        if s.value is not None and isinstance(ty, T.ArrayType) and isinstance(s.value, (A.ListLit, A.StrLit)):
            s.value = self.array_init(s.value, ty, s.target.id)
        elif s.value is not None:
            s.value = self.struct_value(self.check_expr(s.value, ty), ty, f"initialiser of '{s.target.id}'")

    def stmt_Assign(self, s: A.Assign) -> None:
        if isinstance(s.target, A.TupleLit):
            self.error(s.target.loc, "tuple assignment is not supported in kpy")
        if isinstance(s.target, A.Name) and self.lookup(s.target.id) is None:
            try:
                value = self.check_expr(s.value, None)
                ty = self.inferred_type(value, s.target)
                value = self.coerce(value, ty, f"initialiser of '{s.target.id}'")
            except Abort:
                self.fn.poisoned.add(s.target.id)
                raise
            s.sym = self.declare_local(s.target.id, s.target.loc, ty)
            s.target.sym, s.target.ty = s.sym, ty
            s.value = value
            return
        s.target = self.check_lvalue(s.target)
        s.value = self.struct_value(self.check_expr(s.value, s.target.ty), s.target.ty, "assignment")

    def array_init(self, v: A.Expr, ty: T.ArrayType, name: str) -> A.Expr:
        """`[1, 2, 3]` (missing elements are zero) or a string for a byte array."""
        if isinstance(v, A.StrLit):
            if not (isinstance(ty.elem, T.IntType) and ty.elem.bits == 8):
                self.error(v.loc, f"a string initialises a byte array, not {ty}")
            if len(v.value) > ty.count:
                self.error(v.loc, f"string of {len(v.value)} bytes does not fit in {ty}")
            v.ty = ty
            return v
        if len(v.elts) > ty.count:
            self.error(v.loc, f"{len(v.elts)} initialisers for {ty}")
        elts = []
        for x in v.elts:
            if isinstance(ty.elem, T.ArrayType) and isinstance(x, (A.ListLit, A.StrLit)):
                elts.append(self.array_init(x, ty.elem, name))
            else:
                elts.append(self.struct_value(self.check_expr(x, ty.elem), ty.elem, f"element of '{name}'"))
        v.elts = elts
        v.ty = ty
        return v

    def inferred_type(self, value: A.Expr, target: A.Name) -> T.Type:
        t = value.ty
        if isinstance(t, T.LiteralIntType):
            return T.literal_type_for(value.const)
        if isinstance(t, T.NullType):
            self.error(target.loc, f"cannot infer a type for '{target.id}' from None; annotate it: {target.id}: ptr[T] = None")
        if isinstance(t, T.VoidType):
            self.error(value.loc, "this expression has no value")
        if isinstance(t, T.ArrayType):
            return T.PtrType(t.elem)
        if isinstance(t, T.StructType):
            return t
        return t

    def stmt_AugAssign(self, s: A.AugAssign) -> None:
        target = self.check_lvalue(s.target)
        s.target = target
        tt = target.ty
        if isinstance(tt, T.PtrType) and s.op in ("+", "-"):
            v = self.check_expr(s.value, None)
            s.value = self.to_index(v)
            return
        if not isinstance(tt, T.IntType):
            self.error(s.loc, f"'{s.op}=' needs an integer target, not {tt}")
        v = self.check_expr(s.value, tt)
        if s.op in ("<<", ">>"):
            s.value = self.shift_amount(v)
        else:
            s.value = self.coerce(v, tt, f"'{s.op}='")

    def stmt_Return(self, s: A.Return) -> None:
        ret = self.fn.ret
        if s.value is None:
            if ret is not T.VOID:
                self.error(s.loc, f"this function returns {ret}; 'return' needs a value")
            return
        if ret is T.VOID:
            self.error(s.value.loc, "this function returns None; 'return' takes no value")
        s.value = self.coerce(self.check_expr(s.value, ret), ret, "return value")

    def stmt_If(self, s: A.If) -> None:
        while True:     # an elif chain in a loop, not by recursion (300+ arms)
            try:
                s.test = self.check_cond(s.test)
            except Abort:
                pass
            self.block(s.body)
            if not (len(s.orelse) == 1 and isinstance(s.orelse[0], A.If)):
                break
            s = s.orelse[0]
        self.block(s.orelse)

    def stmt_Match(self, s: A.Match) -> None:
        """C's switch: an integer subject, constant cases, each value once."""
        subj = self.check_expr(s.subject, None)
        if isinstance(subj.ty, T.LiteralIntType):
            subj = self.coerce(subj, T.literal_type_for(subj.const), "match subject")
        if not isinstance(subj.ty, T.IntType):
            self.error(subj.loc, f"'match' needs an integer subject, not {subj.ty}")
        s.subject = subj
        seen: dict[int, Loc] = {}
        default: A.MatchCase | None = None
        for c in s.cases:
            if default is not None:
                self.sink.error(c.loc, f"this case can never match: 'case _:' at line {default.loc.line} comes before it")
            if c.patterns is None:
                default = c
            else:
                c.patterns = [self.case_value(p, subj.ty, seen) for p in c.patterns]
            self.block(c.body)

    def case_value(self, p: A.Expr, ty: T.IntType, seen: dict) -> A.Expr:
        negative = isinstance(p, A.UnaryOp) and p.op == "-"        # `case -1:` (a signed number pattern)
        try:
            # A negative pattern is checked as written, not wrapped to the subject's type.
            v = self.check_expr(p, None if negative else ty)
            if negative and v.const is not None and isinstance(v.ty, T.LiteralIntType) and ty.signed \
                    and T.fits(v.const, ty):
                v = self.check_expr(p, ty)
        except Abort:
            return p
        if v.const is None or not isinstance(v.ty, (T.IntType, T.LiteralIntType, T.BoolType)):
            self.sink.error(p.loc, "a case value must be an integer constant (a literal or a Final name)")
            return v
        if v.const < 0 and not ty.signed:
            # C converts `case -1:` to the subject's type (0xFFFFFFFF); that is
            # rarely meant, so kpy asks for the value it would be.
            self.sink.error(p.loc, f"case value {v.const} is negative, and the subject's type {ty} is unsigned; "
                                   f"write {ty.wrap(v.const):#x} if that value is meant, or match a signed value "
                                   f"(match {'i64' if ty.bits == 64 else 'i32'}(x):)")
            return v
        if not T.fits(v.const, ty) and not (isinstance(v.ty, T.LiteralIntType) and self._literal_fits(v.const, ty)):
            self.sink.error(p.loc, f"case value {v.const} does not fit in the subject's type {ty}")
            return v
        value = ty.wrap(v.const)
        if value in seen:
            self.sink.error(p.loc, f"duplicate case value {v.const} (already a case at line {seen[value].line})")
        seen[value] = p.loc
        return self._const_as(v, ty, value)

    def stmt_While(self, s: A.While) -> None:
        try:
            s.test = self.check_cond(s.test)
        except Abort:
            pass
        self.fn.loop_depth += 1
        self.block(s.body)
        self.fn.loop_depth -= 1

    def stmt_For(self, s: A.For) -> None:
        existing = self.lookup(s.var.id)
        want = existing.ty if isinstance(existing, LocalVar) else None
        if existing is not None and not isinstance(existing, LocalVar):
            self.error(s.var.loc, f"loop variable '{s.var.id}' must be a local variable")
        start = self.check_expr(s.start, want)
        stop = self.check_expr(s.stop, want)
        if want is None:
            want = self.unify_ints(start, stop, s.loc, "range")
            if isinstance(want, T.LiteralIntType):
                # Literal bounds: u32 when nothing is negative (indexes, counts), else i32.
                lo, hi = min(start.const, stop.const), max(start.const, stop.const)
                want = T.U32 if lo >= 0 and hi <= T.U32.max else (T.I32 if T.fits(lo, T.I32) and T.fits(hi, T.I32) else T.I64)
        if not isinstance(want, T.IntType):
            self.error(s.loc, f"range() needs integers, not {want}")
        for bound, what in ((start, "start"), (stop, "stop")):
            if not want.signed and bound.const is not None and bound.const < 0:
                # -1 would wrap to the type's maximum: `range(n, -1, -1)` would run zero times.
                self.sink.error(bound.loc, f"the range {what} {bound.const} is negative, but the loop counts in {want} "
                                f"(it would be {want.wrap(bound.const)}); count in a signed type, e.g. "
                                f"`for i in range(i32(n), -1, -1)`")
        s.start = self.coerce(start, want, "range start")
        s.stop = self.coerce(stop, want, "range stop")
        if s.step is not None:
            step = self.check_expr(s.step, None)     # keep its sign: range(10, 0, -2) over u32
            if step.const is None or step.const == 0:
                self.error(s.step.loc, "the step of range() must be a non-zero constant")
            if step.const < 0 and not want.signed:
                s.step = self.coerce_wrap(step, want)
            else:
                s.step = self.coerce(step, want, "range step")
            s.step.const = step.const   # keep the signed step for the loop test
        s.sym = existing if existing is not None else self.declare_local(s.var.id, s.var.loc, want)
        s.var.sym, s.var.ty = s.sym, want
        self.fn.loop_depth += 1
        self.block(s.body)
        self.fn.loop_depth -= 1

    def stmt_Break(self, s) -> None:
        if self.fn.loop_depth == 0:
            self.error(s.loc, "'break' outside a loop")

    def stmt_Continue(self, s) -> None:
        if self.fn.loop_depth == 0:
            self.error(s.loc, "'continue' outside a loop")

    def stmt_FunctionDef(self, s) -> None:
        self.error(s.loc, "nested functions are not supported in kpy")

    def stmt_ClassDef(self, s) -> None:
        self.error(s.loc, "structs are declared at module level")

    def stmt_ImportName(self, s) -> None:
        self.error(s.loc, "imports belong at module level")

    stmt_ImportFrom = stmt_ImportName

    # ======================================================================
    # names
    # ======================================================================
    def lookup(self, name: str) -> Symbol | None:
        if self.fn is not None and name in self.fn.scopes:
            return self.fn.scopes[name]
        return self.r.lookup_global(self.module, name)

    def all_names(self):
        names = set(BUILTIN_SCOPE) | set(self.module.scope)
        if self.fn is not None:
            names |= set(self.fn.scopes)
        return names

    def resolve_name(self, e: A.Name) -> Symbol:
        sym = self.lookup(e.id)
        if sym is None and (self.fn is not None and e.id in self.fn.poisoned or e.id in self.module.unresolved):
            raise Abort()           # its declaration's (or import's) error is already reported
        if sym is None:
            self.r.unknown_name(e.loc, e.id, self.all_names())
        return sym

    def symbol_of(self, e: A.Expr) -> Symbol | None:
        """The symbol a Name or module.member expression denotes, else None."""
        if isinstance(e, A.Name):
            return self.resolve_name(e)
        if isinstance(e, A.Attribute) and isinstance(e.value, (A.Name, A.Attribute)):
            base = self.symbol_of(e.value) if isinstance(e.value, A.Name) or self._is_module_path(e.value) else None
            if isinstance(base, (ModuleSym, PackageSym)):
                return self.r.module_member(base, e.attr, e.attr_loc)
        return None

    def _is_module_path(self, e: A.Expr) -> bool:
        if isinstance(e, A.Name):
            return isinstance(self.lookup(e.id), (ModuleSym, PackageSym))
        return isinstance(e, A.Attribute) and self._is_module_path(e.value)

    def try_type(self, e: A.Expr) -> T.Type | None:
        """If `e` spells a type (u32, ptr[u8], mod.Struct), that type."""
        if isinstance(e, A.Subscript) and isinstance(e.value, A.Name) and e.value.id in ("ptr", "vptr", "array", "fn"):
            if isinstance(self.lookup(e.value.id), BuiltinSym):
                return self.r.resolve_type(e, self.module)
        if isinstance(e, (A.Name, A.Attribute)):
            sym = self.symbol_of(e) if (isinstance(e, A.Name) or self._is_module_path(e.value)) else None
            if isinstance(sym, TypeSym):
                return self.r.resolve_type(e, self.module)
        return None

    # ======================================================================
    # expressions
    # ======================================================================
    def check_expr(self, e: A.Expr, expected: T.Type | None) -> A.Expr:
        m = getattr(self, "expr_" + type(e).__name__, None)
        if m is None:
            self.error(e.loc, "this expression is not supported in kpy")
        out = m(e, expected)
        assert out.ty is not None, e
        return out

    def expr_IntLit(self, e: A.IntLit, expected) -> A.Expr:
        e.const = e.value
        if isinstance(expected, T.IntType) and self._literal_fits(e.value, expected):
            e.ty = expected
            e.const = expected.wrap(e.value)
        else:
            e.ty = T.LITINT
        return e

    def _literal_fits(self, v: int, t: T.IntType) -> bool:
        # Negative literals for unsigned types wrap as in C (`~0`, `-1`).
        return t.min <= v <= t.max or (not t.signed and -(1 << (t.bits - 1)) <= v < 0)

    def expr_FloatLit(self, e, expected):
        self.error(e.loc, "floating-point is not supported in kpy")

    def expr_BoolLit(self, e: A.BoolLit, expected) -> A.Expr:
        e.ty, e.const = T.BOOL, int(e.value)
        return e

    def expr_NoneLit(self, e: A.NoneLit, expected) -> A.Expr:
        e.ty = T.NULL
        return e

    def expr_StrLit(self, e: A.StrLit, expected) -> A.Expr:
        e.ty = T.PtrType(T.U8)
        return e

    def expr_EllipsisLit(self, e, expected):
        self.error(e.loc, "'...' is only a function body (for @extern declarations)")

    def expr_ListLit(self, e, expected):
        self.error(e.loc, "list literals are only array initialisers of globals")

    def expr_TupleLit(self, e, expected):
        self.error(e.loc, "tuples are not supported in kpy")

    def expr_Starred(self, e, expected):
        self.error(e.loc, "'*' is not supported here")

    def expr_Convert(self, e, expected):
        return e

    def expr_Name(self, e: A.Name, expected) -> A.Expr:
        sym = self.resolve_name(e)
        return self.symbol_value(e, sym)

    def symbol_value(self, e: A.Expr, sym: Symbol) -> A.Expr:
        e.sym = sym
        if isinstance(sym, LocalVar):
            e.ty = sym.ty
        elif isinstance(sym, GlobalVar):
            self.r.resolve_global(sym)
            e.ty = sym.ty
        elif isinstance(sym, ConstSym):
            self.r.resolve_const(sym)
            e.ty, e.const = sym.ty, sym.value
        elif isinstance(sym, FuncSym):
            self.r.resolve_function(sym)
            e.ty = sym.ty
        elif isinstance(sym, TypeSym):
            self.error(e.loc, f"'{sym.name}' is a type, not a value")
        elif isinstance(sym, (ModuleSym, PackageSym)):
            self.error(e.loc, f"'{sym.name}' is a module, not a value")
        elif isinstance(sym, BuiltinSym):
            self.error(e.loc, f"'{sym.name}' is a builtin; call it")
        return e

    def expr_Attribute(self, e: A.Attribute, expected) -> A.Expr:
        if self._is_module_path(e.value):
            sym = self.symbol_of(e)
            return self.symbol_value(e, sym)
        base = self.check_expr(e.value, None)
        e.value = base
        st = base.ty
        through_ptr = isinstance(st, T.PtrType)
        if through_ptr:
            st = st.target
        if not isinstance(st, T.StructType):
            self.error(e.attr_loc, f"{base.ty} has no field '{e.attr}' (only structs and pointers to structs have fields)")
        f = st.field(e.attr)
        if f is None:
            hint = nearest(e.attr, [x.name for x in st.fields])
            self.error(e.attr_loc, f"struct '{st}' has no field '{e.attr}'" + (f"; did you mean '{hint}'?" if hint else ""))
        if not through_ptr and not self.is_lvalue(base):
            self.error(e.loc, "field access needs a struct variable or a pointer to a struct")
        e.sym = f
        e.ty = f.type
        return e

    def expr_Subscript(self, e: A.Subscript, expected) -> A.Expr:
        t = self.try_type(e)
        if t is not None:
            self.error(e.loc, f"'{t}' is a type, not a value")
        if len(e.index) != 1:
            self.error(e.loc, "index with one expression: p[i]")
        base = self.check_expr(e.value, None)
        e.value = base
        if isinstance(base.ty, T.PtrType):
            if isinstance(base.ty.target, T.VoidType):
                self.error(e.loc, "cannot index a ptr[void]; cast it to a typed pointer first")
            e.ty = base.ty.target
        elif isinstance(base.ty, T.ArrayType):
            if not self.is_lvalue(base):
                self.error(e.loc, "cannot index this array value")
            e.ty = base.ty.elem
        else:
            self.error(e.value.loc, f"cannot index a value of type {base.ty} (only pointers and arrays)")
        e.index = [self.to_index(self.check_expr(e.index[0], None))]
        return e

    def to_index(self, v: A.Expr) -> A.Expr:
        """An index or pointer offset: any integer, made pointer-sized."""
        if isinstance(v.ty, T.LiteralIntType):
            return self.coerce(v, T.ISIZE if T.fits(v.const, T.ISIZE) else T.USIZE, "index")
        if not isinstance(v.ty, T.IntType):
            self.error(v.loc, f"an index or offset must be an integer, not {v.ty}")
        return v

    def is_lvalue(self, e: A.Expr) -> bool:
        if isinstance(e, (A.Name, A.Attribute)) and isinstance(e.sym, (LocalVar, GlobalVar)):
            return True
        if isinstance(e, A.Attribute) and isinstance(e.sym, T.StructField):
            return isinstance(e.value.ty, T.PtrType) or self.is_lvalue(e.value)
        if isinstance(e, A.Subscript):
            return isinstance(e.value.ty, T.PtrType) or self.is_lvalue(e.value)
        return False

    def check_lvalue(self, e: A.Expr) -> A.Expr:
        if not isinstance(e, (A.Name, A.Attribute, A.Subscript)):
            self.error(e.loc, "cannot assign to this expression")
        out = self.check_expr(e, None)
        if not self.is_lvalue(out):
            what = {ConstSym: "a Final constant", FuncSym: "a function"}.get(type(getattr(out, "sym", None)), "this expression")
            self.error(e.loc, f"cannot assign to {what}")
        if isinstance(out.ty, T.ArrayType):
            self.error(e.loc, f"cannot assign a whole array ({out.ty}); assign its elements")
        root = out
        while (isinstance(root, (A.Attribute, A.Subscript)) and not isinstance(getattr(root, "sym", None), GlobalVar)
               and not isinstance(root.value.ty, T.PtrType)):
            root = root.value
        sym = getattr(root, "sym", None)
        if isinstance(sym, GlobalVar) and sym.readonly:
            self.error(e.loc, f"cannot assign to '{sym.name}': it is a Final table (read-only, in .rodata)")
        return out

    # ---- operators --------------------------------------------------------
    def expr_UnaryOp(self, e: A.UnaryOp, expected) -> A.Expr:
        if e.op == "not":
            e.operand = self.check_cond(e.operand)
            e.ty = T.BOOL
            if e.operand.const is not None:
                e.const = int(not e.operand.const)
            return e
        v = self.check_expr(e.operand, expected if isinstance(expected, T.IntType) else None)
        if isinstance(v.ty, T.LiteralIntType):
            e.operand = v
            e.ty = T.LITINT
            e.const = {"-": -v.const, "+": v.const, "~": ~v.const}[e.op]
            if isinstance(expected, T.IntType) and self._literal_fits(e.const, expected):
                e.ty, e.const = expected, expected.wrap(e.const)
            return e
        if not isinstance(v.ty, T.IntType):
            self.error(e.loc, f"unary '{e.op}' needs an integer, not {v.ty}")
        e.operand, e.ty = v, v.ty
        if v.const is not None:
            e.const = v.ty.wrap({"-": -v.const, "+": v.const, "~": ~v.const}[e.op])
        return e

    def expr_BinOp(self, e: A.BinOp, expected) -> A.Expr:
        want = expected if isinstance(expected, T.IntType) else None
        left = self.check_expr(e.left, want)
        right = self.check_expr(e.right, want if e.op not in ("<<", ">>") else None)
        lt, rt = left.ty, right.ty
        # pointer arithmetic
        if isinstance(lt, T.PtrType) or isinstance(rt, T.PtrType) or isinstance(lt, T.ArrayType):
            return self.pointer_arith(e, left, right)
        if e.op in ("<<", ">>"):
            if isinstance(lt, T.LiteralIntType) and not isinstance(rt, T.LiteralIntType):
                left = self.coerce(left, T.literal_type_for(left.const), "shift")
            e.left, e.right = left, self.shift_amount(right) if not isinstance(left.ty, T.LiteralIntType) else right
            if not isinstance(left.ty, (T.IntType, T.LiteralIntType)):
                self.error(e.loc, f"'{e.op}' needs integers, not {left.ty}")
            if isinstance(left.ty, T.IntType) and right.const is not None and not 0 <= right.const < left.ty.bits:
                self.error(e.right.loc, f"shift count {right.const} is out of range for {left.ty} (0..{left.ty.bits - 1})")
            e.ty = left.ty
            return self.fold(e)
        ty = self.unify_ints(left, right, e.loc, f"'{e.op}'")
        e.left = self.coerce(left, ty, f"operand of '{e.op}'") if not isinstance(ty, T.LiteralIntType) else left
        e.right = self.coerce(right, ty, f"operand of '{e.op}'") if not isinstance(ty, T.LiteralIntType) else right
        e.ty = ty
        return self.fold(e)

    def fold(self, e: A.BinOp) -> A.Expr:
        a, b = e.left.const, e.right.const
        if a is None or b is None:
            if e.op in ("//", "%") and e.right.const == 0:
                self.error(e.right.loc, "division by zero")
            return e
        t = e.ty
        if e.op in ("//", "%") and isinstance(t, T.IntType) and t.signed and b == -1 and a == t.min:
            self.error(e.right.loc, f"{a} {e.op} -1 overflows {t} (the CPU raises #DE)")
        v = fold_binop(e.op, a, b)
        if v is None:
            self.error(e.right.loc, "division by zero" if e.op in ("//", "%") else "negative shift count")
        e.const = e.ty.wrap(v) if isinstance(e.ty, T.IntType) else v
        return e

    def shift_amount(self, v: A.Expr) -> A.Expr:
        if isinstance(v.ty, T.LiteralIntType):
            if v.const < 0:
                self.error(v.loc, "negative shift count")
            return self.coerce(v, T.U32 if v.const <= T.U32.max else T.U64, "shift count")
        if not isinstance(v.ty, T.IntType):
            self.error(v.loc, f"a shift count must be an integer, not {v.ty}")
        return v

    def unify_ints(self, left: A.Expr, right: A.Expr, loc: Loc, what: str) -> T.Type:
        lt, rt = left.ty, right.ty
        for t, side in ((lt, left), (rt, right)):
            if not isinstance(t, (T.IntType, T.LiteralIntType)):
                other = rt if side is left else lt
                self.error(side.loc, f"{what} needs integers, not {t} (other operand: {other})")
        if isinstance(lt, T.LiteralIntType) and isinstance(rt, T.LiteralIntType):
            return T.LITINT
        if isinstance(lt, T.LiteralIntType):
            return rt
        if isinstance(rt, T.LiteralIntType):
            return lt
        if T.same_int(lt, rt):
            return lt
        if self.widens(lt, rt):
            return rt
        if self.widens(rt, lt):
            return lt
        self.error(loc, f"mismatched operand types {lt} and {rt} for {what}; convert one with a cast like {lt}(x)")

    @staticmethod
    def widens(a: T.IntType, b: T.IntType) -> bool:
        """Can a value of type a become type b implicitly (value-preserving)?"""
        if a.signed == b.signed:
            return a.bits <= b.bits
        return not a.signed and b.signed and a.bits < b.bits

    def pointer_arith(self, e: A.BinOp, left: A.Expr, right: A.Expr) -> A.Expr:
        left = self.decay(left)
        right = self.decay(right)
        lt, rt = left.ty, right.ty
        if e.op == "+" and isinstance(rt, T.PtrType) and not isinstance(lt, T.PtrType):
            left, right = right, left
            lt, rt = rt, lt
        if isinstance(lt, T.PtrType) and e.op in ("+", "-") and not isinstance(rt, T.PtrType):
            e.left, e.right = left, self.to_index(right)
            e.ty = lt
            return e
        if isinstance(lt, T.PtrType) and isinstance(rt, T.PtrType) and e.op == "-":
            if not T.same_type(lt, rt):
                self.error(e.loc, f"cannot subtract pointers of different types {lt} and {rt}")
            e.left, e.right, e.ty = left, right, T.ISIZE
            return e
        self.error(e.loc, f"'{e.op}' is not defined for {lt} and {rt}")

    def decay(self, v: A.Expr) -> A.Expr:
        if isinstance(v.ty, T.ArrayType):
            if not self.is_lvalue(v):
                self.error(v.loc, "this array has no address")
            c = A.Convert(v.loc, v, "decay")
            c.ty = T.PtrType(v.ty.elem)
            return c
        return v

    def expr_Compare(self, e: A.Compare, expected) -> A.Expr:
        # Each operand is evaluated once; lowering converts it to the type of
        # each comparison it takes part in (cmp_types[i] for ops[i]).
        operands = [self.decay(self.check_expr(x, None)) for x in e.operands]
        types = []
        for i, op in enumerate(e.ops):
            a, b = operands[i], operands[i + 1]
            ty = self.compare_type(a, b, op, e.loc)
            if not isinstance(ty, T.LiteralIntType):
                self.coerce(a, ty, "comparison operand")
                self.coerce(b, ty, "comparison operand")
            types.append(ty)
        e.operands, e.cmp_types, e.ty = operands, types, T.BOOL
        if all(x.const is not None for x in operands) and all(isinstance(t, (T.IntType, T.LiteralIntType, T.BoolType)) for t in types):
            e.const = int(all(_compare(op, operands[i].const, operands[i + 1].const, types[i]) for i, op in enumerate(e.ops)))
        return e

    def compare_type(self, a: A.Expr, b: A.Expr, op: str, loc: Loc) -> T.Type:
        at, bt = a.ty, b.ty
        if isinstance(at, T.ArrayType):
            at = T.PtrType(at.elem)
        if isinstance(bt, T.ArrayType):
            bt = T.PtrType(bt.elem)
        if isinstance(at, T.BoolType) and isinstance(bt, T.BoolType):
            return T.BOOL
        ptrish = (T.PtrType, T.NullType, T.FnType)
        if isinstance(at, ptrish) or isinstance(bt, ptrish):
            if isinstance(at, T.NullType) and isinstance(bt, T.NullType):
                return T.PtrType(T.VOID)
            if isinstance(at, T.NullType):
                return bt
            if isinstance(bt, T.NullType):
                return at
            if T.same_type(at, bt):
                return at
            if isinstance(at, T.PtrType) and isinstance(bt, T.PtrType) and (
                    isinstance(at.target, T.VoidType) or isinstance(bt.target, T.VoidType)):
                return T.PtrType(T.VOID)
            self.error(loc, f"cannot compare {at} with {bt}")
        if isinstance(at, (T.IntType, T.LiteralIntType)) and isinstance(bt, (T.IntType, T.LiteralIntType)):
            wide = self.out_of_range_compare(a, b, op)
            if wide is not None:
                return wide
            for x in (a, b):
                self.warn_if_wrapped(x, "this comparison")
            if isinstance(at, T.IntType) and isinstance(bt, T.IntType) and at.signed != bt.signed and at.bits == bt.bits:
                self.error(loc, f"comparison of {at} with {bt} mixes signed and unsigned; cast one side")
            return self.unify_ints(a, b, loc, f"'{op}'")
        self.error(loc, f"cannot compare {at} with {bt}")

    def out_of_range_compare(self, a: A.Expr, b: A.Expr, op: str) -> T.Type | None:
        """`x < 256` with x: u8 has one result for every x: a warning with
        the reason, and the comparison done in i64 so the result is right."""
        for var, lit, left in ((a, b, True), (b, a, False)):
            t = var.ty
            if (isinstance(t, T.IntType) and isinstance(lit.ty, T.LiteralIntType) and t.bits < 64
                    and not self._literal_fits(lit.const, t)):
                always = _compare(op, t.min, lit.const, T.I64) if left else _compare(op, lit.const, t.min, T.I64)
                self.sink.warning(lit.loc, f"comparison is always {always}: {lit.const} is outside the range "
                                  f"of {t} ({t.min}..{t.max})")
                return T.I64
        return None

    def warn_if_wrapped(self, v: A.Expr, where: str) -> None:
        """kpy computes u8/u16 arithmetic in 8/16 bits (C would promote to
        int): a narrow sum, difference, product or left shift that is then
        compared or widened may have wrapped where C's would not."""
        while isinstance(v, A.Convert) and v.how in ("retype",):
            v = v.value
        t = v.ty
        if (isinstance(v, A.BinOp) and v.op in ("+", "-", "*", "<<") and v.const is None
                and isinstance(t, T.IntType) and t.bits < 32 and not getattr(v, "warned", False)):
            v.warned = True     # once per expression (a comparison also coerces its operands)
            self.sink.warning(v.loc, f"'{v.op}' is computed in {t} and may wrap before {where} (kpy does not "
                              f"promote {t} to int as C does); widen an operand first, e.g. u32(a) {v.op} b")

    def expr_BoolOp(self, e: A.BoolOp, expected) -> A.Expr:
        e.values = [self.check_cond(v) for v in e.values]
        e.ty = T.BOOL
        consts = [v.const for v in e.values]
        if all(c is not None for c in consts):
            e.const = int(all(consts) if e.op == "and" else any(consts))
        return e

    def expr_IfExp(self, e: A.IfExp, expected) -> A.Expr:
        e.test = self.check_cond(e.test)
        body = self.check_expr(e.body, expected)
        orelse = self.check_expr(e.orelse, expected)
        ty = self.common_type(body, orelse, e.loc)
        e.body = self.coerce(body, ty, "conditional expression") if not isinstance(ty, T.LiteralIntType) else body
        e.orelse = self.coerce(orelse, ty, "conditional expression") if not isinstance(ty, T.LiteralIntType) else orelse
        e.ty = ty
        if e.test.const is not None and e.body.const is not None and e.orelse.const is not None:
            e.const = e.body.const if e.test.const else e.orelse.const
        return e

    def common_type(self, a: A.Expr, b: A.Expr, loc: Loc) -> T.Type:
        at, bt = a.ty, b.ty
        if isinstance(at, (T.ArrayType, T.StructType)) or isinstance(bt, (T.ArrayType, T.StructType)):
            self.error(loc, f"a conditional expression cannot choose between {at} values; choose between pointers")
        if isinstance(at, (T.IntType, T.LiteralIntType)) and isinstance(bt, (T.IntType, T.LiteralIntType)):
            return self.unify_ints(a, b, loc, "the two branches")
        if isinstance(at, T.NullType) and isinstance(bt, (T.PtrType, T.FnType)):
            return bt
        if isinstance(bt, T.NullType) and isinstance(at, (T.PtrType, T.FnType)):
            return at
        if T.same_type(at, bt):
            return at
        self.error(loc, f"the branches have different types: {at} and {bt}")

    # ---- conditions and conversions -----------------------------------------
    def check_cond(self, e: A.Expr) -> A.Expr:
        v = self.check_expr(e, None)
        if isinstance(v.ty, T.LiteralIntType):
            v = self.coerce(v, T.literal_type_for(v.const), "condition")
        if not isinstance(v.ty, (T.BoolType, T.IntType, T.PtrType, T.FnType, T.NullType)):
            self.error(e.loc, f"a condition must be a bool, an integer or a pointer, not {v.ty}")
        if isinstance(v.ty, T.NullType):
            v.const = 0
        return v

    def coerce(self, v: A.Expr, to: T.Type, what: str) -> A.Expr:
        """Implicitly convert v to `to`, or report `what` with both types."""
        frm = v.ty
        if isinstance(frm, T.IntType) and isinstance(to, T.IntType) and frm is to:
            return v
        if T.same_type(frm, to) and not isinstance(frm, T.LiteralIntType):
            if isinstance(frm, T.IntType) and frm is not to:
                return self._convert(v, to, "retype")
            return v
        if isinstance(frm, T.LiteralIntType):
            if isinstance(to, T.IntType):
                if not self._literal_fits(v.const, to):
                    self.error(v.loc, f"constant {v.const} does not fit in {to}")
                return self._const_as(v, to, to.wrap(v.const))
            self.error(v.loc, f"type mismatch in {what}: expected {to}, got an integer constant"
                       + ("; write None for a null pointer or cast(...) an address" if isinstance(to, (T.PtrType, T.FnType)) else ""))
        if isinstance(frm, T.IntType) and isinstance(to, T.IntType):
            if self.widens(frm, to):
                self.warn_if_wrapped(v, f"it is widened to {to}")
                return self._convert(v, to, "int")
            if v.const is not None and T.fits(v.const, to):
                return self._const_as(v, to, v.const)
            self.error(v.loc, f"type mismatch in {what}: expected {to}, got {frm}; convert explicitly with {to}(...)")
        if isinstance(frm, T.NullType) and isinstance(to, (T.PtrType, T.FnType)):
            return self._convert(v, to, "null")
        if isinstance(frm, T.ArrayType) and isinstance(to, T.PtrType) and (
                T.same_type(frm.elem, to.target) or isinstance(to.target, T.VoidType)):
            d = self.decay(v)
            return self._convert(d, to, "ptr") if not T.same_type(d.ty, to) else d
        if isinstance(frm, T.PtrType) and isinstance(to, T.PtrType):
            if isinstance(frm.target, T.VoidType) or isinstance(to.target, T.VoidType) or T.same_type(frm.target, to.target):
                if not frm.volatile or to.volatile or isinstance(to.target, T.VoidType):
                    return self._convert(v, to, "ptr")
        self.error(v.loc, f"type mismatch in {what}: expected {to}, got {frm}")

    def coerce_wrap(self, v: A.Expr, to: T.IntType) -> A.Expr:
        return self._const_as(v, to, to.wrap(v.const))

    def _const_as(self, v: A.Expr, to: T.Type, value: int) -> A.Expr:
        c = A.Convert(v.loc, v, "const")
        c.ty, c.const = to, value
        return c

    def _convert(self, v: A.Expr, to: T.Type, how: str) -> A.Expr:
        c = A.Convert(v.loc, v, how)
        c.ty = to
        if v.const is not None and isinstance(to, T.IntType):
            c.const = to.wrap(v.const)
        return c

    # ---- calls ----------------------------------------------------------------
    def expr_Call(self, e: A.Call, expected) -> A.Expr:
        f = e.func
        if isinstance(f, A.Name):
            sym = self.resolve_name(f)
            if isinstance(sym, BuiltinSym):
                from .builtins import check_builtin
                return check_builtin(self, e, sym.name, expected)
        t = self.try_type(f)
        if t is not None:
            return self.conversion_call(e, t)
        if isinstance(f, A.Subscript) and isinstance(f.value, A.Name) and f.value.id == "Final":
            self.error(f.loc, "Final is only an annotation of module-level constants")
        fn = self.check_expr(f, None)
        e.func = fn
        if not isinstance(fn.ty, T.FnType):
            self.error(f.loc, f"'{_describe(f)}' is not callable (it is {fn.ty})")
        direct = isinstance(fn, (A.Name, A.Attribute)) and isinstance(getattr(fn, "sym", None), FuncSym)
        if direct and fn.sym.attrs.interrupt:
            self.error(e.loc, f"'{fn.sym.name}' is an @interrupt handler: the CPU enters it, code cannot call it")
        e.kind = "direct" if direct else "indirect"
        e.args = self.call_args(e, fn.ty, _describe(f))
        e.ty = fn.ty.ret
        return e

    def call_args(self, e: A.Call, ft: T.FnType, name: str) -> list[A.Expr]:
        if e.keywords:
            self.error(e.keywords[0].loc, "kpy calls take positional arguments only")
        n = len(ft.params)
        if len(e.args) < n or (len(e.args) > n and not ft.varargs):
            self.error(e.loc, f"'{name}' takes {n}{' or more' if ft.varargs else ''} argument{'s' if n != 1 else ''}, "
                       f"but {len(e.args)} {'were' if len(e.args) != 1 else 'was'} given")
        out = []
        for i, a in enumerate(e.args):
            try:
                if i < n:
                    out.append(self.coerce(self.check_expr(a, ft.params[i]), ft.params[i], f"argument {i + 1} of '{name}'"))
                else:
                    out.append(self.promote_vararg(self.check_expr(a, None)))
            except Abort:
                out.append(None)
        if any(x is None for x in out):
            raise Abort()
        return out

    def promote_vararg(self, v: A.Expr) -> A.Expr:
        t = v.ty
        if isinstance(t, T.LiteralIntType):
            return self.coerce(v, T.literal_type_for(v.const), "variadic argument")
        if isinstance(t, T.BoolType):
            return self._convert(v, T.I32, "bool-int")
        if isinstance(t, T.IntType) and t.bits < 32:
            return self._convert(v, T.I32 if t.signed else T.U32, "int")
        if isinstance(t, T.ArrayType):
            return self.decay(v)
        if isinstance(t, T.NullType):
            return self._convert(v, T.PtrType(T.VOID), "null")
        if isinstance(t, (T.StructType,)):
            self.error(v.loc, f"cannot pass struct {t} as a variadic argument; pass a pointer")
        if isinstance(t, T.VoidType):
            self.error(v.loc, "this expression has no value")
        return v

    def conversion_call(self, e: A.Call, t: T.Type) -> A.Expr:
        if isinstance(t, T.StructType):
            return self.struct_literal(e, t)
        if e.keywords or len(e.args) != 1:
            self.error(e.loc, f"{t}(x) takes one argument")
        return self.explicit_cast(e, t, e.args[0])

    def struct_literal(self, e: A.Call, t: T.StructType) -> A.Expr:
        """`S(a=1, b=2)`: named fields, the rest zero. Only initialises a
        struct variable, element or global (structs are not passed by value)."""
        if e.args:
            self.error(e.args[0].loc, f"a struct literal names its fields: {t}({', '.join(f.name + '=...' for f in t.fields[:2])})")
        values = []
        seen = set()
        for kw in e.keywords:
            f = t.field(kw.name)
            if f is None:
                hint = nearest(kw.name, [x.name for x in t.fields])
                self.error(kw.loc, f"struct '{t}' has no field '{kw.name}'" + (f"; did you mean '{hint}'?" if hint else ""))
            if f.name in seen:
                self.error(kw.loc, f"field '{f.name}' is given twice")
            seen.add(f.name)
            if t.union and len(seen) > 1:
                self.error(kw.loc, f"a union literal sets one member; '{t}' already has one given")
            if isinstance(f.type, T.ArrayType) and isinstance(kw.value, (A.ListLit, A.StrLit)):
                v = self.array_init(kw.value, f.type, f.name)
            else:
                v = self.struct_value(self.check_expr(kw.value, f.type), f.type, f"field '{f.name}' of {t}")
            values.append((f, v))
        e.kind, e.info, e.ty, e.args, e.keywords = "struct_lit", values, t, [], []
        return e

    def struct_value(self, v: A.Expr, ty: T.Type, what: str) -> A.Expr:
        """Coerce, and for struct types insist on a variable or a literal."""
        v = self.coerce(v, ty, what)
        if isinstance(ty, T.StructType) and not (self.is_lvalue(v) or (isinstance(v, A.Call) and v.kind == "struct_lit")):
            self.error(v.loc, f"a {ty} value here must be a variable, field, element or {ty}(...) literal")
        return v

    def explicit_cast(self, e: A.Call, t: T.Type, arg: A.Expr) -> A.Expr:
        # The argument is typed on its own: u64(0 - x) with x: i64 is i64 arithmetic.
        v = self.check_expr(arg, None)
        if isinstance(v.ty, T.ArrayType):
            v = self.decay(v)
        frm = v.ty
        e.kind, e.ty, e.args = "cast", t, [v]
        ok = False
        if isinstance(t, T.BoolType):
            ok = isinstance(frm, (T.IntType, T.LiteralIntType, T.BoolType, T.PtrType, T.NullType))
            if v.const is not None and not isinstance(frm, (T.PtrType,)):
                e.const = int(bool(v.const))
        elif isinstance(t, T.IntType):
            ok = isinstance(frm, (T.IntType, T.LiteralIntType, T.BoolType, T.PtrType, T.FnType, T.NullType))
            if v.const is not None and isinstance(frm, (T.IntType, T.LiteralIntType, T.BoolType)):
                e.const = t.wrap(v.const)
        elif isinstance(t, (T.PtrType, T.FnType)):
            ok = isinstance(frm, (T.IntType, T.LiteralIntType, T.PtrType, T.FnType, T.NullType))
            if isinstance(frm, T.LiteralIntType):
                e.args = [self.coerce(v, T.U32 if v.const >= 0 else T.I32, "cast")]
        if not ok:
            self.error(e.loc, f"cannot convert {frm} to {t}")
        return e


def _compare(op: str, a: int, b: int, t: T.Type) -> bool:
    return {"<": a < b, ">": a > b, "==": a == b, "!=": a != b, "<=": a <= b, ">=": a >= b}[op]


def check_global(ck: Checker, sym: GlobalVar) -> None:
    """Type-check a global's initialiser (constness is checked in lowering)."""
    ck.r.resolve_global(sym)
    decl = sym.decl
    if sym.is_extern:
        call = decl.value
        if call.args or call.keywords:
            ck.error(call.loc, "extern() takes no arguments")
        return
    if decl.value is None:
        if sym.readonly:
            ck.error(decl.loc, f"Final table '{sym.name}' needs a value")
        return
    ty = sym.ty
    v = decl.value
    if ty.size > MAX_INITIALISED_BYTES:
        # Bounded before lowering builds the constant element by element.
        ck.error(v.loc, f"an initialised global of {ty.size} bytes is too big (limit {MAX_INITIALISED_BYTES}); "
                        "leave it zeroed (it then takes no space in the image)")
    if isinstance(ty, T.ArrayType) and isinstance(v, (A.ListLit, A.StrLit)):
        sym.init = ck.array_init(v, ty, sym.name)
        return
    if isinstance(ty, T.ArrayType):
        ck.error(v.loc, f"a global {ty} is initialised with a list or left zeroed")
    sym.init = ck.struct_value(ck.check_expr(v, ty), ty, f"initialiser of '{sym.name}'")
