"""Type rules of kpy's builtin functions (asm, cast, addr, sizeof, ...).

Each check_* sets `call.kind` (what lowering must do) and `call.info`
(the resolved pieces) and returns the checked call.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import astnodes as A
from . import typesys as T
from .symbols import FuncSym


@dataclass
class AsmOperand:
    constraint: str
    expr: A.Expr          # value (inputs), lvalue (outputs)
    indirect: bool        # "=*m"/"*m": the operand is an address
    elem_type: T.Type     # the type in memory (for indirect) or of the value


@dataclass
class AsmInfo:
    template: str
    result: tuple[str, T.Type] | None
    outputs: list[AsmOperand]
    inputs: list[AsmOperand]
    clobbers: list[str]
    volatile: bool


def check_builtin(ck, e: A.Call, name: str, expected) -> A.Expr:
    fn = globals().get("check_" + name)
    if fn is None:
        hint = {"range": "range() is only for `for` loops",
                "global_asm": "global_asm(...) belongs at module level",
                "extern": "extern() is only the initialiser of an external global: `x: u32 = extern()`",
                "Final": "Final is an annotation of module-level constants",
                "Struct": "Struct is the base of struct classes"}.get(name, f"'{name}' cannot be called")
        ck.error(e.loc, hint)
    e.kind = name
    return fn(ck, e, expected)


def _nargs(ck, e: A.Call, n: int, spelling: str) -> None:
    if len(e.args) != n or e.keywords:
        ck.error(e.loc, f"usage: {spelling}")


def _type_arg(ck, e: A.Expr) -> T.Type:
    t = ck.try_type(e)
    if t is None:
        if isinstance(e, A.NoneLit):
            return T.VOID
        ck.error(e.loc, f"expected a type, got '{_short(e)}'")
    return t


def _short(e) -> str:
    from .declarations import _describe
    return _describe(e)


def check_cast(ck, e: A.Call, expected):
    _nargs(ck, e, 2, "cast(T, value)")
    t = _type_arg(ck, e.args[0])
    if not isinstance(t, (T.IntType, T.PtrType, T.FnType, T.BoolType)):
        ck.error(e.args[0].loc, f"cast() converts to integer, pointer or fn types, not {t}")
    return ck.explicit_cast(e, t, e.args[1])


def check_addr(ck, e: A.Call, expected):
    _nargs(ck, e, 1, "addr(variable)")
    target = e.args[0]
    if isinstance(target, (A.Name, A.Attribute)):
        sym = ck.symbol_of(target) if isinstance(target, A.Name) or ck._is_module_path(target.value) else None
        if isinstance(sym, FuncSym):
            v = ck.check_expr(target, None)
            e.args, e.ty, e.kind = [v], T.PtrType(T.VOID), "addr_fn"
            return e
    v = ck.check_expr(target, None)
    if not ck.is_lvalue(v):
        ck.error(target.loc, "addr() needs a variable, field or element")
    e.args = [v]
    e.ty = T.PtrType(v.ty)
    return e


def _size_query(ck, e: A.Call, what: str):
    _nargs(ck, e, 1, f"{what}(T)")
    t = ck.try_type(e.args[0])
    if t is None and isinstance(e.args[0], A.NoneLit):
        t = T.VOID
    if t is None:
        # sizeof(expr), as C: the type of the expression, which is not evaluated.
        v = ck.check_expr(e.args[0], None)
        t = v.ty
        if isinstance(t, T.LiteralIntType):
            ck.error(e.args[0].loc, f"{what} of an untyped integer constant; give a type: {what}(u32)")
        if isinstance(t, T.FnType) and isinstance(getattr(v, "sym", None), FuncSym):
            ck.error(e.args[0].loc, f"{what} of a function; a function pointer is {what}(fn[[...], ...])")
    if isinstance(t, T.VoidType):
        ck.error(e.args[0].loc, f"{what}(None) is meaningless")
    e.ty = T.USIZE
    e.const = t.size if what == "sizeof" else t.align
    e.kind = "const"
    return e


def check_sizeof(ck, e, expected):
    return _size_query(ck, e, "sizeof")


def check_alignof(ck, e, expected):
    return _size_query(ck, e, "alignof")


def check_offsetof(ck, e: A.Call, expected):
    """offsetof(S, f), offsetof(S, a.b), offsetof(S, arr[3]): C's member designators."""
    _nargs(ck, e, 2, "offsetof(Struct, field)")
    t = _type_arg(ck, e.args[0])
    if not isinstance(t, T.StructType):
        ck.error(e.args[0].loc, f"offsetof needs a struct type, not {t}")
    off, _ = _designator(ck, t, e.args[1])
    e.ty, e.const, e.kind = T.USIZE, off, "const"
    return e


