"""Typed kpy syntax tree -> LLVM IR (llvmlite's IR builder).

Locals live in allocas in the entry block (mem2reg makes registers of them
at -O1 and up); bool is i1 as a value and i8 in memory; every pointer is
LLVM's opaque `ptr`. Statements are lowered in order, with a debug
location per statement when -g is on.
"""
from __future__ import annotations

from llvmlite import ir

from . import astnodes as A
from . import typesys as T
from .debuginfo import DebugInfo
from .declarations import INTERRUPT_FRAME, Resolver
from .irtext import KFunction
from .modules import ModuleInfo
from .symbols import FuncSym, GlobalVar

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
VOIDT = ir.VoidType()


class TypeMapper:
    def __init__(self):
        self._structs: dict[int, ir.Type] = {}

    def value(self, t: T.Type) -> ir.Type:
        if isinstance(t, T.BoolType):
            return I1
        return self.mem(t)

    def mem(self, t: T.Type) -> ir.Type:
        if isinstance(t, T.IntType):
            return ir.IntType(t.bits)
        if isinstance(t, T.BoolType):
            return I8
        if isinstance(t, (T.PtrType, T.FnType, T.VaListType, T.NullType)):
            return PTR
        if isinstance(t, T.ArrayType):
            return ir.ArrayType(self.mem(t.elem), t.count)
        if isinstance(t, T.StructType):
            key = id(t)
            if key not in self._structs and t.union:
                # LLVM has no unions: an integer of the union's alignment
                # (so containing structs lay out as kpy says), then padding.
                elems = [ir.IntType(8 * t.align)] + ([ir.ArrayType(I8, t.size - t.align)] if t.size > t.align else [])
                self._structs[key] = ir.LiteralStructType(elems)
            elif key not in self._structs:
                self._structs[key] = ir.LiteralStructType([self.mem(f.type) for f in t.fields], packed=t.packed)
            return self._structs[key]
        if isinstance(t, T.VoidType):
            return VOIDT
        raise TypeError(f"no LLVM type for {t}")

    def fn(self, ft: T.FnType) -> ir.FunctionType:
        # kpy's ABI widens narrow results (bool, 8/16-bit) to a full eax, so
        # asm and tests may read all of it (LLVM does not extend on i386).
        ret = VOIDT if isinstance(ft.ret, T.VoidType) else (I32 if widened_result(ft.ret) else self.mem(ft.ret))
        return ir.FunctionType(ret, [self.mem(p) for p in ft.params], var_arg=ft.varargs)


