"""The compile cache: an unchanged module is not recompiled.

An object's key is its source, its module name and source path, the
options, the compiler's own version, and the *interfaces* of the modules
it imports (not their bodies). Interfaces are remembered per source hash,
so a warm lookup only reads and hashes source files: no parsing.

Layout under the cache directory (default: build/.kpyc-cache next to the
source roots, or $KPY_CACHE_DIR):
    meta/<module>-<srchash>.json   {"imports": [...], "iface": {deps: digest}}
    memo/<kind>/<hash>.json        facts derived from a file's content alone, for
                                   the build (ContentMemo: a source's import
                                   statements, an object's section headers)
    obj/<key>.<emit>               its sha256, then the compiled output (a damaged entry is a miss)
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .driver import CompileError, check_only, compile_module
from .sourceroots import module_name_for, module_path, one_build, resolved
from vm.collector import relaxed_collector


_source_memo: dict[tuple[str, int, int], tuple[str, str]] = {}


def compiler_version() -> str:
    """A hash of the compiler's own sources: a changed compiler misses."""
    global _VERSION
    if _VERSION is None:
        import llvmlite      # cheap; lark is not imported (~20 ms) for its version:
        h = hashlib.sha256(f"llvmlite {llvmlite.__version__}".encode())
        from importlib.util import find_spec
        lark_spec = find_spec("lark")
        if lark_spec is not None and lark_spec.origin:
            h.update(Path(lark_spec.origin).read_bytes())      # holds lark's __version__
        here = Path(__file__).parent
        for p in sorted(here.glob("*.py")):
            if p.name in ("cli.py", "build.py", "image.py", "cache.py"):
                continue      # not part of what an object is made from
            h.update(p.name.encode())
            h.update(p.read_bytes())
        _VERSION = h.hexdigest()[:16]
    return _VERSION


_VERSION: str | None = None


def default_cache_dir(roots) -> Path:
    env = os.environ.get("KPY_CACHE_DIR")
    if env:
        return Path(env)
    parents = [resolved(r).parent for r in roots] or [Path.cwd()]
    return parents[0] / "build" / ".kpyc-cache"


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _decode_source(path: Path, raw: bytes) -> str:
    """Source text, or a diagnostic at the first byte that is not UTF-8."""
    from .diagnostics import Diagnostic, Loc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise CompileError([Diagnostic(Loc(str(path), line, col),
                                       f"source is not UTF-8 (byte 0x{raw[e.start]:02x})")]) from None


