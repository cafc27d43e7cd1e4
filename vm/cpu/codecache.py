"""Translations kept for reuse: across the machines of one process and,
on disk, across runs.

Translating a block (decode, emit Python source, compile it) is a pure
function of the bytes decoded, where they lie (physical address, EIP, CS
base), the CPU mode the block is decoded in, the kind of block (one
instruction, cold, hot) and the static costs of the timing profile.  A
`Translation` holds everything the CPU keeps of that work; `CodeCache`
finds one again by those inputs and checks that memory still holds the
bytes it was decoded from, so a stale entry is never used.  A kernel booted
again (after a rebuild, most of its code is unchanged) then compiles only
what is new.

The on-disk store is one SQLite file per translator version under
`$KPY_CACHE_DIR` (default `$XDG_CACHE_HOME/kpy`, else `~/.cache/kpy`); its
name hashes the CPU's source files and the Python version, so a change to
the translator starts a new store, and names the engine (CPython or PyPy:
their code objects and marshal formats differ), so entries never mix.  `KPY_VM_CACHE=0` turns the store off.
An error opening or writing it turns it off quietly: it only saves time.
"""
from __future__ import annotations

import atexit
import hashlib
import marshal
import os
import sqlite3
import sys
from pathlib import Path
from types import CodeType

STORE_LIMIT = 128 << 20      # a store grown past this is started afresh
STORES_KEPT = 4              # stores of translator versions: the most recently written are kept
MEMORY_LIMIT = 10_000        # translations kept in a process (about 4 KB each) before it starts afresh
SAVE_EVERY = 5_000           # unsaved translations that make a long-lived process save them


class Translation:
    """What translating a block produces (see CPU._translate)."""

    __slots__ = ("code", "source", "static_cycles", "memory_cycles", "eips", "loop", "pure", "phys",
                 "table", "runs", "code_bytes", "ended", "last_next_eip", "arrivals")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields[name])

    def to_blob(self) -> bytes:
        return marshal.dumps(tuple(getattr(self, n) for n in self.__slots__))

    @classmethod
    def from_blob(cls, blob: bytes) -> "Translation":
        """The translation a blob holds; ValueError if it is not one."""
        fields = marshal.loads(blob)
        if not isinstance(fields, tuple) or len(fields) != len(cls.__slots__):
            raise ValueError("not a translation")
        t = cls.__new__(cls)
        for name, value in zip(cls.__slots__, fields):
            setattr(t, name, value)
        if not (isinstance(t.code, CodeType) and isinstance(t.code_bytes, bytes) and isinstance(t.runs, tuple)):
            raise ValueError("not a translation")
        return t

    def matches(self, mem) -> bool:
        """Whether memory still holds the bytes this was decoded from."""
        at = 0
        for start, length in self.runs:
            if mem.peek_bytes(start, length) != self.code_bytes[at:at + length]:
                return False
            at += length
        return True


def _translator_version() -> str:
    """A hash of everything a translation's result depends on besides its inputs."""
    h = hashlib.sha256((sys.version + _engine_tag()).encode())
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")) + [here.parent / "timing" / "__init__.py"]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _engine_tag() -> str:
    """The running Python implementation and version, e.g. `cpython-311` or `pypy39-7311`."""
    impl = sys.implementation
    tag = f"{impl.name}{sys.version_info[0]}{sys.version_info[1]}"
    if impl.name != "cpython":
        tag += "-" + "".join(str(part) for part in impl.version[:3])
    return tag


