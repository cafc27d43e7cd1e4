"""Lowering one function body: statements, expressions, lvalues."""
from __future__ import annotations

from llvmlite import ir
from llvmlite.ir.instructions import StoreInstr

from . import astnodes as A
from . import typesys as T
from .irtext import CustomCall, VolatileLoad, VolatileStore
from .symbols import ConstSym, FuncSym, GlobalVar, LocalVar

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
VOIDT = ir.VoidType()

_ICMP = {"<": "<", ">": ">", "==": "==", "!=": "!=", "<=": "<=", ">=": ">="}


def _aggregate_init(v, t: T.Type) -> bool:
    """A list, or a string literal filling an array of bytes in place; a
    string literal for a ptr[u8] is an ordinary value (its address)."""
    return isinstance(t, T.ArrayType) and isinstance(v, (A.ListLit, A.StrLit))


def _safe_divisor(b: ir.Value, signed: bool) -> bool:
    """A constant divisor that can never fault: ordinary division by it
    stays visible to the optimiser (a multiply by the reciprocal, a shift)."""
    if not isinstance(b, ir.Constant) or not isinstance(b.constant, int):
        return False
    v = b.constant & ((1 << b.type.width) - 1)
    return v != 0 and not (signed and v == (1 << b.type.width) - 1)