def read_source(path: Path) -> tuple[str, str]:
    """(text, sha256) of a source file, memoised on (path, mtime, size)."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    got = _source_memo.get(key)
    if got is None:
        text = _decode_source(path, path.read_bytes())
        got = (text, _sha(text))
        _source_memo[key] = got
    return got


class Unknown(Exception):
    """The cache has not seen this module version yet: compile to learn it."""

    def __init__(self, module: str):
        super().__init__(module)
        self.module = module


class CompileCache:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self._meta: dict[str, dict] = {}
        # Interface digests by module, kept during one compile_all only
        # (sources may change between calls in a long-lived process).
        self._digests: dict[tuple, str] | None = None
        self.memos: dict[str, ContentMemo] = {}

    # ---- per-module metadata ------------------------------------------------------
    def _meta_path(self, module: str, srchash: str) -> Path:
        return self.dir / "meta" / f"{module}-{srchash[:24]}.json"

    def meta(self, module: str, srchash: str) -> dict:
        p = self._meta_path(module, srchash)
        key = str(p)
        if key not in self._meta:
            try:
                self._meta[key] = json.loads(p.read_text())
            except (OSError, ValueError):
                raise Unknown(module)
        return self._meta[key]

    def interface_digest(self, module: str, roots, seen=()) -> str:
        """Digest of a module's interface and (recursively) its imports'."""
        memo_key = (module, tuple(str(r) for r in roots))
        if self._digests is not None and memo_key in self._digests:
            return self._digests[memo_key]
        path = module_path(module, roots)
        if path is None or module in seen:
            raise Unknown(module)
        _, srchash = read_source(path)
        m = self.meta(module, srchash)
        deps = self.deps_key(m["imports"], roots, seen + (module,))
        digest = m.get("iface", {}).get(deps)
        if digest is None:
            raise Unknown(module)
        if self._digests is not None:
            self._digests[memo_key] = digest
        return digest

    def deps_key(self, imports, roots, seen=()) -> str:
        return _sha(*(f"{m}={self.interface_digest(m, roots, seen)}" for m in imports))

    def object_key(self, module: str, path: Path, srchash: str, roots, opt: int, debug: bool, emit: str) -> str:
        m = self.meta(module, srchash)
        deps = self.deps_key(m["imports"], roots, (module,))
        return _sha(compiler_version(), module, str(resolved(path)), srchash, deps,
                    f"opt={opt}", f"debug={debug}", f"emit={emit}",
                    ",".join(str(resolved(r)) for r in roots))

    def has(self, path: Path, roots, opt: int, debug: bool, emit: str) -> bool:
        try:
            src, srchash = read_source(path)
            key = self.lookup_key(module_name_for(path, roots), path, srchash, [Path(r) for r in roots], opt, debug, emit)
            return self._obj_path(key, emit).is_file()
        except (Unknown, OSError, UnicodeDecodeError):
            return False

    def lookup_key(self, module, path, srchash, roots, opt, debug, emit) -> str:
        """The object key; an import seen in a new version is learnt by
        running the front end on it alone (its interface may be unchanged,
        and then this module's object is still good)."""
        learnt = set()
        while True:
            try:
                return self.object_key(module, path, srchash, roots, opt, debug, emit)
            except Unknown as u:
                if u.module == module or u.module in learnt:
                    raise
                learnt.add(u.module)
                self.learn(u.module, roots)

    def learn(self, module: str, roots) -> None:
        path = module_path(module, roots)
        if path is None:
            raise Unknown(module)
        src, _ = read_source(path)
        try:
            result = check_only(src, str(path), module, roots)
        except CompileError:
            raise Unknown(module)     # the full compile reports the errors
        self.record(result, roots)

    def record(self, result, roots) -> None:
        """Remember imports and interface digests of every module just loaded."""
        from .interface import interface_text
        program = result.program
        digests: dict[str, str] = {}

        def digest(name: str) -> str:
            if name not in digests:
                info = program.modules[name]
                deps = _sha(*(f"{m}={digest(m)}" for m in info.imports))
                own = interface_text(info, result.resolver)
                digests[name] = _sha(own, deps)
            return digests[name]

        for name, info in program.modules.items():
            if module_path(name, roots) is None:
                continue       # the main module of compile_source, not a file under a root
            srchash = _sha(info.source)
            p = self._meta_path(name, srchash)
            try:
                m = json.loads(p.read_text())
            except (OSError, ValueError):
                m = {"imports": list(info.imports), "iface": {}}
            deps = _sha(*(f"{d}={digest(d)}" for d in info.imports))
            if m["imports"] == list(info.imports) and m["iface"].get(deps) == digest(name):
                self._meta[str(p)] = m
                continue                 # already known: spare the write
            m["imports"] = list(info.imports)
            m["iface"][deps] = digest(name)
            self._write(p, json.dumps(m).encode())
            self._meta[str(p)] = m

    # ---- objects ---------------------------------------------------------------------
    def _obj_path(self, key: str, emit: str) -> Path:
        return self.dir / "obj" / f"{key[:40]}.{emit}"

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)        # atomic: concurrent builds never see half a file

    def compile(self, path, roots, opt: int = 2, debug: bool = False, emit: str = "obj"):
        path = Path(path)
        roots = [Path(r) for r in roots]
        try:
            src, srchash = read_source(path)
        except (OSError, UnicodeDecodeError) as e:
            from .diagnostics import Diagnostic, Loc
            raise CompileError([Diagnostic(Loc(str(path), 1, 1), f"cannot read source file: {e}")])
        module = module_name_for(path, roots)
        try:
            obj_path = self._obj_path(self.lookup_key(module, path, srchash, roots, opt, debug, emit), emit)
            data = _checked(obj_path.read_bytes())
            if data is not None:
                return data if emit == "obj" else data.decode()
        except (Unknown, OSError, UnicodeDecodeError):
            pass                     # a miss, or an entry damaged on disk: compile again
        with relaxed_collector(_COMPILE_GC_THRESHOLDS):
            result = compile_module(src, str(path), module, roots, opt, debug, emit)
        try:
            self.record(result, roots)
            key = self.object_key(module, path, srchash, roots, opt, debug, emit)
            out = result.output
            data = out if isinstance(out, bytes) else out.encode()
            self._write(self._obj_path(key, emit), _DIGEST(data).digest() + data)
        except (Unknown, OSError):
            pass           # an unwritable cache only costs time
        return result.output


