"""compile_file / compile_source: kpy source -> ELF32 i386 object (or IR/asm).

The pipeline: parse (lark) -> syntax tree -> module loading and imports ->
type check -> lowering (llvmlite IR) -> LLVM optimisation -> emission.
Every user error is a CompileError; any other exception is an internal
compiler error, reported as such (never a bare traceback from the CLI).
"""
from __future__ import annotations

import re
import traceback
from pathlib import Path

from .diagnostics import Abort, CompileError, Diagnostic, DiagnosticSink, Loc
from .sourceroots import module_name_for

# The front end, LLVM and the lowering are imported when first needed: a
# no-change rebuild only asks the cache, and `import compiler.driver` (for
# CompileError) must not cost it the ~60 ms of loading lark and llvmlite.

__all__ = ["compile_file", "compile_source", "CompileError", "module_name_for"]


def compile_file(path, roots=(), opt: int = 2, debug: bool = False, emit: str = "obj"):
    path = Path(path)
    roots = [Path(r) for r in roots]
    try:
        src = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CompileError([Diagnostic(Loc(str(path), 1, 1), f"cannot read source file: {e}")])
    module = module_name_for(path, roots)
    return compile_source(src, filename=str(path), module=module, roots=roots, opt=opt, debug=debug, emit=emit)


def compile_source(src: str, filename: str = "<input>.kpy", module: str | None = None, roots=(),
                   opt: int = 2, debug: bool = False, emit: str = "obj"):
    result = compile_module(src, filename, module, roots, opt, debug, emit)
    return result.output


class CompileResult:
    def __init__(self, output, program: Program, info: ModuleInfo, resolver: Resolver):
        self.output = output
        self.program = program
        self.info = info
        self.resolver = resolver


def compile_module(src: str, filename: str, module: str | None, roots, opt: int, debug: bool,
                   emit: str) -> CompileResult:
    if emit not in ("obj", "llvm", "asm"):
        raise ValueError(f"emit must be 'obj', 'llvm' or 'asm', not {emit!r}")
    if opt not in (0, 1, 2, 3):
        raise ValueError(f"opt must be 0..3, not {opt!r}")
    from . import target
    module = module or Path(filename).stem
    sink = DiagnosticSink()
    try:
        program, info, resolver = check_program(src, filename, module, roots, sink)
        ir_text = lower_module(info, resolver, sink, debug, opt)
        try:
            output = emit_output(ir_text, opt, emit)
        except target.EmitFailure as e:
            raise CompileError(asm_diagnostics(e.report, info, resolver, filename))
        report_warnings(sink)
    except CompileError:
        raise
    except RecursionError:
        raise CompileError([Diagnostic(Loc(filename, 1, 1), "expression or statement nesting too deep")])
    except Exception as e:  # a bug in kpyc, not in the user's program
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise CompileError([Diagnostic(
            Loc(filename, 1, 1),
            f"internal compiler error: {type(e).__name__}: {e} "
            f"(at {Path(where.filename).name}:{where.lineno}; please report with this source)")])
    result = CompileResult(output, program, info, resolver)
    result.warnings = list(sink.warnings)
    return result


def report_warnings(sink: DiagnosticSink) -> None:
    """Warnings go to stderr as the compile finishes (a cached object does
    not repeat them); they never fail the build."""
    if sink.warnings:
        import sys
        print("\n".join(w.format() for w in sink.warnings), file=sys.stderr)


def check_only(src: str, filename: str, module: str, roots) -> CompileResult:
    """The front end only (parse, imports, types): for learning interfaces."""
    sink = DiagnosticSink()
    program, info, resolver = check_program(src, filename, module, roots, sink)
    return CompileResult(None, program, info, resolver)


def check_program(src: str, filename: str, module: str, roots, sink: DiagnosticSink):
    from .checker import Checker
    from .declarations import Resolver
    from .modules import Program
    program = Program([Path(r) for r in roots], sink)
    try:
        info = program.add_source(module, filename, src)
    except Abort:
        sink.raise_if_errors()
        raise
    resolver = Resolver(program, sink)
    resolver.checker_factory = lambda m: Checker(resolver, m)
    for sym in list(info.symbols.values()):
        try:
            check_symbol(resolver, info, sym)
        except Abort:
            pass
        except RecursionError:
            sink.error(sym.loc, f"an expression in '{sym.name}' is nested too deeply; split it into several statements")
    check_symbol_names(info, sink)
    sink.raise_if_errors()
    return program, info, resolver


def check_symbol_names(info: ModuleInfo, sink: DiagnosticSink) -> None:
    """Two definitions of one module must not claim the same ELF symbol."""
    from .symbols import FuncSym, GlobalVar
    seen: dict[str, object] = {}
    for sym in info.symbols.values():
        if not isinstance(sym, (FuncSym, GlobalVar)) or not sym.link_name:
            continue
        other = seen.get(sym.link_name)
        if other is not None:
            sink.error(sym.loc, f"symbol '{sym.link_name}' is also defined at line {other.loc.line} (see @export)")
        seen[sym.link_name] = sym


def check_symbol(resolver: Resolver, info: ModuleInfo, sym) -> None:
    from .checker import Checker, check_global
    from .symbols import ConstSym, FuncSym, GlobalVar, TypeSym
    if isinstance(sym, TypeSym):
        resolver.complete_struct(sym)
    elif isinstance(sym, ConstSym):
        resolver.resolve_const(sym)
    elif isinstance(sym, GlobalVar):
        check_global(Checker(resolver, info), sym)
    elif isinstance(sym, FuncSym):
        Checker(resolver, info).check_function(sym)


