"""Resolving top-level declarations: type expressions, struct layouts,
Final constants (folded), global variable types and function signatures.

Resolution is lazy and memoised per symbol, so declarations may refer to
each other in any order (and across modules); true cycles are reported.
"""
from __future__ import annotations

from . import astnodes as A
from . import typesys as T
from .diagnostics import Abort, DiagnosticSink, Loc
from .modules import ModuleInfo, PackageSym, Program
from .suggest import nearest
from .symbols import BuiltinSym, ConstSym, FuncAttrs, FuncSym, GlobalVar, LocalVar, ModuleSym, Symbol, TypeSym

BUILTIN_FUNCS = ("asm", "global_asm", "cast", "addr", "sizeof", "offsetof", "alignof", "ord",
                 "va_arg", "volatile_load", "volatile_store", "unreachable", "range", "extern")
TYPE_CONSTRUCTORS = ("ptr", "vptr", "array", "fn", "Final", "Struct", "Union")


def _interrupt_frame() -> T.StructType:
    st = T.StructType("InterruptFrame", "builtins")
    st.layout([("eip", T.U32), ("cs", T.U32), ("eflags", T.U32)])
    return st


INTERRUPT_FRAME = _interrupt_frame()
_LOC = Loc("<builtin>", 1, 1)
BUILTIN_SCOPE: dict[str, Symbol] = {}
for _n, _t in T.INT_TYPES.items():
    BUILTIN_SCOPE[_n] = TypeSym(_n, _LOC, _t, state="done")
BUILTIN_SCOPE["bool"] = TypeSym("bool", _LOC, T.BOOL, state="done")
BUILTIN_SCOPE["void"] = TypeSym("void", _LOC, T.VOID, state="done")
BUILTIN_SCOPE["VaList"] = TypeSym("VaList", _LOC, T.VALIST, state="done")
BUILTIN_SCOPE["InterruptFrame"] = TypeSym("InterruptFrame", _LOC, INTERRUPT_FRAME, state="done")
for _n in BUILTIN_FUNCS + TYPE_CONSTRUCTORS:
    BUILTIN_SCOPE[_n] = BuiltinSym(_n, _LOC)
FLOAT_NAMES = ("float", "f32", "f64", "double")


