"""LLVM's steps run in one long-lived forked child per process.

LLVM reports some errors (asm text that does not assemble, a module its
verifier rejects) by printing them and exiting or aborting the whole
process; that must not take kpyc (or a test run) down. So parsing,
optimising and emitting happen in a child process. Forking one per module
costs ~25 ms each (the fork of a large process, then LLVM's initialisation
and the target machines again in every child), so one child serves every
module of a process: it is forked at the first request, answers requests
one at a time over a pipe, and when it dies the request it was serving
names the module that killed it (an EmitFailure with LLVM's stderr); the
next request forks a fresh child.

A child belongs to the process that forked it: a forked compile worker
does not talk to its parent's child, it forks its own (one per worker).
"""
from __future__ import annotations

import os
import pickle
import struct
import tempfile

_HEADER = struct.Struct("<Q")


class EmitFailure(Exception):
    """LLVM rejected the module (in practice: inline or module asm that does
    not assemble); `report` is LLVM's stderr text."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


def _write_message(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None                 # the other side is gone
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int) -> bytes | None:
    head = _read_exactly(fd, _HEADER.size)
    if head is None:
        return None
    return _read_exactly(fd, _HEADER.unpack(head)[0])


class _Child:
    """One forked server: requests in, (kind, value) answers out."""

    def __init__(self):
        self.owner = os.getpid()
        self.dead = False
        self.errf = tempfile.TemporaryFile()
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:                               # the child
            os.close(req_w)
            os.close(ans_r)
            os.dup2(self.errf.fileno(), 2)
            _quiet_fault_handler()
            import signal
            signal.signal(signal.SIGINT, signal.SIG_IGN)    # Ctrl-C is the parent's to handle
            code = 0
            try:
                _serve(req_r, ans_w)
            except BaseException:                       # noqa: BLE001 - the parent sees EOF
                code = 1
            os._exit(code)
        os.close(req_r)
        os.close(ans_w)
        self.req, self.ans = req_w, ans_r

    def call(self, fn, args):
        start = self.errf.seek(0, os.SEEK_END)
        try:
            _write_message(self.req, pickle.dumps((fn, args)))
            answer = _read_message(self.ans)
        except (BrokenPipeError, OSError):
            answer = None
        except BaseException:
            # Interrupted (Ctrl-C) mid-request: the child's answer would be
            # read as the next request's, so this child is done for.
            self.kill()
            raise
        if answer is None:                              # it died serving this request
            report = self._stderr_since(start)
            self.close()
            raise EmitFailure(report or "LLVM stopped while emitting the module")
        kind, value = pickle.loads(answer)
        if kind == "ok":
            return value
        raise EmitFailure(f"{value}\n{self._stderr_since(start)}".strip())

    def _stderr_since(self, start: int) -> str:
        self.errf.seek(start)
        return self.errf.read().decode("utf-8", "replace").strip()

    def close(self) -> None:
        self.dead = True
        for fd in (self.req, self.ans):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.errf.close()

    def kill(self) -> None:
        import signal
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.close()

    def forget(self) -> None:
        """In a forked process: drop the parent's child without waiting for
        it (it is not ours) and without closing what the parent still uses
        (only our inherited copies of the pipe ends)."""
        for fd in (self.req, self.ans):
            try:
                os.close(fd)
            except OSError:
                pass


def _quiet_fault_handler() -> None:
    """An abort here is LLVM's way of reporting (and the parent reports it):
    no Python traceback from faulthandler (pytest enables it) on the terminal."""
    import faulthandler
    if faulthandler.is_enabled():
        faulthandler.disable()


def _serve(req: int, ans: int) -> None:
    while True:
        message = _read_message(req)
        if message is None:
            return                                      # the parent closed the pipe or exited
        try:
            fn, args = pickle.loads(message)
            reply = ("ok", fn(*args))
        except Exception as e:                          # noqa: BLE001 - reported to the parent
            reply = ("error", f"{type(e).__name__}: {e}")
        _write_message(ans, pickle.dumps(reply))


_child: _Child | None = None


def isolated(fn, *args):
    """fn(*args) in this process's LLVM child (module-level fn, picklable
    args and result); an EmitFailure if it raised or the child died."""
    global _child
    if not hasattr(os, "fork"):
        return fn(*args)
    if _child is not None and _child.owner != os.getpid():
        _child.forget()
        _child = None
    if _child is None:
        _child = _Child()
        _reap_at_exit()
    child = _child
    try:
        return child.call(fn, args)
    finally:
        if child.dead:
            _child = None          # the next request forks a fresh one


def _reap_at_exit() -> None:
    """Wait for the child when this process ends (it would exit by itself on
    the closed pipe, but unwaited it is an orphan whose time no one counts).
    A multiprocessing worker runs no atexit handlers, only its finalizers."""
    import atexit
    import sys
    atexit.register(shutdown)
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, shutdown, exitpriority=10)


def shutdown() -> None:
    """End this process's child (it also ends by itself when we exit)."""
    global _child
    if _child is not None and _child.owner == os.getpid():
        _child.close()
    _child = None
