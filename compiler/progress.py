"""What a long build or run is doing: one line per stage on stderr, but only
once the whole command has taken longer than about a second (a warm build
stays silent). A stage that starts early and runs long is announced when
the second is up, by a timer. KPY_PROGRESS_AFTER=SECONDS changes the quiet
period (0: name every stage, as the tests do).

On a terminal (and with rich installed) the same stages are a rich
display instead: a spinner on the running stage, a tick on the finished
ones, and each stage's time. A stage that hands the terminal over (a boot:
the guest's output follows) ends the display and is printed as a line.
`make_stages()` picks the kind; anything not a terminal gets the lines."""
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

    def __call__(self, what: str, hands_over: bool = False) -> None:
        """A new stage begins; `hands_over`: others write to the terminal next
        (the plain lines need not care)."""
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


def make_stages(stream=None, quiet_seconds: float | None = None, console=None):
    """Stages for `stream` (stderr): the rich display when it is a terminal
    (or when a `console` is given, as the tests do), else the plain lines."""
    stream = stream or sys.stderr
    if console is None:
        if not _is_terminal(stream) or os.environ.get("TERM") == "dumb":
            return Stages(stream, quiet_seconds)
        try:
            from rich.console import Console
        except ImportError:
            return Stages(stream, quiet_seconds)
        console = Console(file=stream, stderr=stream is sys.stderr)
    return RichStages(console, quiet_seconds)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class RichStages:
    """The terminal's display: one row per stage (spinner while it runs, a
    tick and its time once done), shown once the quiet period is over."""

    def __init__(self, console, quiet_seconds: float | None = None):
        self.console = console
        self.quiet = quiet_seconds if quiet_seconds is not None else _quiet_from_environment()
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None
        self.stages: list[list] = []         # [what, started, ended or None]
        self.progress = None                 # the live rich Progress, once shown
        self.tasks: list = []
        self.closed = False

    def __call__(self, what: str, hands_over: bool = False) -> None:
        with self.lock:
            now = time.monotonic()
            self._finish_current(now)
            self.stages.append([what, now, None])
            if self.closed:
                self._print_line(what)
            elif hands_over:
                self._cancel()
                self.closed = True          # the terminal is the guest's from here
                if self.progress is not None:
                    self._stop()
                    self._print_line(what)
                elif now - self.start >= self.quiet:
                    self._print_line(what)
                else:                       # said as a line once the quiet period is over
                    self.timer = threading.Timer(self.quiet - (now - self.start), self._fire_line, [what])
                    self.timer.daemon = True
                    self.timer.start()
            elif self.progress is not None:
                self._add_task(self.stages[-1])
            elif now - self.start >= self.quiet:
                self._show()
            elif self.timer is None:
                self.timer = threading.Timer(self.quiet - (now - self.start), self._fire)
                self.timer.daemon = True
                self.timer.start()

    def done(self) -> None:
        with self.lock:
            self._cancel()
            self._finish_current(time.monotonic())
            self._stop()
            self.closed = True

    def _fire(self) -> None:
        with self.lock:
            self.timer = None
            if not self.closed and self.progress is None and self.stages:
                self._show()

    def _fire_line(self, what: str) -> None:
        with self.lock:
            if self.timer is not None:
                self.timer = None
                self._print_line(what)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _finish_current(self, now: float) -> None:
        if self.stages and self.stages[-1][2] is None:
            self.stages[-1][2] = now
            if self.progress is not None and self.tasks:
                self._update(self.tasks[-1], self.stages[-1])

    def _show(self) -> None:
        """Start the display, with every stage so far (finished ones ticked)."""
        from rich.progress import Progress, SpinnerColumn, TextColumn
        try:
            self.progress = Progress(SpinnerColumn(finished_text="[green]✓[/green]"),
                                     TextColumn("kpyc: {task.description}"),
                                     TextColumn("[dim]{task.fields[seconds]}[/dim]"),
                                     console=self.console, transient=False, refresh_per_second=8)
            self.progress.start()
            for stage in self.stages:
                self._add_task(stage)
        except (OSError, ValueError):
            self.progress = None         # the terminal went away: progress is not worth failing for

    def _add_task(self, stage: list) -> None:
        task = self.progress.add_task(stage[0], total=1, seconds="")
        self.tasks.append(task)
        self._update(task, stage)

    def _update(self, task, stage: list) -> None:
        what, started, ended = stage
        if ended is not None:
            self.progress.update(task, completed=1, seconds=f"{ended - started:.1f} s")

    def _stop(self) -> None:
        if self.progress is not None:
            try:
                self.progress.stop()
            except (OSError, ValueError):
                pass
            self.progress = None

    def _print_line(self, what: str) -> None:
        try:
            self.console.print(f"kpyc: {what}", highlight=False, markup=False)
        except (OSError, ValueError):
            pass