class ModuleLowering:
    """Lowers one checked module into an llvmlite ir.Module."""

    def __init__(self, info: ModuleInfo, resolver: Resolver, triple: str, datalayout: str,
                 debug: bool):
        self.info = info
        self.r = resolver
        self.mod = ir.Module(name=info.name)
        self.mod.triple = triple
        self.mod.data_layout = datalayout
        self.types = TypeMapper()
        self.functions: dict[int, ir.Function] = {}
        self.globals: dict[int, ir.GlobalVariable] = {}
        self.strings: dict[bytes, ir.GlobalVariable] = {}
        self.ctors: list[ir.Function] = []
        self.intrinsics: dict[str, ir.Function] = {}
        self.di = DebugInfo(self.mod, info.filename) if debug else None

    # ---- symbols ------------------------------------------------------------
    def function(self, sym: FuncSym) -> ir.Function:
        key = id(sym)
        if key in self.functions:
            return self.functions[key]
        self.r.resolve_function(sym)
        existing = self.mod.globals.get(sym.link_name)
        if existing is not None:
            self.functions[key] = existing
            return existing
        f = KFunction(self.mod, self.types.fn(sym.ty), sym.link_name)
        # As C compilers do on i386: narrow results and parameters are
        # extended to 32 bits, so asm and C callers may read all of eax.
        for arg, pt in zip(f.args, sym.ty.params):
            ext = _extension(pt)
            if ext and not sym.attrs.interrupt:
                arg.add_attribute(ext)
        f.attributes.add("nounwind")
        a = sym.attrs
        local = sym.module is self.info
        if a.interrupt:
            f.calling_convention = "x86_intrcc"
            f.param_attr_text[0] = f"byval({self.types.mem(INTERRUPT_FRAME)})"
        if local and not a.extern:
            if a.static:
                f.linkage = "internal"
            # One section per function (as -ffunction-sections), so the
            # linker's gc_sections can drop what nothing uses.
            f.section = a.section or f".text.{sym.link_name}"
            if a.naked:
                f.attributes.add("naked")
                f.attributes.add("noinline")
            if a.noinline:
                f.attributes.add("noinline")
            if a.align:
                f.fn_align = a.align
            # Freestanding (as clang -ffreestanding): LLVM must not assume a
            # libc, e.g. turn printf("\n") into puts() or memset's own loop
            # into a call to memset.
            f.extra_attrs.append('"no-builtins"')
            # Frame pointers keep gdb backtraces and the seed's stack games simple.
            f.extra_attrs.append('"frame-pointer"="all"')
            # A kernel's null is an address like any other (as GCC's
            # -fno-delete-null-pointer-checks): a load or store through it
            # must reach the MMU and fault, not be deleted as undefined
            # behaviour (at -O2 it became an int3).
            f.extra_attrs.append("null_pointer_is_valid")
        self.functions[key] = f
        return f

    def global_var(self, sym: GlobalVar) -> ir.GlobalVariable:
        key = id(sym)
        if key in self.globals:
            return self.globals[key]
        self.r.resolve_global(sym)
        existing = self.mod.globals.get(sym.link_name)
        if existing is not None:
            self.globals[key] = existing
            return existing
        g = ir.GlobalVariable(self.mod, self.types.mem(sym.ty), sym.link_name)
        g.type = PTR      # opaque pointers only (LLVM 22), whatever llvmlite's default
        g.align = sym.ty.align
        self.globals[key] = g
        return g

    def string(self, data: bytes) -> ir.GlobalVariable:
        g = self.strings.get(data)
        if g is None:
            payload = bytearray(data + b"\0")
            ty = ir.ArrayType(I8, len(payload))
            g = ir.GlobalVariable(self.mod, ty, f".str.{len(self.strings)}")
            g.type = PTR
            g.linkage = "private"
            g.global_constant = True
            g.unnamed_addr = True
            g.initializer = ir.Constant(ty, payload)
            g.align = 1
            self.strings[data] = g
        return g

    def intrinsic(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        f = self.intrinsics.get(name)
        if f is None:
            f = KFunction(self.mod, ir.FunctionType(ret, args), name)
            self.intrinsics[name] = f
        return f

    # ---- the module ------------------------------------------------------------
    def lower(self) -> ir.Module:
        for sym in self.info.symbols.values():
            if isinstance(sym, GlobalVar):
                self.define_global(sym)
        for sym in self.info.symbols.values():
            if isinstance(sym, FuncSym) and sym.state == "done":
                if sym.attrs.extern:
                    self.function(sym)
                else:
                    FunctionLowering(self, sym).lower()
        self.emit_constructors()
        if self.di is not None:
            self.di.finish()
        return self.mod

    def define_global(self, sym: GlobalVar) -> None:
        if sym.ty is None:
            return
        g = self.global_var(sym)
        if sym.is_extern:
            return
        if sym.is_static:
            g.linkage = "internal"
        if sym.readonly:
            g.global_constant = True        # .rodata (a Final table)
        if sym.init is None:
            g.initializer = ir.Constant(g.value_type, None)
        else:
            g.initializer = ConstLowering(self).value(sym.init, sym.ty)
        if self.di is not None:
            self.di.global_variable(g, sym, self.types)

    def emit_constructors(self) -> None:
        if not self.ctors:
            return
        used = []
        for f in self.ctors:
            slot = ir.GlobalVariable(self.mod, PTR, f"__kpy_ctor.{f.name}")
            slot.type = PTR
            slot.linkage = "internal"
            slot.global_constant = True
            slot.initializer = f
            slot.section = ".init_array"
            slot.align = 4
            used.append(slot)
        arr_ty = ir.ArrayType(PTR, len(used))
        keep = ir.GlobalVariable(self.mod, arr_ty, "llvm.used")
        keep.type = PTR
        keep.linkage = "appending"
        keep.section = "llvm.metadata"
        keep.initializer = ir.Constant(arr_ty, used)


def widened_result(t: T.Type) -> bool:
    return isinstance(t, T.BoolType) or (isinstance(t, T.IntType) and t.bits < 32)


def _extension(t: T.Type) -> str | None:
    if isinstance(t, T.BoolType):
        return "zeroext"
    if isinstance(t, T.IntType) and t.bits < 32:
        return "signext" if t.signed else "zeroext"
    return None


class ConstLowering:
    """Global initialisers: constant expressions as LLVM constants."""

    def __init__(self, ml: ModuleLowering):
        self.ml = ml

    def value(self, e: A.Expr, ty: T.Type) -> ir.Constant:
        types = self.ml.types
        if isinstance(e, A.ListLit):
            elems = [self.value(x, ty.elem) for x in e.elts]
            zero = ir.Constant(types.mem(ty.elem), None)
            elems += [zero] * (ty.count - len(elems))
            return ir.Constant(types.mem(ty), elems)
        if e.const is not None and isinstance(ty, (T.IntType, T.BoolType)):
            return ir.Constant(types.mem(ty), e.const & ((1 << (ty.size * 8)) - 1))
        if isinstance(e, A.Convert):
            if e.how == "null":
                return ir.Constant(PTR, None)
            return self.value(e.value, ty)
        if isinstance(e, A.NoneLit):
            return ir.Constant(PTR, None)
        if isinstance(e, A.StrLit):
            if isinstance(ty, T.ArrayType):
                data = bytearray(e.value[:ty.count]) + bytearray(max(0, ty.count - len(e.value)))
                return ir.Constant(types.mem(ty), data)
            return self.ml.string(e.value)
        if isinstance(e, (A.Name, A.Attribute)) and isinstance(getattr(e, "sym", None), FuncSym):
            return self.ml.function(e.sym)
        if isinstance(e, A.Call) and e.kind == "struct_lit" and ty.union:
            return self.union_value(e, ty)
        if isinstance(e, A.Call) and e.kind == "struct_lit":
            given = {f.index: v for f, v in e.info}
            return ir.Constant(types.mem(ty), [
                self.value(given[f.index], f.type) if f.index in given else ir.Constant(types.mem(f.type), None)
                for f in ty.fields])
        if isinstance(e, A.Call) and e.kind == "addr_fn":
            return self.ml.function(e.args[0].sym)
        if isinstance(e, A.Call) and e.kind == "addr":
            return self.address(e.args[0])
        if isinstance(e, A.Call) and e.kind == "cast":
            inner = e.args[0]
            if inner.const is not None and isinstance(ty, (T.PtrType, T.FnType)):
                return ir.Constant(I32, inner.const & 0xFFFFFFFF).inttoptr(PTR)
            v = self.value(inner, inner.ty)
            if isinstance(ty, T.IntType) and isinstance(inner.ty, (T.PtrType, T.FnType)):
                # An address as an integer (`cast(u32, addr(g))`): a 32-bit
                # relocation, so only a 32-bit integer can hold it.
                if ty.size != 4:
                    raise NotConstant(e, f"an address in a global's initialiser needs a 32-bit integer "
                                         f"(u32, usize, i32, isize), not {ty}")
                return v.ptrtoint(I32)
            return v
        raise NotConstant(e)

    def union_value(self, e: A.Call, ty: T.StructType) -> ir.Constant:
        """A constant union: its bytes, in the union's LLVM shape (an
        integer of its alignment, then padding); integer members only."""
        data = bytearray(ty.size)
        for f, v in e.info:
            if not (isinstance(f.type, T.IntType) and v.const is not None):
                raise NotConstant(v, "a union in a global's initialiser can set an integer member only")
            data[:f.type.size] = (v.const & ((1 << (8 * f.type.size)) - 1)).to_bytes(f.type.size, "little")
        head = ir.Constant(ir.IntType(8 * ty.align), int.from_bytes(data[:ty.align], "little"))
        rest = [ir.Constant(ir.ArrayType(I8, ty.size - ty.align), bytearray(data[ty.align:]))] if ty.size > ty.align else []
        return ir.Constant(self.ml.types.mem(ty), [head] + rest)

    def address(self, e: A.Expr) -> ir.Constant:
        g, offset = self.global_offset(e)
        if offset == 0:
            return g
        # A constant byte offset from the global (our layout is authoritative).
        return ir.FormattedConstant(PTR, f"getelementptr inbounds (i8, ptr {g.get_reference()}, i32 {offset})")

    def global_offset(self, e: A.Expr) -> tuple[ir.GlobalVariable, int]:
        if isinstance(e, (A.Name, A.Attribute)) and isinstance(getattr(e, "sym", None), GlobalVar):
            return self.ml.global_var(e.sym), 0
        if isinstance(e, A.Subscript) and e.index[0].const is not None and isinstance(e.value.ty, T.ArrayType):
            g, off = self.global_offset(e.value)
            return g, off + e.index[0].const * e.value.ty.elem.size
        if isinstance(e, A.Attribute) and isinstance(e.sym, T.StructField) and not isinstance(e.value.ty, T.PtrType):
            g, off = self.global_offset(e.value)
            return g, off + e.sym.offset
        raise NotConstant(e)


class NotConstant(Exception):
    def __init__(self, e: A.Expr, message: str | None = None):
        self.expr = e
        self.message = message


from .lower_function import FunctionLowering  # noqa: E402  (mutual: FunctionLowering uses ModuleLowering)
