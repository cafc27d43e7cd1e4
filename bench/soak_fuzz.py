"""Soak issue 20's hostile-input campaigns (tests/fuzz/hostile.py) for longer
than the suite does, with fresh random examples, and print the cases run
and the failures per area.

    python bench/soak_fuzz.py [SECONDS_PER_AREA]     (default 60)
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz import hostile  # noqa: E402


def soak(name, strategy, check, seconds):
    counts = {"cases": 0, "failures": 0}
    deadline = time.monotonic() + seconds

    @settings(max_examples=10 ** 9, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        if time.monotonic() > deadline:
            raise _Done()
        counts["cases"] += 1
        try:
            check(case)
        except Exception as exc:        # noqa: BLE001 - counted and shown, the soak goes on
            counts["failures"] += 1
            if counts["failures"] <= 3:
                print(f"  {name} failure: {type(exc).__name__}: {str(exc)[:200]} on {case!r:.200}")
    try:
        run()
    except _Done:
        pass
    print(f"{name}: {counts['cases']} cases, {counts['failures']} failures", flush=True)
    return counts["failures"]


class _Done(BaseException):
    """Ends a campaign when its time is up (not an Exception: hypothesis lets it through)."""


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    gdb = hostile.GdbTarget()
    failures = sum([
        soak("compiler (source bytes)", hostile.source_bytes(), hostile.check_source_bytes, seconds),
        soak("vm (Multiboot ELF fields)", hostile.multiboot_fields(), hostile.check_multiboot, seconds),
        soak("gdb stub (packets + liveness)", hostile.gdb_packet(), gdb.check, seconds),
    ])
    gdb.stub.listener.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
