"""DWARF debug info (-g): compile unit, subprograms, line locations and
variables, as LLVM debug metadata. gdb reads it as C (DW_LANG_C99), which
lets it print and evaluate kpy's C-like values."""
from __future__ import annotations

import os

from llvmlite import ir

from . import typesys as T

I32 = ir.IntType(32)


class DistinctDIValue(ir.values.DIValue):
    """A distinct node compared by identity: llvmlite hashes metadata by
    its operands, which never ends for a struct that points to itself."""

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)


class DebugInfo:
    def __init__(self, mod: ir.Module, filename: str, optimised: bool = False):
        self.mod = mod
        path = os.path.abspath(filename)
        self.file = mod.add_debug_info("DIFile", {"filename": os.path.basename(path),
                                                  "directory": os.path.dirname(path)})
        self.cu = mod.add_debug_info("DICompileUnit", {
            "language": ir.DIToken("DW_LANG_C99"), "file": self.file, "producer": "kpyc",
            "isOptimized": optimised, "runtimeVersion": 0,
            "emissionKind": ir.DIToken("FullDebug"),
        }, is_distinct=True)
        self.scope = None
        self._types: dict = {}
        self._globals: list = []
        self._declare = None

    def finish(self) -> None:
        m = self.mod
        if self._globals:
            # Globals are found through the compile unit's `globals:` list;
            # the unit had to exist before them, so add the list now.
            extra = m._fix_di_operands([("globals", m.add_metadata(self._globals))])
            self.cu.operands = tuple(sorted(tuple(self.cu.operands) + tuple(extra)))
        m.add_named_metadata("llvm.dbg.cu", self.cu)
        m.add_named_metadata("llvm.module.flags", [I32(7), "Dwarf Version", I32(4)])
        m.add_named_metadata("llvm.module.flags", [I32(2), "Debug Info Version", I32(3)])

    # ---- types ----------------------------------------------------------------
    def type(self, t: T.Type):
        key = id(t) if isinstance(t, T.StructType) else t
        got = self._types.get(key)
        if got is not None:
            return got
        m = self.mod
        if isinstance(t, T.IntType):
            enc = "DW_ATE_signed" if t.signed else "DW_ATE_unsigned"
            if t.bits == 8:
                enc += "_char"
            d = m.add_debug_info("DIBasicType", {"name": t.name, "size": t.bits, "encoding": ir.DIToken(enc)})
        elif isinstance(t, T.BoolType):
            d = m.add_debug_info("DIBasicType", {"name": "bool", "size": 8, "encoding": ir.DIToken("DW_ATE_boolean")})
        elif isinstance(t, T.PtrType):
            base = None if isinstance(t.target, T.VoidType) else self.type(t.target)
            d = m.add_debug_info("DIDerivedType", {"tag": ir.DIToken("DW_TAG_pointer_type"), "size": 32,
                                                   "baseType": base})
        elif isinstance(t, T.ArrayType):
            rng = m.add_debug_info("DISubrange", {"count": t.count})
            d = m.add_debug_info("DICompositeType", {"tag": ir.DIToken("DW_TAG_array_type"),
                                                     "baseType": self.type(t.elem), "size": t.size * 8,
                                                     "elements": m.add_metadata([rng])})
        elif isinstance(t, T.StructType):
            # Registered before its members, which may point back to it
            # (`next: ptr[Node]`); the member list is filled in afterwards.
            d = m.add_debug_info("DICompositeType", {
                "tag": ir.DIToken("DW_TAG_union_type" if t.union else "DW_TAG_structure_type"), "name": t.name, "file": self.file,
                "size": t.size * 8, "elements": m.add_metadata([])}, is_distinct=True)
            d.__class__ = DistinctDIValue
            self._types[key] = d
            members = [m.add_debug_info("DIDerivedType", {
                "tag": ir.DIToken("DW_TAG_member"), "name": f.name, "file": self.file,
                "baseType": self.type(f.type), "size": f.type.size * 8, "offset": f.offset * 8})
                for f in t.fields]
            elements = m._fix_di_operands([("elements", m.add_metadata(members))])
            d.operands = tuple(sorted([op for op in d.operands if op[0] != "elements"] + list(elements)))
        elif isinstance(t, T.FnType):
            # a pointer to a DW_TAG_subroutine_type: gdb shows `u64 (*)(u64)` as for clang's C
            sig = m.add_debug_info("DISubroutineType", {"types": m.add_metadata(self._signature(t))})
            d = m.add_debug_info("DIDerivedType", {"tag": ir.DIToken("DW_TAG_pointer_type"), "size": 32,
                                                   "baseType": sig})
        else:   # VaList: an untyped pointer is what gdb can show
            d = m.add_debug_info("DIDerivedType", {"tag": ir.DIToken("DW_TAG_pointer_type"), "size": 32,
                                                   "baseType": None})
        self._types[key] = d
        return d

    def _signature(self, ft: T.FnType) -> list:
        """DISubroutineType `types`: the return type (null: void), the
        parameters, and a null for `...`."""
        ret = None if isinstance(ft.ret, T.VoidType) else self.type(ft.ret)
        return [ret] + [self.type(p) for p in ft.params] + ([None] if ft.varargs else [])

    # ---- functions and locations ----------------------------------------------------
    def begin_function(self, fn: ir.Function, sym, types) -> None:
        ft = sym.ty
        sig = self.mod.add_debug_info("DISubroutineType", {"types": self.mod.add_metadata(self._signature(ft))})
        line = sym.decl.loc.line
        self.scope = self.mod.add_debug_info("DISubprogram", {
            "name": sym.name, "linkageName": fn.name, "scope": self.file, "file": self.file,
            "line": line, "type": sig, "scopeLine": line,
            "spFlags": ir.DIToken("DISPFlagDefinition"), "unit": self.cu,
        }, is_distinct=True)
        fn.set_metadata("dbg", self.scope)

    def end_function(self) -> None:
        self.scope = None

    def set_location(self, builder: ir.IRBuilder, loc) -> None:
        if self.scope is None:
            return
        # DWARF columns are 16 bits in LLVM; a longer line keeps the last one.
        builder.debug_metadata = self.mod.add_debug_info(
            "DILocation", {"line": loc.line, "column": min(loc.col, 0xFFFF), "scope": self.scope})

    def declare_variable(self, builder: ir.IRBuilder, slot, var, types, arg_no: int = 0) -> None:
        if self.scope is None:
            return
        ops = {"name": var.name, "scope": self.scope, "file": self.file, "line": var.loc.line,
               "type": self.type(var.ty)}
        if arg_no:
            ops["arg"] = arg_no
        dv = self.mod.add_debug_info("DILocalVariable", ops)
        if self._declare is None:
            meta = ir.MetaDataType()
            from .irtext import KFunction
            self._declare = KFunction(self.mod, ir.FunctionType(ir.VoidType(), [meta, meta, meta]), "llvm.dbg.declare")
        expr = self.mod.add_debug_info("DIExpression", {})
        builder.call(self._declare, [slot, dv, expr])

    def global_variable(self, g: ir.GlobalVariable, sym, types) -> None:
        gv = self.mod.add_debug_info("DIGlobalVariable", {
            "name": sym.name, "scope": self.cu, "file": self.file, "line": sym.loc.line,
            "type": self.type(sym.ty), "isLocal": False, "isDefinition": True})
        gve = self.mod.add_debug_info("DIGlobalVariableExpression", {
            "var": gv, "expr": self.mod.add_debug_info("DIExpression", {})})
        g.set_metadata("dbg", gve)
        self._globals.append(gve)
