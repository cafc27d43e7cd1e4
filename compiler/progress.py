"""What a long build or run is doing: one line per stage on stderr, but only
once the whole command has taken longer than about a second (a warm build
stays silent). A stage that starts early and runs long is announced when
the second is up, by a timer. KPY_PROGRESS_AFTER=SECONDS changes the quiet
period (0: name every stage, as the tests do)."""
from __future__ import annotations

import os
import sys
import threading
import time

QUIET_SECONDS = 1.0


def _quiet_from_environment() -> float:
    try:
        return float(os.environ.get("KPY_PROGRESS_AFTER", QUIET_SECONDS))
    except ValueError:
        return QUIET_SECONDS


class Stages:
    def __init__(self, stream=None, quiet_seconds: float | None = None):
        self.stream = stream or sys.stderr
        self.quiet = quiet_seconds if quiet_seconds is not None else _quiet_from_environment()
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.pending: str | None = None

    def __call__(self, what: str) -> None:
        """A new stage begins."""
        with self.lock:
            self._cancel()
            left = self.quiet - (time.monotonic() - self.start)
            if left <= 0:
                self._say(what)
                return
            self.pending = what
            self.timer = threading.Timer(left, self._fire)
            self.timer.daemon = True
            self.timer.start()

    def done(self) -> None:
        with self.lock:
            self._cancel()

    def _fire(self) -> None:
        with self.lock:
            if self.pending is not None:
                self._say(self.pending)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.pending = None, None

    def _say(self, what: str) -> None:
        self.pending = None
        try:
            self.stream.write(f"kpyc: {what}\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass        # stderr closed: progress is not worth failing for
