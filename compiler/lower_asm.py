"""Inline asm -> an LLVM inline-asm call.

Operand numbering follows docs/language.md: the result first, then the
outputs, then the inputs. Register outputs come back as the call's value
(a struct when there are several); memory outputs and `*m` inputs pass an
address with `elementtype(T)`, as LLVM requires.
"""
from __future__ import annotations

from llvmlite import ir

from . import typesys as T
from .builtins import AsmInfo
from .irtext import CustomCall, escape_ir_string

PTR = ir.PointerType()
# x86 inline asm may change the direction flag, x87 status and EFLAGS: clang
# always lists these, so do we.
ALWAYS_CLOBBERED = ["~{dirflag}", "~{fpsr}", "~{flags}"]


# GCC's one-letter register constraints, which LLVM's IR spells by name
# (clang translates them the same way).
_GCC_REGISTER_LETTERS = {"a": "{eax}", "b": "{ebx}", "c": "{ecx}", "d": "{edx}", "S": "{esi}", "D": "{edi}"}


def _llvm_constraint(c: str) -> str:
    """'=D' -> '={edi}'; anything else unchanged."""
    prefix = ""
    while c and c[0] in "=+&*":
        prefix, c = prefix + c[0], c[1:]
    return prefix + _GCC_REGISTER_LETTERS.get(c, c)


def _clobber(name: str) -> str:
    if name == "cc":
        return "~{flags}"
    return "~{" + name + "}"


def _indirect(c: str) -> str:
    """'=m' -> '=*m' (LLVM spells memory operands as indirect)."""
    if "*" in c:
        return c
    if c.startswith("=") or c.startswith("+"):
        return c[0] + "*" + c[1:]
    return "*" + c


def lower_asm(fl, info: AsmInfo) -> ir.Value | None:
    b = fl.b
    types = fl.types
    constraints: list[str] = []
    ret_types: list[ir.Type] = []
    stores = []          # (lvalue address, align, volatile, kpy type) for register outputs
    args: list[ir.Value] = []
    prefixes: list[str] = []
    tied = []            # ("+r" outputs) (output number, current value): inputs after the user's

    if info.result is not None:
        c, t = info.result
        constraints.append(_llvm_constraint(c))
        ret_types.append(types.mem(t) if not isinstance(t, T.BoolType) else ir.IntType(8))
    for out in info.outputs:
        addr, align, vol = fl.lvalue(out.expr)
        if out.indirect:
            constraints.append(_indirect(out.constraint).replace("+", "="))
            args.append(addr)
            prefixes.append(f"elementtype({types.mem(out.elem_type)}) ")
        else:
            if out.constraint.startswith("+"):
                # Read-write register: an output, and an input tied to it
                # (LLVM has no "+r"); the tied input goes after the user's
                # inputs so the user's $N numbering is unchanged.
                v = fl.load(addr, out.elem_type, align, vol)
                if isinstance(out.elem_type, T.BoolType):
                    v = b.zext(v, ir.IntType(8))
                tied.append((len(constraints), v))
            constraints.append(_llvm_constraint(out.constraint).replace("+", "=", 1))
            ret_types.append(types.mem(out.elem_type))
            stores.append((addr, align, vol, out.elem_type))
    for inp in info.inputs:
        if inp.indirect:
            constraints.append(_indirect(inp.constraint))
            args.append(fl.expr(inp.expr))
            prefixes.append(f"elementtype({types.mem(inp.elem_type)}) ")
        else:
            v = fl.expr(inp.expr)
            if isinstance(inp.expr.ty, T.BoolType):
                v = b.zext(v, ir.IntType(8))
            constraints.append(_llvm_constraint(inp.constraint))
            args.append(v)
            prefixes.append("")
    for number, v in tied:
        constraints.append(str(number))
        args.append(v)
        prefixes.append("")
    constraints += [_clobber(c) for c in info.clobbers] + ALWAYS_CLOBBERED

    if not ret_types:
        ret = ir.VoidType()
    elif len(ret_types) == 1:
        ret = ret_types[0]
    else:
        ret = ir.LiteralStructType(ret_types)
    side = " sideeffect" if info.volatile else ""
    callee = f'{ret} asm{side} "{escape_ir_string(info.template)}", "{escape_ir_string(",".join(constraints))}"'
    call = CustomCall(b.block, ret, callee, args, prefixes)
    b._insert(call)

    # Register outputs: store to their lvalues, in order.
    first_out = 1 if info.result is not None else 0
    for i, (addr, align, vol, t) in enumerate(stores):
        v = call if len(ret_types) == 1 else b.extract_value(call, first_out + i)
        if isinstance(t, T.BoolType):
            v = b.trunc(v, ir.IntType(1))
        fl.store(v, addr, t, align, vol)
    if info.result is None:
        return None
    v = call if len(ret_types) == 1 else b.extract_value(call, 0)
    if isinstance(info.result[1], T.BoolType):
        v = b.trunc(v, ir.IntType(1))
    return v
