"""Modules: finding a module's file under the source roots, parsing it once,
collecting its top-level symbols and following its imports (cycles are an
error that names the cycle)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from . import astnodes as A
from .astbuild import build_module
from .diagnostics import Abort, CompileError, DiagnosticSink, Loc
from .parser import parse_source
from .sourceroots import module_path
from .symbols import ConstSym, FuncSym, GlobalVar, ModuleSym, Symbol, TypeSym
from .typesys import StructType


@dataclass(eq=False)
class ModuleInfo:
    name: str
    filename: str
    source: str
    ast: A.Module | None = None
    symbols: dict[str, Symbol] = field(default_factory=dict)     # its own top-level declarations
    scope: dict[str, Symbol] = field(default_factory=dict)       # declarations + imported names
    imports: list[str] = field(default_factory=list)             # modules it imports, in order
    global_asm: list[tuple[str, Loc]] = field(default_factory=list)
    # Names an import in error would have bound (the error is reported once,
    # at the import; uses of these names are not "unknown names" too).
    unresolved: set[str] = field(default_factory=set)

    @property
    def source_hash(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()


class Program:
    """All modules one compilation sees: the main one and what it imports."""

    def __init__(self, roots: list[Path], sink: DiagnosticSink):
        self.roots = [Path(r) for r in roots]
        self.sink = sink
        self.modules: dict[str, ModuleInfo] = {}
        self._loading: list[str] = []

    # ---- loading --------------------------------------------------------
    def add_source(self, name: str, filename: str, source: str, bodies: bool = True) -> ModuleInfo:
        """`bodies=False` for an imported module: only its declarations are used."""
        self.sink.add_source(filename, source)
        info = ModuleInfo(name, filename, source)
        self.modules[name] = info
        self._loading.append(name)
        try:
            try:
                tree = parse_source(source, filename)
            except CompileError as e:
                self.sink.diagnostics.extend(e.diagnostics)
                raise Abort()
            info.ast = build_module(tree, filename, name, self.sink, bodies)
            self._collect(info)
        finally:
            self._loading.pop()
        return info

    def load(self, name: str, loc: Loc) -> ModuleInfo | None:
        if name in self._loading:
            cycle = self._loading[self._loading.index(name):] + [name]
            self.sink.error(loc, "import cycle: " + " -> ".join(cycle))
            return None
        if name in self.modules:
            return self.modules[name]
        path = module_path(name, self.roots)
        if path is None:
            roots = ", ".join(str(r) for r in self.roots) or "(no source roots)"
            self.sink.error(loc, f"cannot find module '{name}' (searched {roots})")
            return None
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            self.sink.error(loc, f"cannot read module '{name}' ({path}): {e}")
            return None
        try:
            return self.add_source(name, str(path), source, bodies=False)
        except Abort:
            return None

    # ---- top-level declarations ------------------------------------------
    def _collect(self, info: ModuleInfo) -> None:
        for stmt in info.ast.body:
            try:
                self._collect_stmt(info, stmt)
            except Abort:
                pass

    def _define(self, info: ModuleInfo, sym: Symbol) -> None:
        old = info.symbols.get(sym.name)
        if old is not None:
            self.sink.error(sym.loc, f"'{sym.name}' is already defined at line {old.loc.line}")
            return
        if sym.name in info.scope:
            self.sink.error(sym.loc, f"'{sym.name}' is already imported into this module; rename one of them")
            return
        info.symbols[sym.name] = sym
        info.scope[sym.name] = sym

    def _collect_stmt(self, info: ModuleInfo, s: A.Stmt) -> None:
        if isinstance(s, A.ImportName):
            self._import_module(info, s)
        elif isinstance(s, A.ImportFrom):
            self._import_from(info, s)
        elif isinstance(s, A.FunctionDef):
            self._define(info, FuncSym(s.name, s.loc, info, s))
        elif isinstance(s, A.ClassDef):
            st = StructType(s.name, info.name)
            self._define(info, TypeSym(s.name, s.loc, st, s, info))
        elif isinstance(s, A.AnnAssign):
            if not isinstance(s.target, A.Name):
                self.sink.error(s.loc, "a module-level declaration must name a single variable")
                return
            table = _final_table_type(s.annotation)
            if table is not None:
                # Final[array[...]] / Final[Struct]: a read-only global in .rodata.
                decl = A.AnnAssign(s.loc, s.target, table, s.value)
                self._define(info, GlobalVar(s.target.id, s.target.loc, info, decl, readonly=True))
            elif _is_final(s.annotation):
                self._define(info, ConstSym(s.target.id, s.target.loc, info, s))
            else:
                self._define(info, GlobalVar(s.target.id, s.target.loc, info, s))
        elif isinstance(s, A.Assign):
            self.sink.error(s.loc, "a module-level variable needs a type annotation (`name: u32 = ...` or `name: Final = ...`)")
        elif isinstance(s, A.ExprStmt) and _is_call_to(s.value, "global_asm"):
            self._global_asm(info, s.value)
        elif isinstance(s, A.ExprStmt) and isinstance(s.value, (A.StrLit, A.EllipsisLit)):
            pass    # docstring
        elif isinstance(s, A.Pass):
            pass
        else:
            self.sink.error(s.loc, "only declarations, imports and global_asm(...) may appear at module level")

    def _global_asm(self, info: ModuleInfo, call: A.Call) -> None:
        if len(call.args) != 1 or call.keywords or not isinstance(call.args[0], A.StrLit):
            self.sink.error(call.loc, 'global_asm takes one string literal: global_asm("""...""")')
            return
        try:
            text = call.args[0].value.decode("utf-8")
        except UnicodeDecodeError:
            self.sink.error(call.loc, "global_asm text must be UTF-8")
            return
        info.global_asm.append((text, call.loc))

    def _import_module(self, info: ModuleInfo, s: A.ImportName) -> None:
        target = self.load(s.module, s.loc)
        if target is None:
            info.unresolved.add(s.alias or s.module.split(".")[0])
            return
        info.imports.append(s.module)
        if s.alias is not None:
            info.scope[s.alias] = ModuleSym(s.alias, s.loc, target)
            return
        # `import a.b` binds `a`; `a.b` is then found through package symbols.
        parts = s.module.split(".")
        if len(parts) == 1:
            info.scope[parts[0]] = ModuleSym(parts[0], s.loc, target)
        else:
            root = info.scope.get(parts[0])
            if not isinstance(root, PackageSym):
                root = PackageSym(parts[0], s.loc, None)
                info.scope[parts[0]] = root
            node = root
            for p in parts[1:-1]:
                node = node.children.setdefault(p, PackageSym(p, s.loc, None))
            node.children[parts[-1]] = ModuleSym(parts[-1], s.loc, target)

    def _bind(self, info: ModuleInfo, name: str, sym: Symbol, loc: Loc) -> None:
        old = info.symbols.get(name)
        if old is not None:
            self.sink.error(loc, f"'{name}' is already defined at line {old.loc.line}; import it under another name (as ...)")
            return
        info.scope[name] = sym

    def _import_from(self, info: ModuleInfo, s: A.ImportFrom) -> None:
        for name, alias, loc in s.names:
            submodule = f"{s.module}.{name}"
            # `from arch import time` imports a module when arch/time.kpy exists.
            if module_path(submodule, self.roots) is not None or submodule in self.modules:
                target = self.load(submodule, loc)
                if target is None:
                    info.unresolved.add(alias or name)
                if target is not None:
                    info.imports.append(submodule)
                    self._bind(info, alias or name, ModuleSym(alias or name, loc, target), loc)
                continue
            target = self.load(s.module, s.loc)
            if target is None:
                info.unresolved.update(alias or n for n, alias, _ in s.names)
                return
            if s.module not in info.imports:
                info.imports.append(s.module)
            sym = target.symbols.get(name)
            if sym is None:
                from .suggest import nearest
                hint = nearest(name, target.symbols.keys())
                self.sink.error(loc, f"module '{s.module}' has no '{name}'" + (f"; did you mean '{hint}'?" if hint else ""))
                info.unresolved.add(alias or name)
                continue
            if getattr(getattr(sym, "attrs", None), "static", False):
                self.sink.error(loc, f"'{name}' is @static in module '{s.module}'")
            self._bind(info, alias or name, sym, loc)


@dataclass(eq=False)
class PackageSym(Symbol):
    """`a` after `import a.b`: a namespace holding submodules."""
    module: object = None
    children: dict[str, Symbol] = field(default_factory=dict)


def _is_final(ann: A.Expr) -> bool:
    if isinstance(ann, A.Name):
        return ann.id == "Final"
    return isinstance(ann, A.Subscript) and isinstance(ann.value, A.Name) and ann.value.id == "Final"


_SCALAR_NAMES = ("u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "usize", "isize", "bool")


def _final_table_type(ann: A.Expr) -> A.Expr | None:
    """T of `Final[T]` when T is not an integer or bool (those are folded
    constants without storage): an array, a struct, a pointer."""
    if not (isinstance(ann, A.Subscript) and isinstance(ann.value, A.Name) and ann.value.id == "Final"
            and len(ann.index) == 1):
        return None
    inner = ann.index[0]
    if isinstance(inner, A.Name) and inner.id in _SCALAR_NAMES:
        return None
    return inner if isinstance(inner, (A.Name, A.Attribute, A.Subscript)) else None


def _is_call_to(e: A.Expr, name: str) -> bool:
    return isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id == name
