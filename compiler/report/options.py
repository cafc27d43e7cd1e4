"""`kpyc report`'s options, apart from the command so that building kpyc's
argument parser does not import the report's machinery (every `kpyc build`
builds the parser)."""
from __future__ import annotations

from pathlib import Path


def add_options(p) -> None:
    p.add_argument("-o", "--out-dir", type=Path, default=Path("report"), help="output directory (default ./report)")
    p.add_argument("--runs", type=int, default=1, help="QEMU runs per experiment (default 1; its figures vary with the host)")
    p.add_argument("--full", action="store_true", help="the seed's own sizes where the kernel supports them")
    p.add_argument("--no-qemu", action="store_true", help="the VM only")
    p.add_argument("--root", type=Path, help="project directory (default: found from the cwd)")
