"""The build driver: build.toml -> compiled modules -> linked targets -> disk image.

``build()`` reads ``kernel_src/build.toml`` (schema: docs/build-toml.md),
compiles each target's modules (following their imports), links every
target with compiler.linker, assembles build/disk.img with compiler.image,
and writes all outputs only once everything succeeded (temporary files
renamed at the end), so a failed build leaves the previous outputs intact.
"""
from __future__ import annotations

import ast
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .image import STAGE2_SECTORS, SECTOR, ImageError, KernelImage, disk_image
from .linker import LinkError, LinkResult, TargetLayout, link
from .linker.objfile import section_headers
from .sourceroots import is_file, one_build, resolved

BUILD_FILE = Path("kernel_src") / "build.toml"     # this repository's kernel
PROJECT_FILE = Path("build.toml")                   # a project of one's own (kpyc init)
DEFAULT_ROOTS = ["runtime", "kernel_src"]
_TOP_KEYS = {"build", "image", "targets"}


class BuildError(Exception):
    """A build failed; ``str(err)`` is the whole user-facing report."""


@dataclass
class TargetSpec:
    name: str
    layout: TargetLayout
    modules: list[str]
    follow_imports: bool
    sources: list[str]
    objects: list[str]


@dataclass
class BuildDescription:
    path: Path
    roots: list[Path]
    targets: dict[str, TargetSpec]
    mbr: str | None
    stage2: str | None
    kernel: str | None


@dataclass
class BuildResult:
    disk_image: Path
    kernel_elf: Path
    map_file: Path
    links: dict[str, LinkResult] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)


# ---- the description ---------------------------------------------------------

def description_path(project_root: Path) -> Path:
    """ROOT/build.toml for a project of one's own, else this repository's ROOT/kernel_src/build.toml."""
    own = project_root / PROJECT_FILE
    return own if own.is_file() else project_root / BUILD_FILE


def load_description(project_root: Path, path: Path | None = None) -> BuildDescription:
    path = path or description_path(project_root)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BuildError(f"{path}: build description not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{path}: invalid TOML: {exc}") from None
    return parse_description(project_root, path, table)


def parse_description(project_root: Path, path: Path, table: dict) -> BuildDescription:
    """The description from an already-parsed TOML table; every problem is a BuildError."""
    try:
        return _parse_description(project_root, path, table)
    except LinkError as exc:
        raise BuildError(f"{path}: {exc}") from None


def _parse_description(project_root: Path, path: Path, table: dict) -> BuildDescription:
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise BuildError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}; known: build, image, targets")
    build, image = table.get("build", {}), table.get("image", {})
    for name, value in (("build", build), ("image", image)):
        if not isinstance(value, dict):
            raise BuildError(f"{path}: [{name}] must be a table")
    unknown_image = set(image) - {"mbr", "stage2", "kernel"}
    if unknown_image:
        raise BuildError(f"{path}: [image] unknown key(s) {', '.join(sorted(unknown_image))}; known: mbr, stage2, kernel")
    for role, value in image.items():
        if not isinstance(value, str):
            raise BuildError(f"{path}: [image] {role} must be a target name (a string), not {value!r}")
    unknown_build = set(build) - {"roots"}
    if unknown_build:
        raise BuildError(f"{path}: [build] unknown key(s) {', '.join(sorted(unknown_build))}; known: roots")
    roots = build.get("roots", DEFAULT_ROOTS)
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise BuildError(f"{path}: [build] roots must be a list of directory names")
    targets_table = table.get("targets")
    if not isinstance(targets_table, dict) or not targets_table:
        raise BuildError(f"{path}: no [targets.NAME] tables")
    targets = {name: _parse_target(path, name, t) for name, t in targets_table.items()}
    desc = BuildDescription(path, _with_standard_roots([project_root / r for r in roots]), targets,
                            image.get("mbr"), image.get("stage2"), image.get("kernel"))
    _check_image_roles(desc)
    return desc


def _with_standard_roots(roots: list[Path]) -> list[Path]:
    """The project's roots, then the runtime and kpyc's kernel library (as clang
    always has libgcc): a project never lists them, and its own modules win."""
    from .resources import standard_roots
    resolved = [r.resolve() for r in roots]
    return resolved + [r for r in standard_roots() if r not in resolved]