class FunctionLowering:
    def __init__(self, ml, sym: FuncSym):
        self.ml = ml
        self.sym = sym
        self.types = ml.types
        self.fn = ml.function(sym)
        self.slots: dict[int, ir.Value] = {}
        self.loops: list[tuple[ir.Block, ir.Block]] = []   # (continue target, break target)
        self.b: ir.IRBuilder | None = None
        self.di = ml.di

    # ---- setup --------------------------------------------------------------
    def lower(self) -> None:
        sym, fn = self.sym, self.fn
        entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(entry)
        if self.di is not None:
            self.di.begin_function(fn, sym, self.types)
            self.di.set_location(self.b, sym.decl.loc)
        if sym.attrs.naked:
            for s in sym.decl.body:
                self.stmt(s)
            if not self.b.block.is_terminated:
                self.b.unreachable()
            return
        for i, p in enumerate(sym.params):
            arg = fn.args[i]
            arg.name = p.name
            slot = self.alloca(p.ty, p.name)
            self.slots[id(p)] = slot
            self.store(arg if not isinstance(p.ty, T.BoolType) else self.b.trunc(arg, I1), slot, p.ty)
            if self.di is not None:
                self.di.declare_variable(self.b, slot, p, self.types, arg_no=i + 1)
        if sym.varargs is not None:
            slot = self.alloca(T.VALIST, sym.varargs.name)
            va_start = self.ml.intrinsic("llvm.va_start.p0", VOIDT, [PTR])
            self.b.call(va_start, [slot])
            self.slots[id(sym.varargs)] = slot
        for s in sym.decl.body:
            self.stmt(s)
        if not self.b.block.is_terminated:
            if isinstance(sym.ty.ret, T.VoidType):
                self.b.ret_void()
            else:
                self.b.unreachable()
        if sym.attrs.constructor:
            self.ml.ctors.append(fn)
        if self.di is not None:
            self.di.end_function()

    def alloca(self, t: T.Type, name: str) -> ir.Value:
        """An entry-block stack slot (so mem2reg can promote it)."""
        entry = self.fn.entry_basic_block
        with self.b.goto_block(entry):
            if entry.instructions:
                self.b.position_before(entry.instructions[0])
            slot = self.b.alloca(self.types.mem(t), name=name)
            slot.type = PTR      # opaque pointers only
            slot.align = max(t.align, 1)
        return slot

    def slot_of(self, v: LocalVar) -> ir.Value:
        s = self.slots.get(id(v))
        if s is None:
            s = self.alloca(v.ty, v.name)
            self.slots[id(v)] = s
            if self.di is not None:
                self.di.declare_variable(self.b, s, v, self.types)
        return s

    # ---- memory ---------------------------------------------------------------
    def load(self, addr: ir.Value, t: T.Type, align: int | None = None, volatile: bool = False) -> ir.Value:
        mty = self.types.mem(t)
        if volatile:
            instr = VolatileLoad(self.b.block, addr, typ=mty)
            self.b._insert(instr)
        else:
            instr = self.b.load(addr, typ=mty)
        instr.align = align or max(t.align, 1)
        if isinstance(t, T.BoolType):
            return self.b.trunc(instr, I1)
        return instr

    def store(self, value: ir.Value, addr: ir.Value, t: T.Type, align: int | None = None, volatile: bool = False) -> None:
        if isinstance(t, T.BoolType):
            value = self.b.zext(value, I8)
        instr = (VolatileStore if volatile else StoreInstr)(self.b.block, value, addr)
        self.b._insert(instr)
        instr.align = align or max(t.align, 1)

    def copy(self, dst: ir.Value, src: ir.Value, t: T.Type) -> None:
        memcpy = self.ml.intrinsic("llvm.memcpy.p0.p0.i32", VOIDT, [PTR, PTR, I32, I1])
        self.b.call(memcpy, [dst, src, ir.Constant(I32, t.size), ir.Constant(I1, 0)])

    def zero(self, addr: ir.Value, size: int) -> None:
        memset = self.ml.intrinsic("llvm.memset.p0.i32", VOIDT, [PTR, I8, I32, I1])
        self.b.call(memset, [addr, ir.Constant(I8, 0), ir.Constant(I32, size), ir.Constant(I1, 0)])

    def init_struct(self, addr: ir.Value, lit: A.Call) -> None:
        """Evaluate the field values first (they may read the target), then
        zero the struct and store them."""
        t: T.StructType = lit.ty
        values = [(f, v if _aggregate_init(v, f.type) or isinstance(f.type, T.StructType) else self.expr(v))
                  for f, v in lit.info]
        self.zero(addr, t.size)
        for f, v in values:
            faddr = self.field_addr(addr, t, f)
            align = 1 if t.packed else None
            if _aggregate_init(v, f.type):
                self.init_array(faddr, v, f.type)
            elif isinstance(f.type, T.StructType):
                self.assign_to((faddr, align, False), v, f.type)
            else:
                self.store(v, faddr, f.type, align)

    def field_addr(self, base: ir.Value, st: T.StructType, f: T.StructField) -> ir.Value:
        if st.union:
            return base         # every member of a union is at offset 0
        return self.b.gep(base, [ir.Constant(I32, 0), ir.Constant(I32, f.index)], inbounds=True,
                          source_etype=self.types.mem(st))

    def init_array(self, slot: ir.Value, v: A.Expr, t: T.ArrayType) -> None:
        self.zero(slot, t.size)
        elems = list(v.value) if isinstance(v, A.StrLit) else v.elts
        for i, x in enumerate(elems):
            addr = self.b.gep(slot, [ir.Constant(I32, 0), ir.Constant(I32, i)], source_etype=self.types.mem(t))
            if isinstance(x, int):
                self.store(ir.Constant(I8, x), addr, t.elem)
            elif _aggregate_init(x, t.elem):
                self.init_array(addr, x, t.elem)
            elif isinstance(t.elem, T.StructType):
                self.assign_to((addr, None, False), x, t.elem)
            else:
                self.store(self.expr(x), addr, t.elem)

    # ---- statements -------------------------------------------------------------
    def stmt(self, s: A.Stmt) -> None:
        if self.b.block.is_terminated:
            # Code after return/break: give it a block of its own (unreachable).
            self.b.position_at_end(self.fn.append_basic_block("dead"))
        if self.di is not None:
            self.di.set_location(self.b, s.loc)
        getattr(self, "stmt_" + type(s).__name__)(s)

    def stmt_Pass(self, s) -> None:
        pass

    def stmt_ExprStmt(self, s: A.ExprStmt) -> None:
        if isinstance(s.value, (A.StrLit, A.EllipsisLit)):
            return
        self.expr(s.value)

    def assign_to(self, sym_or_target, value: A.Expr, t: T.Type) -> None:
        addr, align, vol = sym_or_target
        if isinstance(value, A.Call) and value.kind == "struct_lit":
            self.init_struct(addr, value)
            return
        if isinstance(t, T.StructType):
            src, _, _ = self.lvalue(value)
            self.copy(addr, src, t)
            return
        self.store(self.expr(value), addr, t, align, vol)

    def stmt_AnnAssign(self, s: A.AnnAssign) -> None:
        slot = self.slot_of(s.sym)
        if isinstance(s.value, (A.ListLit, A.StrLit)) and isinstance(s.sym.ty, T.ArrayType):
            self.init_array(slot, s.value, s.sym.ty)
        elif s.value is not None:
            self.assign_to((slot, None, False), s.value, s.sym.ty)

    def stmt_Assign(self, s: A.Assign) -> None:
        if s.sym is not None:
            slot = self.slot_of(s.sym)
            self.assign_to((slot, None, False), s.value, s.sym.ty)
            return
        target = self.lvalue(s.target)
        self.assign_to(target, s.value, s.target.ty)

    def stmt_AugAssign(self, s: A.AugAssign) -> None:
        addr, align, vol = self.lvalue(s.target)
        t = s.target.ty
        old = self.load(addr, t, align, vol)
        rhs = self.expr(s.value)
        if isinstance(t, T.PtrType):
            new = self.ptr_offset(old, t, rhs, s.value.ty, negate=(s.op == "-"))
        else:
            new = self.arith(s.op, old, rhs, t, s.value.ty)
        self.store(new, addr, t, align, vol)

    def stmt_Return(self, s: A.Return) -> None:
        if s.value is None:
            self.b.ret_void()
        else:
            v = self.expr(s.value)
            t = s.value.ty
            if isinstance(t, T.BoolType) or (isinstance(t, T.IntType) and t.bits < 32):
                v = self.b.sext(v, I32) if getattr(t, "signed", False) else self.b.zext(v, I32)
            self.b.ret(v)

    def stmt_If(self, s: A.If) -> None:
        """An if/elif/else chain, walked in a loop (not by recursion, so
        a 300-arm chain lowers) with one shared end block."""
        end_bb = self.fn.append_basic_block("if.end")
        while True:
            elif_ = len(s.orelse) == 1 and isinstance(s.orelse[0], A.If)
            if s.test.const is not None:
                # Folded condition: lower only the branch that can run.
                if not s.test.const and elif_:
                    s = s.orelse[0]
                    continue
                self.stmts(s.body if s.test.const else s.orelse)
                break
            then_bb = self.fn.append_basic_block("if.then")
            else_bb = self.fn.append_basic_block("if.else") if s.orelse else None
            self.branch(s.test, then_bb, else_bb or end_bb)
            self.b.position_at_end(then_bb)
            self.stmts(s.body)
            if not self.b.block.is_terminated:
                self.b.branch(end_bb)
            if else_bb is None:
                break
            self.b.position_at_end(else_bb)
            if not elif_:
                self.stmts(s.orelse)
                break
            s = s.orelse[0]
            if self.di is not None:
                self.di.set_location(self.b, s.loc)
        if not self.b.block.is_terminated:
            self.b.branch(end_bb)
        self.b.position_at_end(end_bb)

    def stmts(self, body: list[A.Stmt]) -> None:
        for x in body:
            self.stmt(x)

    def stmt_Match(self, s: A.Match) -> None:
        """C's switch as an LLVM switch (jump tables at -O1/-O2); each case
        ends at the end of the match: there is no fall-through."""
        value = self.expr(s.subject)
        ity = self.types.mem(s.subject.ty)
        end_bb = self.fn.append_basic_block("match.end")
        arms = [(c, self.fn.append_basic_block("match.case")) for c in s.cases]
        default_bb = next((bb for c, bb in arms if c.patterns is None), end_bb)
        sw = self.b.switch(value, default_bb)
        for c, bb in arms:
            for p in c.patterns or ():
                sw.add_case(ir.Constant(ity, p.const), bb)
            self.b.position_at_end(bb)
            self.stmts(c.body)
            if not self.b.block.is_terminated:
                self.b.branch(end_bb)
        self.b.position_at_end(end_bb)

    def stmt_While(self, s: A.While) -> None:
        cond_bb = self.fn.append_basic_block("while.cond")
        body_bb = self.fn.append_basic_block("while.body")
        end_bb = self.fn.append_basic_block("while.end")
        self.b.branch(cond_bb)
        self.b.position_at_end(cond_bb)
        if s.test.const is not None:
            self.b.branch(body_bb if s.test.const else end_bb)
        else:
            self.branch(s.test, body_bb, end_bb)
        self.b.position_at_end(body_bb)
        self.loops.append((cond_bb, end_bb))
        for x in s.body:
            self.stmt(x)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(cond_bb)
        self.b.position_at_end(end_bb)

    def stmt_For(self, s: A.For) -> None:
        """for i in range(a, b, step), with Python's meaning: the bound is
        evaluated once, and assigning to i in the body does not change the
        next value (a hidden counter drives the loop)."""
        t = s.sym.ty
        slot = self.slot_of(s.sym)
        counter = self.alloca(t, f"{s.var.id}.next")
        stop_slot = self.alloca(t, f"{s.var.id}.stop")
        self.store(self.expr(s.start), counter, t)
        self.store(self.expr(s.stop), stop_slot, t)
        step = s.step.const if s.step is not None else 1
        cond_bb = self.fn.append_basic_block("for.cond")
        body_bb = self.fn.append_basic_block("for.body")
        inc_bb = self.fn.append_basic_block("for.inc")
        end_bb = self.fn.append_basic_block("for.end")
        self.b.branch(cond_bb)
        self.b.position_at_end(cond_bb)
        i = self.load(counter, t)
        op = "<" if step > 0 else ">"
        stop = self.load(stop_slot, t)
        cmp = self.b.icmp_signed(op, i, stop) if t.signed else self.b.icmp_unsigned(op, i, stop)
        self.b.cbranch(cmp, body_bb, end_bb)
        self.b.position_at_end(body_bb)
        self.store(i, slot, t)
        self.loops.append((inc_bb, end_bb))
        for x in s.body:
            self.stmt(x)
        self.loops.pop()
        if not self.b.block.is_terminated:
            self.b.branch(inc_bb)
        self.b.position_at_end(inc_bb)
        i = self.load(counter, t)
        nxt = self.b.add(i, ir.Constant(self.types.mem(t), t.wrap(step)))
        self.store(nxt, counter, t)
        # Stop on wrap-around as well: `for i in range(250, 256)` over u8 must end.
        if t.signed:
            wrapped = self.b.icmp_signed(op, nxt, i)
        else:
            wrapped = self.b.icmp_unsigned(op, nxt, i)
        self.b.cbranch(wrapped, end_bb, cond_bb)
        self.b.position_at_end(end_bb)

    def stmt_Break(self, s) -> None:
        self.b.branch(self.loops[-1][1])

    def stmt_Continue(self, s) -> None:
        self.b.branch(self.loops[-1][0])

    # ---- conditions -------------------------------------------------------------
    def truth(self, e: A.Expr) -> ir.Value:
        v = self.expr(e)
        t = e.ty
        if isinstance(t, T.BoolType):
            return v
        if isinstance(t, T.IntType):
            return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        if isinstance(t, (T.PtrType, T.FnType, T.NullType)):
            return self.b.icmp_unsigned("!=", v, ir.Constant(PTR, None))
        raise AssertionError(t)

    def branch(self, e: A.Expr, yes: ir.Block, no: ir.Block) -> None:
        """Branch on a condition with short-circuit evaluation."""
        if isinstance(e, A.BoolOp):
            for v in e.values[:-1]:
                nxt = self.fn.append_basic_block(f"{e.op}.rhs")
                if e.op == "and":
                    self.branch(v, nxt, no)
                else:
                    self.branch(v, yes, nxt)
                self.b.position_at_end(nxt)
            self.branch(e.values[-1], yes, no)
            return
        if isinstance(e, A.UnaryOp) and e.op == "not":
            self.branch(e.operand, no, yes)
            return
        if e.const is not None:
            self.b.branch(yes if e.const else no)
            return
        self.b.cbranch(self.truth(e), yes, no)

    # ---- expressions ---------------------------------------------------------------
    def const(self, t: T.Type, value: int) -> ir.Constant:
        if isinstance(t, T.BoolType):
            return ir.Constant(I1, int(bool(value)))
        if isinstance(t, T.LiteralIntType):
            t = T.literal_type_for(value)
        if isinstance(t, (T.PtrType, T.FnType, T.NullType)):
            return ir.Constant(I32, value & 0xFFFFFFFF).inttoptr(PTR) if value else ir.Constant(PTR, None)
        return ir.Constant(ir.IntType(t.bits), value & ((1 << t.bits) - 1))

    def expr(self, e: A.Expr) -> ir.Value:
        if e.const is not None and isinstance(e.ty, (T.IntType, T.BoolType, T.LiteralIntType)):
            return self.const(e.ty, e.const)
        return getattr(self, "expr_" + type(e).__name__)(e)

    def expr_NoneLit(self, e) -> ir.Value:
        return ir.Constant(PTR, None)

    def expr_StrLit(self, e: A.StrLit) -> ir.Value:
        return self.ml.string(e.value)

    def expr_Name(self, e: A.Name) -> ir.Value:
        sym = e.sym
        if isinstance(sym, FuncSym):
            return self.ml.function(sym)
        if isinstance(sym, ConstSym):
            return self.const(e.ty, sym.value)
        addr, align, vol = self.lvalue(e)
        return self.load(addr, e.ty, align, vol)

    def expr_Attribute(self, e: A.Attribute) -> ir.Value:
        if isinstance(e.sym, FuncSym):
            return self.ml.function(e.sym)
        if isinstance(e.sym, ConstSym):
            return self.const(e.ty, e.sym.value)
        addr, align, vol = self.lvalue(e)
        return self.load(addr, e.ty, align, vol)

    def expr_Subscript(self, e: A.Subscript) -> ir.Value:
        addr, align, vol = self.lvalue(e)
        return self.load(addr, e.ty, align, vol)

    def expr_Convert(self, e: A.Convert) -> ir.Value:
        if e.how == "decay":
            addr, _, _ = self.lvalue(e.value)
            return addr
        if e.how == "null":
            return ir.Constant(PTR, None)
        if e.how == "const":
            return self.const(e.ty, e.const)
        v = self.expr(e.value)
        return self.convert(v, e.value.ty, e.ty)

    def convert(self, v: ir.Value, frm: T.Type, to: T.Type) -> ir.Value:
        """Integer/bool/pointer conversion (explicit casts and widening)."""
        if isinstance(to, T.BoolType):
            if isinstance(frm, T.BoolType):
                return v
            zero = ir.Constant(v.type, None) if isinstance(v.type, ir.PointerType) else ir.Constant(v.type, 0)
            return self.b.icmp_unsigned("!=", v, zero)
        if isinstance(to, T.IntType):
            dst = ir.IntType(to.bits)
            if isinstance(frm, (T.PtrType, T.FnType, T.NullType)):
                v = self.b.ptrtoint(v, I32)
                frm = T.U32
            if isinstance(frm, T.BoolType):
                return self.b.zext(v, dst)
            src_bits = v.type.width
            if src_bits == to.bits:
                return v
            if src_bits > to.bits:
                return self.b.trunc(v, dst)
            return self.b.sext(v, dst) if frm.signed else self.b.zext(v, dst)
        if isinstance(to, (T.PtrType, T.FnType, T.VaListType)):
            if isinstance(v.type, ir.PointerType):
                return v
            if isinstance(frm, T.IntType) and frm.bits != 32:
                v = self.b.trunc(v, I32) if frm.bits > 32 else (self.b.sext(v, I32) if frm.signed else self.b.zext(v, I32))
            return self.b.inttoptr(v, PTR)
        raise AssertionError(f"convert {frm} -> {to}")

    def operand(self, e: A.Expr, t: T.Type) -> ir.Value:
        """Evaluate e as a value of type t (literals get t's width)."""
        if e.const is not None and isinstance(t, (T.IntType, T.BoolType)):
            return self.const(t, e.const)
        v = self.expr(e)
        if isinstance(e.ty, T.NullType) or isinstance(t, (T.PtrType, T.FnType)):
            return v if isinstance(v.type, ir.PointerType) else self.convert(v, e.ty, t)
        if isinstance(t, T.IntType) and isinstance(e.ty, T.IntType) and e.ty.bits != t.bits:
            return self.convert(v, e.ty, t)
        return v

    def expr_UnaryOp(self, e: A.UnaryOp) -> ir.Value:
        if e.op == "not":
            return self.b.not_(self.truth(e.operand))
        v = self.expr(e.operand)
        if e.op == "-":
            return self.b.neg(v)
        if e.op == "~":
            return self.b.not_(v)
        return v

    def expr_BinOp(self, e: A.BinOp) -> ir.Value:
        lt, rt = e.left.ty, e.right.ty
        if isinstance(e.ty, T.IntType) and isinstance(lt, T.PtrType) and isinstance(rt, T.PtrType):
            a = self.b.ptrtoint(self.expr(e.left), I32)
            b = self.b.ptrtoint(self.expr(e.right), I32)
            diff = self.b.sub(a, b)
            size = max(lt.target.size, 1)
            return self.b.sdiv(diff, ir.Constant(I32, size)) if size != 1 else diff
        if isinstance(e.ty, T.PtrType):
            p = self.expr(e.left)
            return self.ptr_offset(p, e.ty, self.expr(e.right), rt, negate=(e.op == "-"))
        left = self.operand(e.left, e.ty)
        right = self.expr(e.right) if e.op in ("<<", ">>") else self.operand(e.right, e.ty)
        return self.arith(e.op, left, right, e.ty, rt)

    def arith(self, op: str, a: ir.Value, b: ir.Value, t: T.IntType, bt: T.Type) -> ir.Value:
        if op in ("<<", ">>"):
            if b.type.width != a.type.width:
                b = self.b.trunc(b, a.type) if b.type.width > a.type.width else self.b.zext(b, a.type)
            # The count is taken modulo the width (as x86 does): never LLVM poison.
            b = self.b.and_(b, ir.Constant(a.type, a.type.width - 1))
            if op == "<<":
                return self.b.shl(a, b)
            return self.b.ashr(a, b) if t.signed else self.b.lshr(a, b)
        signed = t.signed
        if op in ("//", "%") and not _safe_divisor(b, signed):
            b = self.opaque(b)
        return {
            "+": lambda: self.b.add(a, b), "-": lambda: self.b.sub(a, b), "*": lambda: self.b.mul(a, b),
            "//": lambda: self.b.sdiv(a, b) if signed else self.b.udiv(a, b),
            "%": lambda: self.b.srem(a, b) if signed else self.b.urem(a, b),
            "&": lambda: self.b.and_(a, b), "|": lambda: self.b.or_(a, b), "^": lambda: self.b.xor(a, b),
        }[op]()

    def opaque(self, v: ir.Value) -> ir.Value:
        """`v`, hidden from the optimiser by an empty asm (no instruction).
        A divisor it could prove zero (or -1 with INT_MIN) would make the
        division poison and be folded away; hidden, the div instruction
        stays and raises #DE as the CPU does. A 64-bit value goes as two
        halves (one 32-bit register each)."""
        if v.type.width > 32:
            lo = self.opaque(self.b.trunc(v, I32))
            hi = self.opaque(self.b.trunc(self.b.lshr(v, ir.Constant(v.type, 32)), I32))
            wide = self.b.shl(self.b.zext(hi, v.type), ir.Constant(v.type, 32))
            return self.b.or_(wide, self.b.zext(lo, v.type))
        return self.b.asm(ir.FunctionType(v.type, [v.type]), "", "=r,0", [v], side_effect=False)

    def ptr_offset(self, p: ir.Value, pt: T.PtrType, n: ir.Value, nt: T.Type, negate: bool) -> ir.Value:
        if isinstance(nt, T.IntType) and nt.bits != 32:
            n = self.b.trunc(n, I32) if nt.bits > 32 else (self.b.sext(n, I32) if nt.signed else self.b.zext(n, I32))
        if negate:
            n = self.b.neg(n)
        elem = I8 if isinstance(pt.target, T.VoidType) else self.types.mem(pt.target)
        return self.b.gep(p, [n], source_etype=elem)

    def expr_Compare(self, e: A.Compare) -> ir.Value:
        if len(e.ops) == 1:
            return self.compare(e.ops[0], e.operands[0], e.operands[1], e.cmp_types[0])
        # a < b < c: evaluate each operand once, short-circuit like `and`.
        end_bb = self.fn.append_basic_block("cmp.end")
        results = []
        values = {}
        for i, op in enumerate(e.ops):
            r = self.compare(op, e.operands[i], e.operands[i + 1], e.cmp_types[i], values)
            results.append((r, self.b.block))
            if i < len(e.ops) - 1:
                nxt = self.fn.append_basic_block("cmp.next")
                self.b.cbranch(r, nxt, end_bb)
                self.b.position_at_end(nxt)
        self.b.branch(end_bb)
        self.b.position_at_end(end_bb)
        phi = self.b.phi(I1)
        for r, bb in results:
            phi.add_incoming(r, bb)
        return phi

    def compare(self, op: str, a: A.Expr, b: A.Expr, t: T.Type, cache=None) -> ir.Value:
        def val(x):
            if cache is not None and id(x) in cache:
                return self.retype(cache[id(x)], x.ty, t)
            raw = self.expr(x) if x.const is None or not isinstance(t, (T.IntType, T.BoolType)) else None
            if cache is not None and raw is not None:
                cache[id(x)] = raw
            if raw is None:
                return self.const(t, x.const)
            return self.retype(raw, x.ty, t)
        if isinstance(t, T.LiteralIntType):
            t = T.literal_type_for(max(abs(a.const), abs(b.const)))
        av, bv = val(a), val(b)
        if isinstance(t, (T.PtrType, T.FnType)):
            return self.b.icmp_unsigned(op, av, bv)
        if isinstance(t, T.IntType) and t.signed:
            return self.b.icmp_signed(op, av, bv)
        return self.b.icmp_unsigned(op, av, bv)

    def retype(self, v: ir.Value, frm: T.Type, to: T.Type) -> ir.Value:
        if isinstance(to, (T.PtrType, T.FnType)):
            return v
        if isinstance(to, T.IntType) and isinstance(frm, T.IntType) and frm.bits != to.bits:
            return self.convert(v, frm, to)
        return v

    def expr_BoolOp(self, e: A.BoolOp) -> ir.Value:
        yes = self.fn.append_basic_block("bool.true")
        no = self.fn.append_basic_block("bool.false")
        end = self.fn.append_basic_block("bool.end")
        self.branch(e, yes, no)
        self.b.position_at_end(yes)
        self.b.branch(end)
        self.b.position_at_end(no)
        self.b.branch(end)
        self.b.position_at_end(end)
        phi = self.b.phi(I1)
        phi.add_incoming(ir.Constant(I1, 1), yes)
        phi.add_incoming(ir.Constant(I1, 0), no)
        return phi

    def expr_IfExp(self, e: A.IfExp) -> ir.Value:
        yes = self.fn.append_basic_block("cond.true")
        no = self.fn.append_basic_block("cond.false")
        end = self.fn.append_basic_block("cond.end")
        self.branch(e.test, yes, no)
        self.b.position_at_end(yes)
        a = self.operand(e.body, e.ty)
        a_bb = self.b.block
        self.b.branch(end)
        self.b.position_at_end(no)
        c = self.operand(e.orelse, e.ty)
        c_bb = self.b.block
        self.b.branch(end)
        self.b.position_at_end(end)
        phi = self.b.phi(a.type)
        phi.add_incoming(a, a_bb)
        phi.add_incoming(c, c_bb)
        return phi

    # ---- lvalues: (address, alignment, volatile) ---------------------------------------
    def lvalue(self, e: A.Expr):
        if isinstance(e, (A.Name, A.Attribute)) and isinstance(getattr(e, "sym", None), LocalVar):
            return self.slot_of(e.sym), None, False
        if isinstance(e, (A.Name, A.Attribute)) and isinstance(getattr(e, "sym", None), GlobalVar):
            return self.ml.global_var(e.sym), None, False
        if isinstance(e, A.Attribute):
            f: T.StructField = e.sym
            if isinstance(e.value.ty, T.PtrType):
                base = self.expr(e.value)
                st = e.value.ty.target
                vol = e.value.ty.volatile
            else:
                base, _, vol = self.lvalue(e.value)
                st = e.value.ty
            addr = self.field_addr(base, st, f)
            align = 1 if st.packed else None
            return addr, align, vol
        if isinstance(e, A.Subscript):
            idx = e.index[0]
            n = self.expr(idx)
            if isinstance(idx.ty, T.IntType) and idx.ty.bits != 32:
                n = self.convert(n, idx.ty, T.ISIZE if idx.ty.signed else T.USIZE)
            if isinstance(e.value.ty, T.PtrType):
                base = self.expr(e.value)
                elem = self.types.mem(e.value.ty.target)
                return self.b.gep(base, [n], source_etype=elem), None, e.value.ty.volatile
            base, align, vol = self.lvalue(e.value)
            addr = self.b.gep(base, [ir.Constant(I32, 0), n], source_etype=self.types.mem(e.value.ty))
            return addr, align, vol
        raise AssertionError(f"not an lvalue: {e}")

    # ---- calls ------------------------------------------------------------------------------
    def expr_Call(self, e: A.Call) -> ir.Value:
        return getattr(self, "call_" + e.kind)(e)

    def call_args(self, e: A.Call, ft: T.FnType) -> list[ir.Value]:
        out = []
        for i, a in enumerate(e.args):
            v = self.expr(a)
            if isinstance(a.ty, T.BoolType):
                v = self.b.zext(v, I8 if i < len(ft.params) else I32)
            out.append(v)
        return out

    def finish_call(self, call: ir.Value, ret: T.Type) -> ir.Value:
        if isinstance(ret, T.BoolType):
            return self.b.trunc(call, I1)
        if isinstance(ret, T.IntType) and ret.bits < 32:
            return self.b.trunc(call, ir.IntType(ret.bits))
        return call

    def call_direct(self, e: A.Call) -> ir.Value:
        fn = self.ml.function(e.func.sym)
        call = self.b.call(fn, self.call_args(e, e.func.ty))
        return self.finish_call(call, e.func.ty.ret)

    def call_indirect(self, e: A.Call) -> ir.Value:
        ft: T.FnType = e.func.ty
        target = self.expr(e.func)
        args = self.call_args(e, ft)
        fnty = self.types.fn(ft)
        shown = str(fnty) if ft.varargs else str(fnty.return_type)
        instr = CustomCall(self.b.block, fnty.return_type, f"{shown} {{callee}}", args, [""] * len(args),
                           callee_value=target)
        self.b._insert(instr)
        return self.finish_call(instr, ft.ret)

    def call_cast(self, e: A.Call) -> ir.Value:
        a = e.args[0]
        return self.convert(self.expr(a), a.ty, e.ty)

    def call_const(self, e: A.Call) -> ir.Value:
        return self.const(e.ty, e.const)

    def call_addr(self, e: A.Call) -> ir.Value:
        return self.lvalue(e.args[0])[0]

    def call_addr_fn(self, e: A.Call) -> ir.Value:
        return self.ml.function(e.args[0].sym)

    def call_va_arg(self, e: A.Call) -> ir.Value:
        ap_addr, _, _ = self.lvalue(e.args[0])
        t = e.info
        cursor = self.b.load(ap_addr, typ=PTR)
        value = self.load(cursor, t, align=4)
        step = (t.size + 3) // 4 * 4
        self.store(self.b.gep(cursor, [ir.Constant(I32, step)], source_etype=I8), ap_addr, T.VALIST)
        return value

    def call_volatile_load(self, e: A.Call) -> ir.Value:
        p = self.expr(e.args[0])
        return self.load(p, e.ty, volatile=True)

    def call_volatile_store(self, e: A.Call) -> ir.Value:
        p = self.expr(e.args[0])
        v = self.expr(e.args[1])
        self.store(v, p, e.args[0].ty.target, volatile=True)
        return None

    def call_unreachable(self, e: A.Call) -> ir.Value:
        # llvm.trap (ud2) first: reaching it is a #UD with the address,
        # not a fall into whatever code comes next.
        self.b.call(self.ml.intrinsic("llvm.trap", VOIDT, []), [])
        self.b.unreachable()
        return None

    def call_asm(self, e: A.Call) -> ir.Value:
        from .lower_asm import lower_asm
        return lower_asm(self, e.info)