class ContentMemo:
    """JSON values computed from some content alone, kept under its hash so
    a no-change build does not compute them again (kpyc build: the imports
    of each source, the section headers of each object for the linker)."""

    def __init__(self, directory: Path, kind: str):
        self.dir = Path(directory) / "memo" / kind
        self._seen: dict[str, object] = {}

    def _path(self, digest: str) -> Path:
        return self.dir / f"{digest[:40]}.json"

    def get(self, content):
        digest = _content_hash(content)
        if digest in self._seen:
            return self._seen[digest]
        try:
            value = json.loads(self._path(digest).read_text())
        except (OSError, ValueError):
            return None
        self._seen[digest] = value
        return value

    def put(self, content, value) -> None:
        digest = _content_hash(content)
        self._seen[digest] = value
        try:
            path = self._path(digest)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as f:
                json.dump(value, f)
            os.replace(tmp, path)
        except OSError:
            pass           # an unwritable cache only costs time


def _content_hash(content) -> str:
    data = content if isinstance(content, (bytes, bytearray)) else content.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def content_memo(roots, kind: str, cache_dir=None) -> ContentMemo:
    """The memo of one kind, in the compile cache the build's sources use."""
    cache = _cache_for(roots, cache_dir)
    memo = cache.memos.get(kind)
    if memo is None:
        memo = cache.memos[kind] = ContentMemo(cache.dir, kind)
    return memo
_DIGEST = hashlib.sha256
_DIGEST_SIZE = 32


def _checked(entry: bytes):
    """The object in a cache entry (its sha256, then its bytes), or None when
    the entry is damaged (truncated, overwritten): never link a corrupt object."""
    digest, data = entry[:_DIGEST_SIZE], entry[_DIGEST_SIZE:]
    return data if len(digest) == _DIGEST_SIZE and _DIGEST(data).digest() == digest else None


_caches: dict[Path, CompileCache] = {}


def _cache_for(roots, cache_dir) -> CompileCache:
    d = Path(cache_dir) if cache_dir is not None else default_cache_dir(roots)
    cache = _caches.get(d)
    if cache is None:
        cache = _caches[d] = CompileCache(d)
    return cache


def _compile_job(args):
    path, roots, opt, debug, emit, cache_dir, each = args
    try:
        output = compile_cached(path, roots, opt, debug, emit, cache_dir)
    except CompileError as e:
        return path, "error", e.diagnostics
    if each is not None:
        each(path, output)
    return path, "ok", output


def compile_all(paths, roots=(), opt: int = 2, debug: bool = False, emit: str = "obj", cache_dir=None,
                jobs: int | None = None, each=None) -> dict:
    """Compile many sources through the cache. Returns {path: output};
    raises one CompileError with the diagnostics of every failing source.

    With several CPUs the misses are compiled by forked workers, after the
    parent has parsed every source once (parse trees are memoised, so the
    workers inherit them instead of parsing imports again).

    `each(path, output)`, a module-level function (or a partial of one), is
    called with every output compiled here, in the process that compiled it:
    for work on the outputs whose result the caller keeps by content (the
    build's ELF section headers), done on every CPU instead of afterwards."""
    with one_build():
        return _compile_all(paths, roots, opt, debug, emit, cache_dir, jobs, each)


