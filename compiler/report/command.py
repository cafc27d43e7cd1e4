"""`kpyc report`: build once, run every experiment on every target with a
progress display, write the report. Ctrl-C stops the runs and writes what
has finished (marked partial) instead of a traceback."""
from __future__ import annotations

import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from compiler.report.options import add_options  # noqa: F401 - the CLI's entry
from compiler.report.experiments import (EXPERIMENTS, VM_TARGETS, Job, build_images, ignore_sigint,
                                         qemu_kvm_works, run_job)

WORKERS = 2


def plan(images: dict, elfs: tuple, runs: int, qemu_targets: list) -> list[Job]:
    jobs = [Job(e, t, 0, images[e], elfs) for t in VM_TARGETS for e in EXPERIMENTS]
    qemu = [Job(e, t, i, images[e]) for i in range(runs) for t in qemu_targets for e in EXPERIMENTS]
    # QEMU's sweep is the longest run by far (tens of seconds): start it first so the rest overlap it
    return sorted(qemu, key=lambda j: j.experiment != "sweep") + jobs


def run_all(jobs: list[Job], progress, task) -> tuple[dict, bool]:
    """(experiment, target) -> [Result, ...]; True when interrupted."""
    results: dict = {}
    pool = ProcessPoolExecutor(max_workers=WORKERS, initializer=ignore_sigint)
    pending = {pool.submit(run_job, job): job for job in jobs}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                res = fut.result()
                pending.pop(fut)
                results.setdefault((res.job.experiment, res.job.target), []).append(res)
                mark = "" if res.ok else f" [red]({res.reason})[/red]"
                progress.console.print(f"  {res.job.name}: {res.seconds:.1f} s{mark}")
                progress.advance(task)
        pool.shutdown()
        return results, False
    except KeyboardInterrupt:
        workers = list((getattr(pool, "_processes", None) or {}).values())   # the ones this command started
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        return results, True


def notes_for(args, qemu_note: str, interrupted: bool, results: dict, wall: float) -> list[str]:
    notes = [qemu_note]
    if args.full:
        notes.append("--full: the seed's 10,000 stores a page (stores=10000) for scan, subpage, rw and sweep.")
    failed = [r for rs in results.values() for r in rs if not r.ok]
    for r in failed:
        notes.append(f"{r.job.name} did not finish as expected ({r.reason}); its figures are missing.")
    if interrupted:
        notes.append("PARTIAL REPORT: interrupted (Ctrl-C); the runs not finished are missing.")
    notes.append(f"Wall time: {wall:.1f} s.")
    return notes


def cmd_report(args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from compiler.cli import UsageError, find_project_root
    from compiler.report import document, write
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    start = time.monotonic()
    root = args.root.resolve() if args.root else find_project_root()
    try:
        import matplotlib  # noqa: F401 - the plots need it; say so before building anything
    except ImportError:
        raise UsageError("kpyc report needs matplotlib: pip install matplotlib") from None
    out_dir = args.out_dir.resolve()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the report directory {out_dir}: {err.strerror}") from None
    qemu_targets, qemu_note = [], "QEMU: not run (--no-qemu)."
    if not args.no_qemu:
        if shutil.which("qemu-system-i386") is None:
            qemu_note = "QEMU: qemu-system-i386 is not installed; no QEMU columns."
        else:
            qemu_targets = ["qemu-tcg"]
    print(f"kpyc report: building the kernel ({root})", file=sys.stderr)
    images, elfs = build_images(root, out_dir, full=args.full)
    if qemu_targets:
        kvm_ok, why = qemu_kvm_works(images["rw"])
        qemu_targets += ["qemu-kvm"] if kvm_ok else []
        qemu_note = f"QEMU: TCG, {args.runs} run(s) per experiment. KVM: {why}."
        print(f"kpyc report: {qemu_note}", file=sys.stderr)
    jobs = plan(images, elfs, args.runs, qemu_targets)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=False) as progress:
        task = progress.add_task(f"{len(jobs)} runs on {WORKERS} workers", total=len(jobs))
        results, interrupted = run_all(jobs, progress, task)
    logs = out_dir / "logs"
    logs.mkdir(exist_ok=True)
    for rs in results.values():
        for r in rs:
            (logs / f"{r.job.experiment}.{r.job.target}.{r.job.run}.txt").write_text(r.text + r.report)
    notes = notes_for(args, qemu_note, interrupted, results, time.monotonic() - start)
    blocks = document.blocks(results, out_dir, notes, "qemu-kvm" in qemu_targets)
    md, page = write.write(blocks, out_dir, "kpy: the seed's experiments, replayed")
    print(f"kpyc report: wrote {md} and {page} in {time.monotonic() - start:.1f} s"
          + (" (partial: interrupted)" if interrupted else ""), file=sys.stderr)
    return 130 if interrupted else 0