def lower_module(info: ModuleInfo, resolver: Resolver, sink: DiagnosticSink, debug: bool, opt: int) -> str:
    from . import target
    from .irtext import add_module_asm
    from .lowering import ModuleLowering, NotConstant
    lowering = ModuleLowering(info, resolver, target.TRIPLE, target.data_layout(), debug)
    try:
        mod = lowering.lower()
    except NotConstant as e:
        sink.error(e.expr.loc, e.message or "a global's initialiser must be a constant expression "
                                            "(integers, strings, addr(global), function names, lists)")
        sink.raise_if_errors()
    text = str(mod)
    return add_module_asm(text, [chunk for chunk, _ in info.global_asm])


def emit_output(ir_text: str, opt: int, emit: str):
    """Parse, verify, optimise and emit in a forked child (where fork exists):
    LLVM reports some errors (asm text, a module its verifier rejects) by
    exiting or aborting the process, which must not take kpyc down."""
    from . import target
    return target.isolated(_emit_here, ir_text, opt, emit)


def _emit_here(ir_text: str, opt: int, emit: str):
    from . import target
    try:
        mod = target.parse_ir(ir_text)
    except RuntimeError as e:
        raise InternalIRError(str(e), ir_text)
    target.optimise(mod, opt)
    if emit == "llvm":
        return str(mod)
    step = target.emit_assembly if emit == "asm" else target.emit_object
    return step(mod, opt)


def asm_diagnostics(report: str, info: ModuleInfo, resolver: Resolver, filename: str) -> list[Diagnostic]:
    """LLVM's complaints about asm text, located at the kpy asm(...) or
    global_asm(...) line that holds the offending instruction."""
    sites = asm_sites(info)
    out = []
    lines = report.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(?:.*?)error: (?:<inline asm>|<unknown>):\d+:\d+: (.*)$", line)
        if not m:
            continue
        text = lines[i + 1].strip() if i + 1 < len(lines) else ""
        loc = Loc(filename, 1, 1)
        for template, where in sites:
            for k, tline in enumerate(template.split("\n")):
                if text and _template_line_matches(tline.strip(), text):
                    loc = Loc(where.file, where.line + k, where.col if k == 0 else 1)
                    text = tline.strip()        # the user's line, with $N, not LLVM's registers
                    break
            else:
                continue
            break
        out.append(Diagnostic(loc, f"asm: {m.group(1)}" + (f" in '{text}'" if text else ""),
                              "error", _source_line(info, loc)))
    if not out:
        # A message without the instruction text (bad constraint, bad operand):
        # locate it by the quoted piece LLVM names, else at the only asm site.
        loc = Loc(filename, 1, 1)
        quoted = re.findall(r"'([^'\s]+)'", report)
        for constraints, where in asm_sites(info, only_constraints=True):
            # A constraint LLVM names ('i') is compared with whole constraints,
            # not searched in the template text (where 'i' is in "cli").
            if any(q.lstrip("=+*&") in [c.lstrip("=+*&") for c in constraints.split()] for q in quoted):
                loc = where
                break
        else:
            inline = asm_sites(info, only_constraints=True)
            if inline:
                # No clue in the message: the asm with the most operands.
                loc = max(inline, key=lambda s: len(s[0].split()))[1]
        first = report.strip().splitlines()[0] if report.strip() else "LLVM stopped"
        prefix = "asm: " if asm_sites(info) else "LLVM rejected the module: "
        out.append(Diagnostic(loc, prefix + first.removeprefix("error: "), "error", _source_line(info, loc)))
    return out


def _template_line_matches(tline: str, text: str) -> bool:
    """Is `text` (LLVM's instruction, operands substituted) this template
    line? `$N` / `${N:x}` stand for whatever LLVM put there."""
    if tline == text:
        return True
    if "$" not in tline:
        return False
    parts = re.split(r"\$(?:\{\d+(?::[a-zA-Z])?\}|\d+)", tline.replace("$$", "\0"))
    pattern = "(.+?)".join(re.escape(p).replace("\0", r"\$") for p in parts)
    return re.fullmatch(pattern, text) is not None


def asm_sites(info: ModuleInfo, only_constraints: bool = False) -> list[tuple[str, Loc]]:
    """(asm text, location) of every global_asm and asm(...) of the module;
    only_constraints: (the asm(...) calls' constraints, space-separated, location)."""
    from . import astnodes as A
    sites = [] if only_constraints else [(text, loc) for text, loc in info.global_asm]

    def visit(node):
        if isinstance(node, A.Call) and node.kind == "asm" and node.info is not None:
            a = node.info
            text = a.template
            if only_constraints:
                text = " ".join(([a.result[0]] if a.result else []) + [o.constraint for o in a.outputs + a.inputs])
            sites.append((text, node.loc))
        for value in getattr(node, "__dict__", {}).values():
            for child in (value if isinstance(value, list) else [value]):
                if isinstance(child, A.Node):
                    visit(child)
    visit(info.ast)
    return sites


def _source_line(info: ModuleInfo, loc: Loc) -> str | None:
    lines = info.source.splitlines()
    return lines[loc.line - 1] if 1 <= loc.line <= len(lines) else None


class InternalIRError(Exception):
    def __init__(self, message: str, ir_text: str):
        super().__init__(message)
        self.ir_text = ir_text