class Resolver:
    """Answers questions about top-level declarations of a Program."""

    def __init__(self, program: Program, sink: DiagnosticSink):
        self.program = program
        self.sink = sink
        self.checker_factory = None        # set by the checker (to check const expressions)

    def error(self, loc: Loc, msg: str):
        self.sink.error(loc, msg)
        raise Abort()

    # ---- name lookup ----------------------------------------------------
    def lookup_global(self, module: ModuleInfo, name: str) -> Symbol | None:
        sym = module.scope.get(name)
        if sym is None:
            sym = BUILTIN_SCOPE.get(name)
        return sym

    def unknown_name(self, loc: Loc, name: str, candidates) -> None:
        if name in FLOAT_NAMES:
            self.error(loc, "floating-point is not supported in kpy")
        home = self.defining_module(name)
        if home:
            self.error(loc, f"unknown name '{name}'; it is defined in module '{home}': from {home} import {name}")
        hint = nearest(name, candidates)
        self.error(loc, f"unknown name '{name}'" + (f"; did you mean '{hint}'?" if hint else ""))

    def defining_module(self, name: str) -> str | None:
        """A module under the source roots with a top-level `def name(` or
        `name:` (a cheap text search, only on the error path)."""
        import re
        pattern = re.compile(rf"^(?:def\s+{re.escape(name)}\s*\(|{re.escape(name)}\s*:|class\s+{re.escape(name)}\b)", re.M)
        for root in self.program.roots:
            for path in sorted(root.rglob("*.kpy")):
                try:
                    if pattern.search(path.read_text(encoding="utf-8")):
                        return ".".join(path.relative_to(root).with_suffix("").parts)
                except (OSError, UnicodeDecodeError):
                    continue
        return None

    def module_member(self, modsym: Symbol, attr: str, loc: Loc) -> Symbol:
        if isinstance(modsym, PackageSym):
            sym = modsym.children.get(attr)
            if sym is None:
                self.error(loc, f"package '{modsym.name}' has no imported module '{attr}'")
            return sym
        mod = modsym.module
        sym = mod.symbols.get(attr)
        if sym is None:
            hint = nearest(attr, mod.symbols.keys())
            self.error(loc, f"module '{mod.name}' has no '{attr}'" + (f"; did you mean '{hint}'?" if hint else ""))
        return sym

    # ---- type expressions -------------------------------------------------
    def resolve_type(self, e: A.Expr, module: ModuleInfo, allow_void: bool = False) -> T.Type:
        t = self._type(e, module)
        if isinstance(t, T.VoidType) and not allow_void:
            self.error(e.loc, "'None' is only a return type (use ptr[void] for an untyped pointer)")
        return t

    def type_symbol(self, e: A.Expr, module: ModuleInfo) -> Symbol | None:
        """The symbol a Name/Attribute refers to, if it can be found."""
        if isinstance(e, A.Name):
            return self.lookup_global(module, e.id)
        if isinstance(e, A.Attribute):
            base = self.type_symbol(e.value, module)
            if isinstance(base, (ModuleSym, PackageSym)):
                return self.module_member(base, e.attr, e.attr_loc)
        return None

    def _type(self, e: A.Expr, module: ModuleInfo) -> T.Type:
        if isinstance(e, A.NoneLit):
            return T.VOID
        if isinstance(e, (A.Name, A.Attribute)):
            sym = self.type_symbol(e, module)
            if sym is None:
                name = e.id if isinstance(e, A.Name) else e.attr
                cands = [k for k, v in {**BUILTIN_SCOPE, **module.scope}.items() if isinstance(v, TypeSym)]
                if isinstance(e, A.Name) and name in module.unresolved:
                    raise Abort()       # its import's error is already reported
                self.unknown_name(e.loc, name, cands)
            if isinstance(sym, TypeSym):
                if isinstance(sym.ty, T.StructType):
                    self.complete_struct(sym)
                return sym.ty
            self.error(e.loc, f"'{_describe(e)}' is not a type")
        if isinstance(e, A.Subscript) and isinstance(e.value, A.Name):
            kind = e.value.id
            sym = self.lookup_global(module, kind)
            if isinstance(sym, BuiltinSym):
                return self._constructed_type(kind, e, module)
        if isinstance(e, A.StrLit):
            self.error(e.loc, "string type annotations (forward references) are not needed in kpy; use the name")
        self.error(e.loc, f"'{_describe(e)}' is not a type")

    def _constructed_type(self, kind: str, e: A.Subscript, module: ModuleInfo) -> T.Type:
        args = e.index
        if kind in ("ptr", "vptr"):
            if len(args) != 1:
                self.error(e.loc, f"{kind}[T] takes one type")
            target = self._pointee(args[0], module)
            return T.PtrType(target, volatile=(kind == "vptr"))
        if kind == "array":
            if len(args) != 2:
                self.error(e.loc, "array[T, N] takes a type and a length")
            elem = self.resolve_type(args[0], module)
            self.require_complete(elem, args[0].loc)
            n = self.const_int(args[1], module)
            if n <= 0:
                self.error(args[1].loc, f"array length must be positive, not {n}")
            if elem.size * n >= 1 << 32:
                self.error(args[1].loc, f"array of {n} x {elem} does not fit in the 32-bit address space")
            return T.ArrayType(elem, n)
        if kind == "fn":
            if len(args) != 2 or not isinstance(args[0], A.ListLit):
                self.error(e.loc, "a function pointer type is fn[[A, B], R]")
            params = tuple(self.value_type(a, module) for a in args[0].elts)
            ret = self.resolve_type(args[1], module, allow_void=True)
            return T.FnType(params, ret)
        self.error(e.loc, f"'{kind}[...]' is not a type here")

    def _pointee(self, e: A.Expr, module: ModuleInfo) -> T.Type:
        if isinstance(e, A.Name) and e.id == "void":
            return T.VOID
        t = self._type(e, module)
        return t   # None as pointee also means void

    def value_type(self, e: A.Expr, module: ModuleInfo) -> T.Type:
        """A type that values (params, locals) can have."""
        t = self.resolve_type(e, module)
        if isinstance(t, T.StructType):
            self.error(e.loc, f"struct '{t}' cannot be passed by value; use ptr[{t}]")
        if isinstance(t, T.ArrayType):
            self.error(e.loc, f"array '{t}' cannot be passed by value; use ptr[{t.elem}]")
        return t

    def require_complete(self, t: T.Type, loc: Loc) -> None:
        if isinstance(t, T.StructType) and not t.complete:
            self.error(loc, f"struct '{t}' contains itself (use a pointer)")

    # ---- structs ----------------------------------------------------------
    def complete_struct(self, sym: TypeSym) -> None:
        if sym.state == "done":
            return
        if sym.state == "busy":
            return          # a pointer to itself is fine; by-value containment caught in require_complete
        sym.state = "busy"
        decl: A.ClassDef = sym.decl
        packed = False
        union = any(isinstance(b, A.Name) and b.id == "Union" for b in decl.bases)
        ok_base = union or any(isinstance(b, A.Name) and b.id == "Struct" for b in decl.bases)
        if not ok_base or len(decl.bases) != 1:
            self.sink.error(decl.loc, f"class '{decl.name}' must derive from Struct or Union only: "
                            f"class {decl.name}(Struct):")
        sym.ty.union = union
        for kw in decl.keywords:
            if kw.name == "packed" and isinstance(kw.value, A.BoolLit) and not union:
                packed = kw.value.value
            else:
                self.sink.error(kw.loc, "the only struct option is packed=True")
        members = []
        seen = set()
        for f in decl.fields:
            try:
                ft = self.resolve_type(f.annotation, sym.module)
                self.require_complete(ft, f.annotation.loc)
            except Abort:
                ft = T.U8
            if f.target.id in seen:
                self.sink.error(f.loc, f"duplicate field '{f.target.id}' in struct '{decl.name}'")
            seen.add(f.target.id)
            members.append((f.target.id, ft))
        sym.ty.packed = packed
        sym.ty.layout(members)
        sym.state = "done"

    # ---- constants ----------------------------------------------------------
    def const_int(self, e: A.Expr, module: ModuleInfo) -> int:
        checker = self.checker_factory(module)
        checked = checker.check_expr(e, None)
        if checked.const is None or not isinstance(checked.const, int) or isinstance(checked.const, bool):
            self.error(e.loc, "expected an integer constant expression")
        return checked.const

    def resolve_const(self, sym: ConstSym) -> None:
        if sym.state == "done":
            return
        if sym.state == "busy":
            self.error(sym.loc, f"constant '{sym.name}' is defined in terms of itself")
        if sym.state == "failed":
            raise Abort()
        sym.state = "busy"
        try:
            decl: A.AnnAssign = sym.decl
            want = None
            if isinstance(decl.annotation, A.Subscript):
                if len(decl.annotation.index) != 1:
                    self.error(decl.annotation.loc, "Final[T] takes one type")
                want = self.resolve_type(decl.annotation.index[0], sym.module)
                if not isinstance(want, (T.IntType, T.BoolType)):
                    self.error(decl.annotation.loc, f"a Final constant must be an integer or bool, not {want}")
            if decl.value is None:
                self.error(decl.loc, f"constant '{sym.name}' needs a value")
            checker = self.checker_factory(sym.module)
            v = checker.check_expr(decl.value, want)
            if want is not None:
                v = checker.coerce(v, want, "constant")
            if v.const is None:
                self.error(decl.value.loc, f"the value of Final constant '{sym.name}' is not a compile-time constant")
            sym.ty, sym.value = v.ty, v.const
            sym.state = "done"
        except Abort:
            sym.state = "failed"
            raise

    # ---- globals ------------------------------------------------------------
    def resolve_global(self, sym: GlobalVar) -> None:
        if sym.ty is not None:
            return
        decl: A.AnnAssign = sym.decl
        ty = self.resolve_type(decl.annotation, sym.module)
        self.require_complete(ty, decl.annotation.loc)
        sym.ty = ty
        sym.link_name = sym.name
        v = decl.value
        if isinstance(v, A.Call) and isinstance(v.func, A.Name) and v.func.id == "extern":
            sym.is_extern = True

    # ---- functions ------------------------------------------------------------
    def resolve_function(self, sym: FuncSym) -> None:
        if sym.state == "done":
            return
        if sym.state == "failed":
            raise Abort()
        sym.state = "busy"
        try:
            self._signature(sym)
            sym.state = "done"
        except Abort:
            sym.state = "failed"
            raise

    def _signature(self, sym: FuncSym) -> None:
        d: A.FunctionDef = sym.decl
        m = sym.module
        sym.attrs = self.decorators(d)
        params = []
        for i, p in enumerate(d.params):
            if p.annotation is None:
                self.error(p.loc, f"parameter '{p.name}' needs a type annotation")
            if sym.attrs.interrupt and i == 0:
                t = self.resolve_type(p.annotation, m)
                if not (isinstance(t, T.PtrType) and t.target is INTERRUPT_FRAME):
                    self.error(p.annotation.loc, f"an @interrupt handler's first parameter is ptr[InterruptFrame], not {t}")
                # LLVM sees the frame as the handler's own (byval) copy and would
                # drop stores to it; they must reach the stack `iret` pops.
                t = T.PtrType(INTERRUPT_FRAME, volatile=True)
            else:
                t = self.value_type(p.annotation, m)
            params.append(LocalVar(p.name, p.loc, t, is_param=True))
        if d.returns is None:
            self.error(d.loc, f"function '{d.name}' needs a return annotation (-> None for none)")
        ret = self.resolve_type(d.returns, m, allow_void=True)
        if isinstance(ret, (T.StructType, T.ArrayType)):
            self.error(d.returns.loc, f"functions cannot return {ret} by value; return a pointer")
        varargs = None
        if d.varargs is not None:
            if d.varargs.annotation is None or self.resolve_type(d.varargs.annotation, m) is not T.VALIST:
                self.error(d.varargs.loc, "variadic parameters are written `*args: VaList`")
            varargs = LocalVar(d.varargs.name, d.varargs.loc, T.VALIST, is_param=True)
        sym.params, sym.varargs = params, varargs
        sym.ty = T.FnType(tuple(p.ty for p in params), ret, varargs is not None)
        sym.link_name = sym.attrs.export or sym.name
        a = sym.attrs
        if a.interrupt:
            if ret is not T.VOID or not 1 <= len(params) <= 2 or varargs:
                self.error(d.loc, "an @interrupt handler is def h(frame: ptr[InterruptFrame]) -> None, "
                           "optionally with a second parameter `code: u32`")
            if len(params) == 2 and not (isinstance(params[1].ty, T.IntType) and params[1].ty.bits == 32):
                self.error(d.params[1].loc, f"an interrupt error code is u32, not {params[1].ty}")
        if a.extern and not d.is_stub:
            self.error(d.loc, f"@extern function '{d.name}' must have the body `...`")
        if d.is_stub and not a.extern:
            self.error(d.loc, f"function '{d.name}' has no body; mark it @extern if it is defined elsewhere")
        if a.constructor and (params or ret is not T.VOID):
            self.error(d.loc, "a @constructor takes no parameters and returns None")

    def decorators(self, d: A.FunctionDef) -> FuncAttrs:
        a = FuncAttrs()
        for deco in d.decorators:
            name, args = deco.name, deco.args or []
            flag_names = {"naked", "interrupt", "noinline", "extern", "static", "constructor", "no_builtins"}
            if name in flag_names:
                if args:
                    self.error(deco.loc, f"@{name} takes no arguments")
                setattr(a, name, True)
            elif name in ("section", "export"):
                if len(args) != 1 or not isinstance(args[0], A.StrLit) or not args[0].value:
                    self.error(deco.loc, f'@{name} takes one string: @{name}("...")')
                value = args[0].value.decode("utf-8", "replace")
                problem = _bad_symbol_or_section(name, value)
                if problem:
                    self.error(deco.loc, problem)
                setattr(a, name, value)
            elif name == "align":
                if len(args) != 1 or not isinstance(args[0], A.IntLit) or args[0].value <= 0 or args[0].value & (args[0].value - 1):
                    self.error(deco.loc, "@align takes one power of two: @align(16)")
                a.align = args[0].value
            else:
                known = sorted(flag_names | {"section", "export", "align"})
                hint = nearest(name, known)
                self.error(deco.loc, f"unknown decorator '@{name}'" + (f"; did you mean '@{hint}'?" if hint else ""))
        if a.static and a.export:
            self.error(d.loc, "@static and @export contradict each other")
        return a


# Sections whose contents the object format says are zero-filled: code placed
# there cannot be emitted (LLVM aborts rather than reporting it).
_NOBITS_SECTIONS = (".bss", ".tbss", ".sbss")


def _bad_symbol_or_section(kind: str, value: str):
    """What LLVM would reject (often by aborting) in an @export or @section
    name of a function, checked here so the error has a kpy location."""
    if "\0" in value or any(ord(c) < 0x20 for c in value):
        return f"@{kind} name {value!r} contains a NUL or control character"
    if kind == "export" and value.startswith("llvm."):
        return f"@export name '{value}' is reserved for LLVM intrinsics (names starting 'llvm.')"
    if kind == "section" and any(value == s or value.startswith(s + ".") for s in _NOBITS_SECTIONS):
        return f"@section('{value}') holds only zero bytes; a function cannot be placed there"
    return None


def _describe(e: A.Expr) -> str:
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Attribute):
        return f"{_describe(e.value)}.{e.attr}"
    if isinstance(e, A.IntLit):
        return str(e.value)
    if isinstance(e, A.Subscript):
        return f"{_describe(e.value)}[...]"
    return type(e).__name__.lower()