# Target names become output file names: no path separators, no "..", no NUL.
_TARGET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}")


def _parse_target(path: Path, name: str, table: dict) -> TargetSpec:
    if not _TARGET_NAME.fullmatch(name) or ".." in name:
        raise BuildError(f"{path}: [targets.{name!r}] a target name must be a plain file name "
                         "(letters, digits, '_', '.', '+', '-'; no '/' or '..')")
    layout = TargetLayout.from_dict(name, table)
    lists = {}
    for key in ("modules", "sources", "objects"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BuildError(f"{path}: [targets.{name}] '{key}' must be a list of strings")
        lists[key] = value
    if not (lists["modules"] or lists["sources"] or lists["objects"]):
        raise BuildError(f"{path}: [targets.{name}] lists no modules, sources or objects")
    follow = table.get("follow_imports", True)
    if not isinstance(follow, bool):
        raise BuildError(f"{path}: [targets.{name}] 'follow_imports' must be true or false, got {follow!r}")
    return TargetSpec(name, layout, lists["modules"], follow,
                      lists["sources"], lists["objects"])


def _check_image_roles(desc: BuildDescription) -> None:
    for role, wanted in (("mbr", ("bootsector",)), ("stage2", ("flat", "bootsector")), ("kernel", ("elf",))):
        name = getattr(desc, role)
        if name is None:
            continue
        target = desc.targets.get(name)
        if target is None:
            raise BuildError(f"{desc.path}: [image] {role} = {name!r}, but there is no [targets.{name}]")
        if target.layout.format not in wanted:
            raise BuildError(f"{desc.path}: [image] {role} target {name!r} has format "
                             f"{target.layout.format!r}; it must be {' or '.join(wanted)}")
    stage2 = desc.targets.get(desc.stage2) if desc.stage2 else None
    if stage2 is not None and stage2.layout.max_size is None:
        stage2.layout.max_size = STAGE2_SECTORS * SECTOR


# ---- finding the sources -------------------------------------------------------

def _glob(base: Path, pattern: str, written: str) -> list[Path]:
    try:
        return sorted(p for p in base.glob(pattern) if p.is_file())
    except (ValueError, NotImplementedError, OSError) as exc:
        raise BuildError(f"bad pattern {written!r}: {exc}") from None


def _module_files(pattern: str, roots: list[Path]) -> list[Path]:
    """Files of a dotted module name; ``*`` is one level, ``**`` any depth."""
    parts = pattern.split(".")
    found = []
    for root in roots:
        if "*" in pattern:
            glob = "/".join(parts) + ("" if parts[-1] == "**" else ".kpy")
            found += _glob(root, glob + ("/*.kpy" if parts[-1] == "**" else ""), pattern)
        else:
            candidate = root.joinpath(*parts).with_suffix(".kpy")
            if is_file(candidate):
                return [candidate]
    return found


def _imports_of(path: Path, roots: list[Path]) -> list[Path]:
    """Modules a source imports that exist under the roots (the compiler reports the rest)."""
    files = []
    for name in _import_names(path, roots):
        files += _module_files(name, roots)
    return files


def _import_names(path: Path, roots: list[Path]) -> list[str]:
    """The module names a source's import statements name, kept in the compile
    cache by the source's content (a no-change build parses nothing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError, ValueError):
        return []           # the compiler gives the proper diagnostic
    memo = _memo(roots, "imports")
    names = memo.get(text) if memo is not None else None
    if names is None:
        names = _parse_import_names(text, path)
        if memo is not None and names is not None:
            memo.put(text, names)
    return names or []


def _parse_import_names(text: str, path: Path) -> list[str] | None:
    try:
        tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError):
        return None
    names = []
    for node in tree.body:          # kpy imports are module-level statements (compiler/modules.py)
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _memo(roots: list[Path], kind: str):
    """The compile cache's content memo of this kind, or None without one."""
    try:
        from compiler.cache import content_memo
    except ImportError:
        return None
    return content_memo(roots, kind)


class _HeaderCache:
    """compiler.linker's header cache, kept in the compile cache's content memo."""

    def __init__(self, roots: list[Path]):
        self.memo = _memo(roots, "elf-headers")

    def get(self, data: bytes):
        return self.memo.get(data) if self.memo is not None else None

    def put(self, data: bytes, headers) -> None:
        if self.memo is not None:
            self.memo.put(data, [list(h) for h in headers])


def _read_headers_early(roots: list[Path], path: Path, data: bytes) -> None:
    """Run where each object is compiled (compile_all's workers, on every
    CPU): its section headers go to the header cache, where the link finds
    them, instead of the link decoding every object with pyelftools in turn."""
    try:
        headers = section_headers(str(path), data)
    except LinkError:
        return          # the link reports it
    _HeaderCache(roots).put(data, headers)


def target_sources(spec: TargetSpec, project_root: Path, roots: list[Path],
                   imports: dict | None = None) -> list[Path]:
    """Every source file of a target, in link order, without repeats.
    `imports`: {path: its imports' files}, shared by the targets of one build
    (each source's imports are looked up once per build, not once per target)."""
    ordered: dict[Path, None] = {}
    imports = {} if imports is None else imports

    def visit(path: Path):
        path = resolved(path)
        if path in ordered:
            return
        ordered[path] = None
        if spec.follow_imports:
            if path not in imports:
                imports[path] = _imports_of(path, roots)
            for dep in imports[path]:
                visit(dep)

    for pattern in spec.modules:
        files = _module_files(pattern, roots)
        if not files:
            raise BuildError(f"target {spec.name}: module {pattern!r} not found under "
                             f"{', '.join(str(r) for r in roots)}")
        for f in files:
            visit(f)
    for pattern in spec.sources:
        files = _glob(project_root, pattern, pattern)
        if not files:
            raise BuildError(f"target {spec.name}: source pattern {pattern!r} matches no file")
        for f in files:
            ordered.setdefault(f.resolve(), None)
    return list(ordered)


# ---- compiling ------------------------------------------------------------------

def _compiler():
    try:
        from compiler.cache import compile_cached as compile_one
    except ImportError:
        try:
            from compiler.driver import compile_file as compile_one
        except ImportError as exc:
            raise BuildError(f"the kpy compiler is not available (compiler.driver: {exc})") from None
    try:
        from compiler.driver import CompileError
    except ImportError:
        CompileError = ()
    return compile_one, CompileError


class _ObjectCache:
    """Compile each source once per build, whatever number of targets use it."""

    def __init__(self, roots: list[Path], opt: int, debug: bool):
        self.roots, self.opt, self.debug = roots, opt, debug
        self.done: dict[Path, bytes] = {}
        self.compile_one = self.compile_error = None

    def prefetch(self, paths: list[Path]) -> None:
        """Compile many sources at once (both CPUs, one report of every error) when the
        compile cache offers it; ``get`` then finds them done."""
        try:
            from compiler.cache import compile_all
            from compiler.driver import CompileError
        except ImportError:
            return
        missing = [p for p in dict.fromkeys(paths) if p not in self.done]
        if not missing:
            return
        try:
            self.done.update(compile_all(missing, roots=self.roots, opt=self.opt, debug=self.debug,
                                         each=partial(_read_headers_early, self.roots)))
        except CompileError as exc:
            raise BuildError(str(exc)) from None

    def get(self, path: Path) -> bytes:
        if path not in self.done:
            if self.compile_one is None:
                self.compile_one, self.compile_error = _compiler()
            try:
                self.done[path] = self.compile_one(path, roots=self.roots, opt=self.opt, debug=self.debug)
            except self.compile_error as exc:
                raise BuildError(str(exc)) from None
        return self.done[path]


def _display_name(path: Path, project_root: Path) -> str:
    try:
        return str(path.relative_to(resolved(project_root)))
    except ValueError:
        return str(path)


def target_objects(spec: TargetSpec, project_root: Path, roots: list[Path], cache: _ObjectCache,
                   sources: list[Path] | None = None):
    if sources is None:
        sources = target_sources(spec, project_root, roots)
    objects = [(_display_name(p, project_root), cache.get(p)) for p in sources]
    for rel in spec.objects:
        path = project_root / rel
        try:
            objects.append((rel, path.read_bytes()))
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise BuildError(f"target {spec.name}: cannot read object {rel}: {reason}") from None
    return objects


def _runtime_objects(spec: TargetSpec, project_root: Path, roots: list[Path], cache: _ObjectCache,
                     sources: list[Path]):
    """The runtime modules the target refers to and does not list itself."""
    from .resources import runtime_sources
    from .runtimelib import needed_runtime
    have = set(sources)
    objects = [cache.get(p) for p in have]
    return [(_display_name(p, project_root), cache.get(p))
            for p in needed_runtime(objects, have, runtime_sources(), cache.get)]


# ---- the build --------------------------------------------------------------

def build(project_root, opt: int = 2, debug: bool = False, cmdline: str = "", out_dir=None,
          progress=None) -> BuildResult:
    """`progress(what)`, when given, is told each stage as it begins."""
    with one_build():
        return _build(project_root, opt, debug, cmdline, out_dir, progress)


def _build(project_root, opt, debug, cmdline, out_dir, progress) -> BuildResult:
    progress = progress or (lambda what: None)
    project_root = Path(project_root).resolve()
    out_dir = Path(out_dir) if out_dir is not None else project_root / "build"
    desc = load_description(project_root)
    cache = _ObjectCache(desc.roots, opt, debug)
    imports: dict[Path, list[Path]] = {}
    per_target = {name: target_sources(spec, project_root, desc.roots, imports)
                  for name, spec in desc.targets.items()}
    sources = list(dict.fromkeys(p for files in per_target.values() for p in files))
    progress(f"compiling {len(sources)} modules (-O{opt}{' -g' if debug else ''})")
    cache.prefetch(sources)
    links: dict[str, LinkResult] = {}
    headers = _HeaderCache(desc.roots)
    for name, spec in desc.targets.items():
        progress(f"linking {name}")
        objects = target_objects(spec, project_root, desc.roots, cache, per_target[name]) + \
            _runtime_objects(spec, project_root, desc.roots, cache, per_target[name])
        try:
            links[name] = link(objects, spec.layout, header_cache=headers)
        except LinkError as exc:
            raise BuildError(f"link of target {name} failed:\n{exc}") from None
    files = _output_files(desc, links, cmdline)
    if cmdline and "disk.img" not in files:
        raise BuildError(f"{desc.path}: a boot command line needs a disk image, and there is none without "
                         "[image] mbr and kernel")
    progress(f"writing {out_dir}")
    _write_all(out_dir, files)
    kernel = desc.kernel or next(iter(links))
    return BuildResult(disk_image=out_dir / "disk.img", kernel_elf=out_dir / f"{kernel}.elf",
                       map_file=out_dir / f"{kernel}.map", links=links,
                       outputs=[out_dir / n for n in files])


def _output_files(desc: BuildDescription, links: dict[str, LinkResult], cmdline: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, result in links.items():
        files[f"{name}.elf"] = result.elf
        files[f"{name}.map"] = result.map_text.encode()
        if result.format != "elf":
            files[f"{name}.bin"] = result.flat
    if desc.mbr and desc.kernel:
        kernel = links[desc.kernel]
        image = KernelImage(kernel.load_address, kernel.flat, kernel.entry,
                            kernel.mem_end - kernel.load_address)
        stage2 = links[desc.stage2].flat if desc.stage2 else None
        try:
            files["disk.img"] = disk_image(links[desc.mbr].flat, stage2, image, cmdline)
        except ImageError as exc:
            raise BuildError(f"disk image: {exc}") from None
    return files


def _write_all(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write every output to a temporary file first, then rename them all."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staged = []
        for name, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            staged.append((tmp, out_dir / name))      # removed on failure, even half written
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
        for tmp, final in staged:
            os.replace(tmp, final)
    except BaseException as exc:          # any failure (even Ctrl-C) removes the temporaries
        for tmp, _final in locals().get("staged", []):
            if os.path.exists(tmp):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise BuildError(f"cannot write outputs to {out_dir}: {exc.strerror or exc}") from None
        raise