def _designator(ck, t: T.StructType, d: A.Expr) -> tuple[int, T.Type]:
    """(byte offset, type) of a member designator inside struct t."""
    if isinstance(d, A.Name):
        return _member(ck, t, d.id, d.loc, 0)
    if isinstance(d, A.Attribute):
        off, inner = _designator(ck, t, d.value)
        if not isinstance(inner, T.StructType):
            ck.error(d.attr_loc, f"'{d.attr}': {inner} is not a struct")
        return _member(ck, inner, d.attr, d.attr_loc, off)
    if isinstance(d, A.Subscript) and len(d.index) == 1:
        off, inner = _designator(ck, t, d.value)
        if not isinstance(inner, T.ArrayType):
            ck.error(d.loc, f"cannot index {inner} in offsetof")
        i = ck.check_expr(d.index[0], None)
        if i.const is None or not 0 <= i.const < inner.count:
            ck.error(d.index[0].loc, f"offsetof needs a constant index in 0..{inner.count - 1}")
        return off + i.const * inner.elem.size, inner.elem
    ck.error(d.loc, "offsetof's second argument is a field name (or a.b, arr[3])")


def _member(ck, t: T.StructType, name: str, loc, base: int) -> tuple[int, T.Type]:
    f = t.field(name)
    if f is None:
        from .suggest import nearest
        hint = nearest(name, [x.name for x in t.fields])
        ck.error(loc, f"struct '{t}' has no field '{name}'" + (f"; did you mean '{hint}'?" if hint else ""))
    return base + f.offset, f.type


def check_ord(ck, e: A.Call, expected):
    _nargs(ck, e, 1, 'ord("c")')
    s = e.args[0]
    if not isinstance(s, A.StrLit) or len(s.value) != 1:
        ck.error(s.loc, "ord() takes a one-character string literal")
    e.const = s.value[0]
    e.kind = "const"
    if isinstance(expected, T.IntType) and T.fits(e.const, expected):
        e.ty = expected
    else:
        e.ty = T.LITINT
    return e


def check_va_arg(ck, e: A.Call, expected):
    _nargs(ck, e, 2, "va_arg(ap, T)")
    ap = ck.check_expr(e.args[0], None)
    if not isinstance(ap.ty, T.VaListType) or not ck.is_lvalue(ap):
        ck.error(ap.loc, f"va_arg needs a VaList variable, got {ap.ty}")
    t = _type_arg(ck, e.args[1])
    if not isinstance(t, (T.IntType, T.PtrType, T.FnType)):
        ck.error(e.args[1].loc, f"va_arg reads integers and pointers, not {t}")
    if isinstance(t, T.IntType) and t.bits < 32:
        ck.error(e.args[1].loc, f"variadic arguments are promoted to 32 bits; read {'i32' if t.signed else 'u32'} and convert")
    e.args = [ap]
    e.info = t
    e.ty = t
    return e


def _scalar_pointer(ck, e: A.Call, name: str):
    """The first argument of volatile_load/store: a pointer to an integer or pointer."""
    p = ck.decay(ck.check_expr(e.args[0], None))
    if not isinstance(p.ty, T.PtrType) or not p.ty.target.is_scalar:
        ck.error(p.loc, f"{name} needs a pointer to an integer or pointer, got {p.ty}")
    return p


def check_volatile_load(ck, e: A.Call, expected):
    _nargs(ck, e, 1, "volatile_load(p)")
    p = _scalar_pointer(ck, e, "volatile_load")
    e.args, e.ty = [p], p.ty.target
    return e


def check_volatile_store(ck, e: A.Call, expected):
    _nargs(ck, e, 2, "volatile_store(p, value)")
    p = _scalar_pointer(ck, e, "volatile_store")
    v = ck.coerce(ck.check_expr(e.args[1], p.ty.target), p.ty.target, "volatile_store value")
    e.args, e.ty = [p, v], T.VOID
    return e


def check_unreachable(ck, e: A.Call, expected):
    _nargs(ck, e, 0, "unreachable()")
    e.ty = T.VOID
    return e


