"""A module's interface: what importers can see of it (signatures, struct
layouts, constant values, global types), as canonical text. The compile
cache keys objects by the interfaces of imported modules, so editing a
function body in `lib.printf` does not recompile the modules importing it."""
from __future__ import annotations

from . import typesys as T
from .declarations import Resolver
from .diagnostics import Abort
from .modules import ModuleInfo
from .symbols import ConstSym, FuncSym, GlobalVar, TypeSym


def interface_text(info: ModuleInfo, resolver: Resolver) -> str:
    lines = [f"module {info.name}"]
    for name in sorted(info.symbols):
        try:
            lines.append(_describe(resolver, info.symbols[name]))
        except Abort:
            lines.append(f"{name}: <error>")
    return "\n".join(lines)


def _describe(r: Resolver, sym) -> str:
    if isinstance(sym, TypeSym):
        r.complete_struct(sym)
        st: T.StructType = sym.ty
        fields = ", ".join(f"{f.name}@{f.offset}:{_type(f.type)}" for f in st.fields)
        return f"struct {sym.name} packed={st.packed} size={st.size} align={st.align} {{{fields}}}"
    if isinstance(sym, ConstSym):
        r.resolve_const(sym)
        return f"const {sym.name}: {_type(sym.ty)} = {sym.value}"
    if isinstance(sym, GlobalVar):
        r.resolve_global(sym)
        return f"global {sym.name} -> {sym.link_name}: {_type(sym.ty)} extern={sym.is_extern}" + (" readonly" if sym.readonly else "")
    if isinstance(sym, FuncSym):
        r.resolve_function(sym)
        a = sym.attrs
        return (f"fn {sym.name} -> {sym.link_name}: {_type(sym.ty)} interrupt={a.interrupt} "
                f"static={a.static}")
    return f"{sym.name}: {type(sym).__name__}"


def _type(t: T.Type) -> str:
    # Struct types are named with their module: their layout is in that
    # module's own interface, which is part of the importer's key.
    if isinstance(t, T.StructType):
        return f"{t.module}.{t.name}"
    if isinstance(t, T.PtrType):
        return f"{'vptr' if t.volatile else 'ptr'}[{_type(t.target)}]"
    if isinstance(t, T.ArrayType):
        return f"array[{_type(t.elem)}, {t.count}]"
    if isinstance(t, T.FnType):
        return f"fn[[{', '.join(_type(p) for p in t.params)}], {_type(t.ret)}]{'...' if t.varargs else ''}"
    return str(t)
