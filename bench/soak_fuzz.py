"""Soak issue 20's hostile-input campaigns (tests/fuzz/hostile.py,
build_inputs.py, vm_inputs.py) for longer than the suite does, with fresh
random examples, and print the cases run and the failures per area, then
the exit statuses the command-line campaigns saw (each checked against
README's table; an undocumented one is a failure).

    python bench/soak_fuzz.py [SECONDS_PER_AREA]     (default 60)
"""
import contextlib
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests.fuzz import build_inputs, hostile, statuses, vm_inputs  # noqa: E402


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
                print(f"  {name} failure: {type(exc).__name__}: {str(exc)[:200]} on {case!r:.200}",
                      file=sys.stderr)
    try:
        with contextlib.redirect_stdout(io.StringIO()):    # hypothesis's "reproduce with @seed" after _Done
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
    projects = {"objects": build_inputs.ObjectProject(), "toml": build_inputs.TomlProject(),
                "cache": build_inputs.CacheProject()}
    try:
        failures = sum([
            soak("compiler (source bytes)", hostile.source_bytes(), hostile.check_source_bytes, seconds),
            soak("vm (Multiboot ELF fields)", hostile.multiboot_fields(), hostile.check_multiboot, seconds),
            soak("gdb stub (packets + liveness)", hostile.gdb_packet(), gdb.check, seconds),
            soak("kpyc build (corrupted objects)", build_inputs.object_edits(), projects["objects"].check, seconds),
            soak("kpyc build (damaged cache entries)", build_inputs.cache_damage(), projects["cache"].check,
                 seconds),
            soak("kpyc build (mutated build.toml)", build_inputs.toml_mutation(), projects["toml"].check, seconds),
            soak("python -m vm (Multiboot ELF header fields)", vm_inputs.elf_fields(),
                 vm_inputs.check_multiboot_cli, seconds),
            soak("python -m vm (disk images, ROMs)", vm_inputs.disk_or_rom(), vm_inputs.check_image_cli, seconds),
            soak("vm (--max-insns inside reps)", vm_inputs.rep_runs(), vm_inputs.check_rep_limit, seconds),
        ])
    finally:
        gdb.stub.listener.close()
        for project in projects.values():
            project.close()
    print("exit statuses seen:", ", ".join(f"{tool} {status}: {n}" for (tool, status), n
                                         in sorted(statuses.SEEN.items())))
    bad = statuses.undocumented()
    if bad:
        print("undocumented statuses:", bad)
    return 1 if failures or bad else 0


if __name__ == "__main__":
    sys.exit(main())