# ---- inline assembly ------------------------------------------------------

import re  # noqa: E402

# Clobbers LLVM knows on i386. It silently ignores any other name, so a
# typo ("eaxx") would leave a clobbered register unsaved: an error instead.
_CLOBBER = re.compile(r"^(e?[abcd]x|[abcd][lh]|e?(si|di|bp|sp)|[cdefgs]s|memory|cc|e?flags|dirflag|fpsr|fpcr"
                      r"|st|mm[0-7]|xmm[0-7]|cr[0-4]|dr[0-7])$")
_COMMON_CLOBBERS = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "memory", "cc", "flags"]


def _clobber(ck, e: A.Expr) -> str:
    name = _string(ck, e, "a clobber").lstrip("%")
    if not _CLOBBER.match(name):
        from .suggest import nearest
        hint = nearest(name, _COMMON_CLOBBERS)
        ck.error(e.loc, f"unknown clobber '{name}'" + (f"; did you mean '{hint}'?" if hint else
                                                        ' (a register such as "eax", or "memory", "cc")'))
    return name


def _string(ck, e: A.Expr, what: str) -> str:
    if not isinstance(e, A.StrLit):
        ck.error(e.loc, f"{what} must be a string literal")
    return e.value.decode("utf-8", "replace")


import re

# x86 constraint letters LLVM accepts (modifiers, registers by class or
# name, memory, immediates, tied operand numbers).
_CONSTRAINT = re.compile(r"^[=+]?&?\*?(?:\{[a-z0-9]+\}|[rqQRabcdSDAmoVingXIJKLMNOe0-9l])+$")


def _constraint(ck, c: str, where: A.Expr) -> str:
    if not _CONSTRAINT.match(c):
        ck.error(where.loc, f"unknown asm constraint '{c}' (e.g. \"r\", \"=r\", \"{{eax}}\", \"m\", \"*m\", \"i\", \"0\")")
    return c


def _pairs(ck, e: A.Expr, what: str) -> list[tuple[str, A.Expr]]:
    if not isinstance(e, A.ListLit):
        ck.error(e.loc, f"{what} is a list of (constraint, value) pairs")
    out = []
    for item in e.elts:
        if not isinstance(item, A.TupleLit) or len(item.elts) != 2:
            ck.error(item.loc, f"each of {what} is a (constraint, value) pair")
        out.append((_constraint(ck, _string(ck, item.elts[0], "a constraint"), item.elts[0]), item.elts[1]))
    return out


_OPERAND_REF = re.compile(r"\$(?:\$|\{(\d+)(?::[a-zA-Z])?\}|(\d+))")
_GPRS = 6            # eax ebx ecx edx esi edi (ebp is the frame pointer, esp the stack)
_GPR_CLOBBER = re.compile(r"^e?([abcd]x|[abcd][lh]|si|di)$")


def _check_operands(ck, where: A.Expr, template: str, result, outputs, inputs, clobbers) -> None:
    """What LLVM would reject with no usable location, reported here at the
    asm(...) call and in the user's numbering ($0 = result, outputs, inputs)."""
    count = (1 if result else 0) + len(outputs) + len(inputs)
    for m in _OPERAND_REF.finditer(template):
        n = m.group(1) or m.group(2)
        if n is not None and int(n) >= count:
            have = f"$0..${count - 1}" if count else "none"
            ck.error(where.loc, f"asm operand ${n} does not exist: this asm has {count} operand"
                                f"{'s' if count != 1 else ''} ({have}); a literal '$' is written '$$'")
    first_in = count - len(inputs)
    for k, op in enumerate(inputs):
        letters = op.constraint.lstrip("*&")
        if letters and all(ch in "in" for ch in letters) and op.expr.const is None:
            ck.error(op.expr.loc, f"asm operand ${first_in + k} has constraint '{op.constraint}' (an immediate), "
                                  f"but its value is not a compile-time constant")
    gprs = sum(1 for c in clobbers if _GPR_CLOBBER.match(c))
    outs = [(result[0], result[1])] if result else []
    outs += [(o.constraint, o.elem_type) for o in outputs if not o.indirect]
    ins = [(i.constraint, i.elem_type) for i in inputs if not i.indirect]
    ins += [(o.constraint, o.elem_type) for o in outputs if not o.indirect and o.constraint.startswith("+")]
    for group, what in ((outs, "outputs"), (ins, "inputs")):
        need = sum(_registers(c, t) for c, t in group)
        if need + gprs > _GPRS:
            ck.error(where.loc, f"this asm needs {need} registers for its {what}"
                                + (f" and clobbers {gprs}" if gprs else "")
                                + f", more than the {_GPRS} general registers available; pass some in memory (\"m\")")


