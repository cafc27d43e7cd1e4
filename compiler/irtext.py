"""The LLVM IR text llvmlite cannot print for us.

llvmlite's IR builder covers most of kpy, but drops `volatile`, knows only
a fixed list of function attributes, cannot print `elementtype(...)` on
inline-asm memory operands, `byval(...)` with opaque pointers, function
alignment, or module-level asm. Those pieces are instruction and function
subclasses here, so the module prints correct IR text in one pass.
"""
from __future__ import annotations

from llvmlite import ir
from llvmlite.ir.instructions import Instruction, LoadInstr, StoreInstr


def escape_ir_string(text: str | bytes) -> str:
    """Escape for an LLVM IR string literal ("...")."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    out = []
    for b in data:
        if b == 0x22 or b == 0x5C or b < 0x20 or b >= 0x7F:
            out.append("\\%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


class VolatileLoad(LoadInstr):
    def descr(self, buf):
        inner: list[str] = []
        super().descr(inner)
        buf.append(inner[0].replace("load ", "load volatile ", 1))


class VolatileStore(StoreInstr):
    def descr(self, buf):
        inner: list[str] = []
        super().descr(inner)
        buf.append(inner[0].replace("store ", "store volatile ", 1))


class CustomCall(Instruction):
    """A call whose callee text we render ourselves: inline asm (with
    elementtype on indirect operands) or an indirect call through a pointer."""

    def __init__(self, parent, ret_type, callee_text: str, args, arg_prefixes, name="", callee_value=None):
        ops = ([callee_value] if callee_value is not None else []) + list(args)
        super().__init__(parent, ret_type, "call", ops, name=name)
        self.callee_text = callee_text
        self.call_args = list(args)
        self.arg_prefixes = list(arg_prefixes)
        self.callee_value = callee_value

    def descr(self, buf):
        args = ", ".join(f"{a.type} {pre}{a.get_reference()}" for a, pre in zip(self.call_args, self.arg_prefixes))
        callee = self.callee_text
        if self.callee_value is not None:
            callee = callee.replace("{callee}", self.callee_value.get_reference())
        buf.append(f"call {callee}({args}){self._stringify_metadata(leading_comma=True)}\n")


class KFunction(ir.Function):
    """An ir.Function that can also print string attributes, parameter
    attributes such as byval(<type>), and an alignment."""

    def __init__(self, module, ftype, name):
        super().__init__(module, ftype, name)
        self.extra_attrs: list[str] = []
        self.param_attr_text: dict[int, str] = {}
        self.fn_align: int | None = None
        self.type = ir.PointerType()     # opaque, whatever llvmlite's default

    @property
    def function_type(self):
        return self.ftype

    def descr_prototype(self, buf):
        inner: list[str] = []
        saved = self.section
        self.section = None
        try:
            super().descr_prototype(inner)
        finally:
            self.section = saved
        text = inner[0]
        for i, attr in self.param_attr_text.items():
            arg = self.args[i]
            text = text.replace(f"{arg.type} {arg.get_reference()}", f"{arg.type} {attr} {arg.get_reference()}", 1)
        head, sep, meta = text.rstrip("\n").partition(" !dbg ")
        tail = ""
        if self.extra_attrs:
            tail += " " + " ".join(self.extra_attrs)
        if self.section:
            tail += f' section "{escape_ir_string(self.section)}"'
        if self.fn_align:
            tail += f" align {self.fn_align}"
        buf.append(head + tail + (sep + meta if sep else "") + "\n")


def add_module_asm(ir_text: str, chunks: list[str]) -> str:
    """Insert `module asm` lines after the target lines of the module."""
    if not chunks:
        return ir_text
    lines = []
    for chunk in chunks:
        for line in chunk.split("\n"):
            lines.append(f'module asm "{escape_ir_string(line)}"')
    out, inserted = [], False
    for line in ir_text.split("\n"):
        out.append(line)
        if not inserted and line.startswith("target datalayout"):
            out.extend(lines)
            inserted = True
    if not inserted:
        out = lines + out
    return "\n".join(out)
