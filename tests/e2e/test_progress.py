"""What a long build or run shows (compiler/progress.py): on a terminal a
rich display (a spinner on the running stage, a tick and the time on
finished ones; a boot hands the terminal to the guest as a plain line);
anything else gets the plain lines, unchanged."""
import io
import re
import time

from rich.console import Console

from compiler.progress import RichStages, Stages, make_stages

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal(quiet: float):
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100, color_system="standard")
    return buf, make_stages(buf, quiet_seconds=quiet, console=console)


def final_screen(raw: str) -> list[str]:
    """The lines a terminal ends up showing: each redraw of the live display
    (cursor up, erase line) replaces the rows it drew before."""
    lines: list[str] = [""]
    for token in re.split(r"(\x1b\[[0-9;?]*[A-Za-z]|\r|\n)", raw):
        if token == "\n":
            lines.append("")
        elif token == "\r" or token == "\x1b[2K":
            lines[-1] = ""
        elif token == "\x1b[1A":
            lines.pop()
        elif not ANSI.fullmatch(token or "x"):
            lines[-1] += token
    return [line.rstrip() for line in lines if line.strip()]


def test_terminal_gets_the_rich_display():
    buf, stages = terminal(quiet=0)
    assert isinstance(stages, RichStages)
    stages("compiling 3 modules (-O2)")
    time.sleep(0.3)                     # a few refreshes of the spinner
    stages("linking kernel")
    stages("booting build/kernel.elf (Multiboot) on the VM", hands_over=True)
    stages.done()
    raw = buf.getvalue()
    assert "\x1b[" in raw               # drawn with terminal control codes
    assert re.search("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", raw)      # the spinner ran while compiling
    screen = final_screen(raw)
    assert re.fullmatch(r"✓ kpyc: compiling 3 modules \(-O2\) +\d+\.\d s", screen[0]), screen
    assert re.fullmatch(r"✓ kpyc: linking kernel +\d+\.\d s", screen[1]), screen
    # the boot is a plain line after the display: the guest's output follows it
    assert screen[2:] == ["kpyc: booting build/kernel.elf (Multiboot) on the VM"], screen


def test_terminal_shows_nothing_for_a_quick_command():
    buf, stages = terminal(quiet=30)
    stages("compiling 3 modules (-O2)")
    stages("linking kernel")
    stages.done()
    assert buf.getvalue() == ""


def test_a_stage_still_running_after_the_quiet_period_appears():
    buf, stages = terminal(quiet=0.1)
    stages("compiling 41 modules (-O2)")
    deadline = time.monotonic() + 30
    while "compiling 41" not in buf.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    stages.done()
    screen = final_screen(buf.getvalue())
    assert len(screen) == 1 and screen[0].startswith("✓ kpyc: compiling 41 modules (-O2)"), screen


def test_not_a_terminal_keeps_the_plain_lines():
    buf = io.StringIO()
    stages = make_stages(buf, quiet_seconds=0)
    assert isinstance(stages, Stages)
    stages("compiling 3 modules (-O2)")
    stages("booting x on the VM", hands_over=True)
    stages.done()
    assert buf.getvalue() == "kpyc: compiling 3 modules (-O2)\nkpyc: booting x on the VM\n"
