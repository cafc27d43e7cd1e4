"""kpy's types and their i386 layout (sizes and alignments as the i386
System V ABI, which is also what LLVM's i386 data layout gives)."""
from __future__ import annotations

from dataclasses import dataclass, field


class Type:
    size: int = 0
    align: int = 1

    @property
    def is_int(self) -> bool:
        return isinstance(self, IntType)

    @property
    def is_ptr(self) -> bool:
        return isinstance(self, PtrType)

    @property
    def is_scalar(self) -> bool:
        return isinstance(self, (IntType, BoolType, PtrType, FnType, NullType, LiteralIntType, VaListType))


@dataclass(frozen=True)
class IntType(Type):
    bits: int
    signed: bool
    name: str

    @property
    def size(self) -> int:
        return self.bits // 8

    @property
    def align(self) -> int:
        return min(self.size, 4)

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def wrap(self, v: int) -> int:
        v &= (1 << self.bits) - 1
        if self.signed and v >= 1 << (self.bits - 1):
            v -= 1 << self.bits
        return v

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class BoolType(Type):
    size = 1
    align = 1

    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class VoidType(Type):
    size = 1          # ptr[void] arithmetic steps by bytes (as GNU C)
    align = 1

    def __str__(self) -> str:
        return "None"


@dataclass(frozen=True)
class PtrType(Type):
    target: Type
    volatile: bool = False
    size = 4
    align = 4

    def __str__(self) -> str:
        inner = "void" if isinstance(self.target, VoidType) else str(self.target)
        return f"{'vptr' if self.volatile else 'ptr'}[{inner}]"


@dataclass(frozen=True)
class ArrayType(Type):
    elem: Type
    count: int

    @property
    def size(self) -> int:
        return self.elem.size * self.count

    @property
    def align(self) -> int:
        return self.elem.align

    def __str__(self) -> str:
        return f"array[{self.elem}, {self.count}]"


@dataclass(frozen=True)
class FnType(Type):
    params: tuple[Type, ...]
    ret: Type
    varargs: bool = False
    size = 4
    align = 4

    def __str__(self) -> str:
        ps = ", ".join(str(p) for p in self.params)
        if self.varargs:
            ps = ps + (", " if ps else "") + "*VaList"
        return f"fn[[{ps}], {self.ret}]"


@dataclass(frozen=True)
class VaListType(Type):
    size = 4
    align = 4

    def __str__(self) -> str:
        return "VaList"


@dataclass(frozen=True)
class NullType(Type):
    """The type of `None` used as a value: converts to any pointer."""
    size = 4
    align = 4

    def __str__(self) -> str:
        return "None"


@dataclass(frozen=True)
class LiteralIntType(Type):
    """An integer literal (or folded constant) not yet given a type."""
    size = 4
    align = 4

    def __str__(self) -> str:
        return "integer literal"


@dataclass(eq=False)
class StructField:
    name: str
    type: Type
    offset: int
    index: int


@dataclass(eq=False)
class StructType(Type):
    """C-layout struct; identity is the declaration (nominal typing)."""
    name: str
    module: str
    packed: bool = False
    union: bool = False         # `class U(Union):` every member at offset 0
    fields: list[StructField] = field(default_factory=list)
    complete: bool = False
    _size: int = 0
    _align: int = 1

    @property
    def size(self) -> int:
        return self._size

    @property
    def align(self) -> int:
        return self._align

    def layout(self, members: list[tuple[str, Type]]) -> None:
        offset, align = 0, 1
        self.fields = []
        for i, (name, ty) in enumerate(members):
            a = 1 if self.packed else ty.align
            offset = (offset + a - 1) // a * a
            if self.union:
                self.fields.append(StructField(name, ty, 0, i))
                offset = max(offset, ty.size)
            else:
                self.fields.append(StructField(name, ty, offset, i))
                offset += ty.size
            align = max(align, a)
        self._align = align
        self._size = (offset + align - 1) // align * align
        self.complete = True

    def field(self, name: str) -> StructField | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def __str__(self) -> str:
        return self.name

    def __hash__(self) -> int:
        return id(self)


def _int(name: str, bits: int, signed: bool) -> IntType:
    return IntType(bits, signed, name)


U8, U16, U32, U64 = _int("u8", 8, False), _int("u16", 16, False), _int("u32", 32, False), _int("u64", 64, False)
I8, I16, I32, I64 = _int("i8", 8, True), _int("i16", 16, True), _int("i32", 32, True), _int("i64", 64, True)
USIZE, ISIZE = _int("usize", 32, False), _int("isize", 32, True)
BOOL = BoolType()
VOID = VoidType()
NULL = NullType()
LITINT = LiteralIntType()
VALIST = VaListType()

INT_TYPES = {t.name: t for t in (U8, U16, U32, U64, I8, I16, I32, I64, USIZE, ISIZE)}


def same_int(a: IntType, b: IntType) -> bool:
    """usize is u32 and isize is i32 for every purpose but spelling."""
    return a.bits == b.bits and a.signed == b.signed


def same_type(a: Type, b: Type) -> bool:
    if isinstance(a, IntType) and isinstance(b, IntType):
        return same_int(a, b)
    if isinstance(a, PtrType) and isinstance(b, PtrType):
        return a.volatile == b.volatile and same_type(a.target, b.target)
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return a.count == b.count and same_type(a.elem, b.elem)
    if isinstance(a, FnType) and isinstance(b, FnType):
        return (a.varargs == b.varargs and len(a.params) == len(b.params)
                and same_type(a.ret, b.ret) and all(same_type(x, y) for x, y in zip(a.params, b.params)))
    if isinstance(a, StructType) or isinstance(b, StructType):
        return a is b
    return type(a) is type(b)


def literal_type_for(value: int) -> IntType:
    """The type an untyped literal gets when nothing else decides."""
    for t in (I32, U32, I64, U64):
        if t.min <= value <= t.max:
            return t
    return U64


def fits(value: int, t: IntType) -> bool:
    return t.min <= value <= t.max
