"""Issue 20's `kpyc build` campaigns: corrupted objects (listed in build.toml
`objects`, and damaged entries of the compile cache, the two ways an object
enters the link) and mutated build.toml files, each built through the CLI
as a user would. A case passes when the build succeeds, or fails with a
`kpyc: error`/located diagnostic, a documented exit status, no traceback,
no temporaries left, and the previous outputs byte-identical."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

from hypothesis import strategies as st

from tests.fuzz.statuses import BUILD, record

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "linker"))     # lk_objects, for test_build

from tests.linker.test_build import BUILD_TOML, make_project  # noqa: E402


def kpyc(*argv) -> tuple[int, str]:
    """`kpyc ARGV` in this process: (exit status, stderr)."""
    from compiler.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(argv))
    return status, err.getvalue()


def outputs(out_dir: Path) -> dict:
    """The build's outputs (name -> bytes), the compile cache aside."""
    if not out_dir.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in out_dir.iterdir() if p.is_file()}


def check_build(root: Path, before: dict, what: str) -> int:
    """One `kpyc build` of `root` whose outputs were `before`: the checks every case makes."""
    status, err = kpyc("build", "--root", str(root))
    record(BUILD, status, f"{what}\n{err}")
    assert "Traceback" not in err and "internal error" not in err, f"{what}\n{err}"
    out = root / "build"
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".kpyc-cache"] \
        if out.is_dir() else []
    assert not leftovers, f"{what}: temporaries left: {leftovers}"
    if status != 0:
        assert "error" in err, f"{what}: status {status} without a message\n{err}"
        assert outputs(out) == before, f"{what}: a failed build changed the previous outputs\n{err}"
    return status


class ObjectProject:
    """A project of two prebuilt objects (tests/linker/test_build.py), built once."""
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="kpy-fuzz-objects-"))
        self.root = make_project(self.tmp)
        self.objects = {name: (self.root / "obj" / name).read_bytes() for name in ("mbr.o", "kernel.o")}
        status, err = kpyc("build", "--root", str(self.root))
        assert status == 0, err

    def check(self, case) -> None:
        name, edits, cut, extra = case
        data = bytearray(self.objects[name])
        for offset, value in edits:
            data[offset % len(data)] = value
        data = bytes(data[:cut] if cut is not None else data) + extra
        before = outputs(self.root / "build")
        path = self.root / "obj" / name
        path.write_bytes(data)
        try:
            check_build(self.root, before, f"{name} with edits {edits[:8]} cut {cut} extra {extra[:16]!r}")
        finally:
            path.write_bytes(self.objects[name])

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def object_edits():
    """(object, [(offset, byte)], truncate at, appended bytes): mostly header and
    table bytes (the first 0x34 bytes and the last ~1 KiB hold the ELF header,
    section headers, symbol and relocation tables)."""
    offset = st.one_of(st.integers(0, 0x33), st.integers(-1200, -1), st.integers(0, 4095))
    return st.tuples(st.sampled_from(["kernel.o", "mbr.o"]),
                     st.lists(st.tuples(offset, st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]) | st.integers(0, 255)),
                              max_size=6),
                     st.none() | st.integers(0, 2048), st.sampled_from([b"", b"\0" * 7, b"\xff" * 64]))


# ---- build.toml -----------------------------------------------------------------------
EDGE_VALUES = ["0", "-1", "0xFFFFFFFF", "0x100000000", "0x80000000", "4096", "1" * 40, '""', '"../x"',
               '"a\\u0000b"', '"/etc/passwd"', "[]", "{}", "true", "1.5", '"end(.bss) + 0xFFFFFFFF"',
               '"load_start(.nope)"', '["obj/nope.o"]', '["../../etc/passwd"]', '["obj/kernel.o", "obj/kernel.o"]']


@st.composite
def toml_mutation(draw):
    """build.toml with a value replaced by an edge value, lines dropped or
    doubled, and a few raw bytes (not always UTF-8) changed."""
    lines = BUILD_TOML.splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(lines) - 1))
        if "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.sampled_from(EDGE_VALUES))}\n"
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(lines) - 1))
        if draw(st.booleans()):
            del lines[i]
        else:
            lines.insert(i, lines[i])
    raw = bytearray("".join(lines).encode())
    for _ in range(draw(st.integers(0, 2))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.sampled_from(b"\0\xff\xc3[]=\"'\n#x9"))
    return bytes(raw)


class TomlProject(ObjectProject):
    def check(self, raw: bytes) -> None:
        path = self.root / "kernel_src" / "build.toml"
        before = outputs(self.root / "build")
        path.write_bytes(raw)
        try:
            check_build(self.root, before, f"build.toml {raw[:300]!r}")
        finally:
            path.write_text(BUILD_TOML)


# ---- the compile cache ----------------------------------------------------------------
class CacheProject:
    """A `kpyc init` project built once with its own compile cache; a case
    damages cache entries, and the next build must notice (recompile) and
    write the same outputs."""
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="kpy-fuzz-cache-"))
        self.cache = self.tmp / "cache"
        self.root = self.tmp / "proj"
        status, err = kpyc("init", str(self.root))
        assert status == 0, err
        self._env = os.environ.get("KPY_CACHE_DIR")
        os.environ["KPY_CACHE_DIR"] = str(self.cache)
        try:
            status, err = kpyc("build", "--root", str(self.root))
        finally:
            self._restore()
        assert status == 0, err
        self.good = outputs(self.root / "build")
        self.entries = sorted((self.cache / "obj").iterdir())

    def _restore(self):
        if self._env is None:
            os.environ.pop("KPY_CACHE_DIR", None)
        else:
            os.environ["KPY_CACHE_DIR"] = self._env

    def check(self, case) -> None:
        index, edits, cut = case
        entry = self.entries[index % len(self.entries)]
        if not entry.exists():
            return                     # rewritten under another name: nothing to damage
        data = bytearray(entry.read_bytes())
        for offset, value in edits:
            data[offset % len(data)] ^= value or 1
        entry.write_bytes(bytes(data[:cut] if cut is not None else data))
        os.environ["KPY_CACHE_DIR"] = str(self.cache)
        try:
            status = check_build(self.root, self.good, f"cache entry {entry.name} edits {edits} cut {cut}")
        finally:
            self._restore()
        assert status == 0 and outputs(self.root / "build") == self.good, "a damaged cache entry was linked"

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def cache_damage():
    return st.tuples(st.integers(0, 63), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                                                   min_size=1, max_size=4),
                     st.none() | st.integers(0, 64))