def _registers(c: str, t: T.Type) -> int:
    """General registers an operand occupies (0 for memory, immediates, tied)."""
    letters = c.lstrip("=+&*")
    if not letters or letters[0].isdigit() or not any(ch in letters for ch in "rqRlabcdSDA{") \
            or "m" in letters or "g" in letters:       # LLVM may put those in memory
        return 0
    return 2 if "A" in letters or t.size > 4 else 1


def check_asm(ck, e: A.Call, expected):
    if len(e.args) != 1:
        ck.error(e.loc, 'asm takes the template as its one positional argument: asm("...", inputs=[...])')
    template = _string(ck, e.args[0], "the asm template")
    kw = {}
    for k in e.keywords:
        if k.name not in ("result", "outputs", "inputs", "clobbers", "volatile"):
            ck.error(k.loc, f"asm has no option '{k.name}' (result, outputs, inputs, clobbers, volatile)")
        kw[k.name] = k.value
    result = None
    if "result" in kw:
        r = kw["result"]
        if not isinstance(r, A.TupleLit) or len(r.elts) != 2:
            ck.error(r.loc, 'result is a pair: result=("=r", u32)')
        c = _constraint(ck, _string(ck, r.elts[0], "a constraint"), r.elts[0])
        if not c.startswith("="):
            ck.error(r.loc, f"an output constraint starts with '=' (got '{c}')")
        t = _type_arg(ck, r.elts[1])
        if not t.is_scalar or isinstance(t, T.VoidType):
            ck.error(r.elts[1].loc, f"an asm result is an integer or pointer, not {t}")
        result = (c, t)
    outputs = []
    for c, target in _pairs(ck, kw["outputs"], "outputs") if "outputs" in kw else []:
        if not c.startswith("=") and not c.startswith("+"):
            ck.error(target.loc, f"an output constraint starts with '=' (got '{c}')")
        lv = ck.check_lvalue(target)
        indirect = "m" in c.lstrip("=+*&") and not any(ch in c for ch in "rqabcdSDA") or "*" in c
        outputs.append(AsmOperand(c, lv, indirect, lv.ty))
    inputs = []
    for c, value in _pairs(ck, kw["inputs"], "inputs") if "inputs" in kw else []:
        if c.startswith("="):
            ck.error(value.loc, f"an input constraint cannot start with '=' (got '{c}')")
        if c.startswith("*"):
            p = ck.decay(ck.check_expr(value, None))
            if not isinstance(p.ty, T.PtrType):
                ck.error(value.loc, f"a '{c}' memory operand takes a pointer, got {p.ty}")
            inputs.append(AsmOperand(c, p, True, p.ty.target if not isinstance(p.ty.target, T.VoidType) else T.U8))
            continue
        v = ck.check_expr(value, None)
        if isinstance(v.ty, T.LiteralIntType):
            v = ck.coerce(v, T.literal_type_for(v.const), "asm input")
        v = ck.decay(v)
        if isinstance(v.ty, T.NullType):
            v = ck.coerce(v, T.PtrType(T.VOID), "asm input")
        if not v.ty.is_scalar or isinstance(v.ty, T.VoidType):
            ck.error(value.loc, f"an asm input is an integer, bool or pointer, not {v.ty}")
        inputs.append(AsmOperand(c, v, False, v.ty))
    clobbers = []
    if "clobbers" in kw:
        cl = kw["clobbers"]
        if not isinstance(cl, A.ListLit):
            ck.error(cl.loc, 'clobbers is a list of register names: clobbers=["eax", "memory"]')
        clobbers = [_clobber(ck, x) for x in cl.elts]
    volatile = result is None and not outputs
    if "volatile" in kw:
        v = kw["volatile"]
        if not isinstance(v, A.BoolLit):
            ck.error(v.loc, "volatile is True or False")
        volatile = v.value
    _check_operands(ck, e.args[0], template, result, outputs, inputs, clobbers)
    e.info = AsmInfo(template, result, outputs, inputs, clobbers, volatile)
    e.ty = result[1] if result else T.VOID
    e.args = []
    return e