def _store_dir() -> Path:
    if os.environ.get("KPY_CACHE_DIR"):
        return Path(os.environ["KPY_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kpy"


class CodeCache:
    def __init__(self, store: Path | None):
        self.entries: dict[tuple, list[Translation]] = {}
        self.pending: list[tuple] = []     # (key, translation, group) made since the last save
        self._groups: set = set()          # groups read from the store ...
        self._stored: dict[str, list[bytes]] = {}     # ... and their blobs not yet asked for, by key
        self.store_path = store
        self._db = None
        self._pid = os.getpid()      # a connection must not cross a fork
        self.hits = self.misses = 0

    # ---- lookup ------------------------------------------------------------------------
    def find(self, key: tuple, mem, group=None) -> Translation | None:
        """A translation for `key` (kind, profile costs, block key, EIP) whose
        bytes are still in memory, or None. `group` (core.py: the profile and
        the physical page) is what a run asks for together: the store's
        entries of a group are read in one query, the first time one of them
        is asked for (one query a block cost a warm boot ~0.03 s)."""
        candidates = self.entries.get(key)
        if candidates is None:
            candidates = self.entries[key] = self._stored_for(key, group)
        for t in candidates:
            if t.matches(mem):
                self.hits += 1
                return t
        self.misses += 1
        return None

    def add(self, key: tuple, t: Translation, group=None) -> None:
        if len(self.entries) > MEMORY_LIMIT:
            self.entries.clear()
            self._groups.clear()
            self._stored.clear()
        self.entries.setdefault(key, []).append(t)
        if self.store_path is not None:
            self.pending.append((key, t, group))
            if len(self.pending) >= SAVE_EVERY:
                self.save()

    # ---- the on-disk store ------------------------------------------------------------------
    def _forget_if_forked(self):
        if self._pid != os.getpid():
            # a forked child: the parent's connection and unsaved work stay the parent's
            self._db, self.pending, self._pid = None, [], os.getpid()

    def _open(self):
        self._forget_if_forked()
        if self._db is None and self.store_path is not None:
            try:
                self.store_path.parent.mkdir(parents=True, exist_ok=True)
                if self.store_path.exists() and self.store_path.stat().st_size > STORE_LIMIT:
                    self.store_path.unlink()
                if not self.store_path.exists():
                    self._drop_old_stores()
                db = sqlite3.connect(self.store_path, timeout=10)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS blocks (key TEXT, grp TEXT, digest BLOB, blob BLOB, "
                           "PRIMARY KEY (key, digest))")
                db.execute("CREATE INDEX IF NOT EXISTS blocks_grp ON blocks (grp)")
                self._db = db
            except (OSError, sqlite3.Error):
                self.store_path = None
        return self._db

    def _drop_old_stores(self):
        """A new translator version starts a store: keep only the most recently
        written few of the others (another checkout may still be using them)."""
        try:
            mine = self.store_path.parent.glob(f"vm-blocks-{_engine_tag()}-*.sqlite")
            others = sorted(mine, key=lambda p: p.stat().st_mtime)
            for old in others[:max(0, len(others) - (STORES_KEPT - 1))]:
                for path in (old, old.with_name(old.name + "-wal"), old.with_name(old.name + "-shm")):
                    path.unlink(missing_ok=True)
        except OSError:
            pass                 # left for a later run

    def _stored_for(self, key: tuple, group) -> list[Translation]:
        """The store's translations for `key`; a damaged entry is left out
        (it costs only time)."""
        if group is None:
            blobs = self._query("SELECT key, blob FROM blocks WHERE key = ?", repr(key)).get(repr(key), ())
        else:
            if group not in self._groups:
                self._groups.add(group)
                for k, found in self._query("SELECT key, blob FROM blocks WHERE grp = ?", repr(group)).items():
                    self._stored.setdefault(k, []).extend(found)
            blobs = self._stored.pop(repr(key), ())
        out = []
        for blob in blobs:
            try:
                out.append(Translation.from_blob(blob))
            except (ValueError, EOFError, TypeError):
                pass
        return out

    def _query(self, sql: str, arg: str) -> dict[str, list[bytes]]:
        """{key: [blob, ...]} of the rows `sql` selects, {} without a store."""
        db = self._open()
        found: dict[str, list[bytes]] = {}
        if db is None:
            return found
        try:
            for k, blob in db.execute(sql, (arg,)):
                found.setdefault(k, []).append(blob)
        except sqlite3.Error:
            return {}
        return found

    def save(self) -> None:
        """Write the translations made since the last save to the store."""
        self._forget_if_forked()
        if not self.pending:
            return
        made, self.pending = self.pending, []
        db = self._open()
        if db is None:
            return
        try:
            with db:
                db.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?)",
                               ((repr(key), None if group is None else repr(group),
                                 hashlib.sha1(t.code_bytes).digest(), t.to_blob()) for key, t, group in made))
        except sqlite3.Error:
            self.store_path = None


def _shared() -> CodeCache:
    if os.environ.get("KPY_VM_CACHE", "1") == "0":
        return CodeCache(None)
    return CodeCache(_store_dir() / f"vm-blocks-{_engine_tag()}-{_translator_version()}.sqlite")


SHARED = _shared()
atexit.register(SHARED.save)       # once, at the end: saving costs nothing during a run
