"""What a name can denote in kpy: the symbols of scopes and modules."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Loc
from .typesys import Type


@dataclass(eq=False)
class Symbol:
    name: str
    loc: Loc


@dataclass(eq=False)
class LocalVar(Symbol):
    ty: Type
    is_param: bool = False


@dataclass(eq=False)
class GlobalVar(Symbol):
    module: Any                    # ModuleInfo
    decl: Any                      # astnodes.AnnAssign
    ty: Type | None = None
    link_name: str = ""
    is_extern: bool = False
    is_static: bool = False
    readonly: bool = False         # a Final table: .rodata, stores are errors
    init: Any = None               # checked initialiser expression (or None: zero)


@dataclass(eq=False)
class ConstSym(Symbol):
    module: Any
    decl: Any
    ty: Type | None = None         # IntType, BoolType or LITINT
    value: int | None = None
    state: str = "new"             # new -> busy -> done (cycle detection)


@dataclass
class FuncAttrs:
    section: str | None = None
    naked: bool = False
    interrupt: bool = False
    noinline: bool = False
    export: str | None = None
    extern: bool = False
    static: bool = False
    align: int | None = None
    constructor: bool = False
    no_builtins: bool = False


@dataclass(eq=False)
class FuncSym(Symbol):
    module: Any
    decl: Any                      # astnodes.FunctionDef
    ty: Any = None                 # FnType, resolved lazily
    attrs: FuncAttrs = field(default_factory=FuncAttrs)
    link_name: str = ""
    params: list[LocalVar] = field(default_factory=list)
    varargs: LocalVar | None = None
    state: str = "new"


@dataclass(eq=False)
class TypeSym(Symbol):
    ty: Type
    decl: Any = None               # astnodes.ClassDef for structs
    module: Any = None
    state: str = "new"


@dataclass(eq=False)
class ModuleSym(Symbol):
    module: Any                    # ModuleInfo


@dataclass(eq=False)
class BuiltinSym(Symbol):
    pass