def _compile_all(paths, roots, opt, debug, emit, cache_dir, jobs, each) -> dict:
    """compile_all, with each path resolved once (sourceroots.one_build)."""
    paths = [Path(p) for p in paths]
    cache = _cache_for(roots, cache_dir)
    cache._digests = {}
    try:
        misses = [p for p in paths if not cache.has(p, roots, opt, debug, emit)]
    finally:
        cache._digests = None
    if not misses:
        # Nothing to compile: read every object with one set of interface
        # digests (sources cannot change under a single call's feet).
        cache._digests = {}
        try:
            return {p: cache.compile(p, roots, opt, debug, emit) for p in paths}
        finally:
            cache._digests = None
    jobs = min(jobs or os.cpu_count() or 1, len(misses))
    work = [(p, [Path(r) for r in roots], opt, debug, emit, cache.dir, each) for p in misses]
    if jobs > 1 and hasattr(os, "fork"):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        with _collector_paused():
            _load_compile_stages()
            _parse_all(misses)          # every tree outlives the workers: nothing to collect
            # Frozen before the collector is back (its next young collection
            # would walk every tree): the workers' collections never walk the
            # parser's tables and the trees either. A full collection would,
            # and its writes to each object's header would copy the parent's
            # memory into the worker, page by page.
            gc.freeze()
        try:
            with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
                # Largest sources first, one at a time: the workers finish together
                # instead of one of them compiling a last chunk alone.
                work.sort(key=lambda w: -len(read_source(w[0])[0]))
                results = list(pool.map(_compile_job, work, chunksize=1))
        finally:
            gc.unfreeze()
        cache._meta.clear()     # the workers wrote metadata this process has not read
    else:
        results = [_compile_job(w) for w in work]
    errors = [d for _, status, value in results if status == "error" for d in value]
    if errors:
        from compiler.diagnostics import once_per_build
        raise CompileError(once_per_build(errors))
    built = {p: v for p, status, v in results}
    return {p: built[p] if p in built else compile_cached(p, roots, opt, debug, emit, cache_dir) for p in paths}


def _load_compile_stages() -> None:
    """Import what a compile needs beyond the parser before the workers fork:
    imported in each of them it cost each one ~0.1 s of CPU (llvmlite most),
    which is the same wall time on an idle machine but twice the CPU."""
    from . import checker, interface, lowering, target  # noqa: F401


def _parse_all(paths) -> None:
    """Parse every source into parse_source's memo, for the workers to inherit."""
    from .parser import parse_source
    for p in paths:
        try:
            parse_source(read_source(p)[0], str(p))
        except (CompileError, OSError, UnicodeDecodeError):
            pass        # reported by the compile itself


@contextmanager
def _collector_paused():
    """No cyclic garbage collection inside: for code that makes only objects
    that stay alive (a collection would walk them all and free nothing)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# One compile, in a worker or in the one process, leaves its ~10,000 objects
# (syntax trees, symbols, IR) in cycles when it ends. At the default threshold
# (700 allocations) the collector walked them in ~9 young collections per
# module, a middle one per module or two and a full one every ~20 modules, and
# the full ones also walk the parse trees the parser memoises: 0.3-0.45 s of
# GC in each worker of a kernel build, and 0.28 s of the 42 compiles on one
# CPU. Collecting every 200,000 allocations frees them all the same, holding
# at most that many dead objects (~6 MB) (vm/collector.py).
_COMPILE_GC_THRESHOLDS = (200_000, 10, 10)


def compile_cached(path, roots=(), opt: int = 2, debug: bool = False, emit: str = "obj", cache_dir=None):
    """compile_file with a cache: same arguments, same result."""
    return _cache_for(roots, cache_dir).compile(path, roots, opt, debug, emit)
