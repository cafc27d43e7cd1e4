"""Timing profiles: named tables of emulated-cycle costs.

The CPU charges these costs; it holds no cost constants itself.  Static
costs (per instruction class, per ordinary memory access) are summed once
per translated block; dynamic ones (page walks, first touch of host
memory, writes to pages holding executed code, MMIO, the cold period after
`hlt`) are charged on the slow paths where those events are detected.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from vm.timing import toml

# The timing rules: every cycle is charged under one of these names, the
# static ones folded into translated blocks (translate.py), the others
# through CPU.charge(rule, cycles, page) (vm.profiler subscribes to it).
# A new rule: its costs in Profile and the profile files, its name here,
# and one charge() at the place the event is detected.
RULES = {
    "static": "instructions (static block cost)",
    "ordinary_memory": "ordinary loads/stores (static block cost)",
    "code_write": "stores to pages holding executed code",
    "mmio": "MMIO accesses",
    "first_touch": "first touch of host memory",
    "page_walk": "page walks",
    "io": "I/O port accesses",
    "interrupt": "interrupt delivery and software interrupts",
    "cold": "cold period after hlt",
}

PROFILE_DIR = Path(__file__).resolve().parent
BUILT_IN = ("tcg", "kvm", "off")


class ProfileError(Exception):
    pass


@dataclass
class Profile:
    name: str = "off"
    # per retired instruction, by class (the class of an instruction is set by the decoder)
    insn: int = 1            # every instruction not in a costlier class
    mul: int = 1
    div: int = 1
    branch: int = 1          # taken or not, jumps, calls, returns
    io: int = 1              # in/out
    rdtsc: int = 1
    interrupt: int = 0       # extra for delivering an interrupt/exception
    string_iter: int = 0     # per iteration of a rep-prefixed string instruction
    # memory accesses (ordinary RAM through the fast path)
    mem_read: int = 0
    mem_write: int = 0
    # slow-path events
    page_walk: int = 0       # TLB miss with paging on
    first_touch: int = 0     # first guest access to a chunk of host memory
    first_touch_shift: int = 12   # log2 of that chunk (12: 4 KiB pages, 21: 2 MiB huge pages)
    code_page_write: int = 0   # write to a page holding executed code (fixed part)
    exec_byte_write: int = 0   # ... plus this per executed byte still on the page
    exec_block_write: int = 0  # ... plus this per translated block starting on the page
    exec_cost_divisor: int = 1  # the two costs above are in 1/exec_cost_divisor cycles
    mmio_read: int = 0       # per MMIO load
    mmio_write: int = 0      # per MMIO store
    smc_invalidate: int = 0  # a write that invalidates decoded blocks
    hlt_cold_insns: int = 0  # length of the cold period after hlt (instructions)
    hlt_cold_insn: int = 0   # extra per instruction in that period
    notes: str = field(default="", repr=False)

    def insn_cost(self, klass: str) -> int:
        return getattr(self, klass)


INSN_CLASSES = ("insn", "mul", "div", "branch", "io", "rdtsc")
COST_NAMES = tuple(f.name for f in dataclasses.fields(Profile) if f.name not in ("name", "notes"))


def profile_path(spec) -> Path:
    return PROFILE_DIR / f"{spec}.toml" if str(spec) in BUILT_IN else Path(spec)


def load_profile(spec) -> Profile:
    """`spec` is a Profile, a built-in name ("tcg", "kvm", "off") or a TOML path."""
    if isinstance(spec, Profile):
        return spec
    if spec is None:
        spec = "off"
    path = profile_path(spec)
    try:
        data = toml.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"timing profile not found: {spec} (use tcg, kvm, off or a .toml file)")
    except IsADirectoryError:
        raise ProfileError(f"timing profile {spec} is a directory, not a .toml file")
    except UnicodeDecodeError:
        raise ProfileError(f"cannot read timing profile {path}: not UTF-8 text")
    except (OSError, toml.TOMLDecodeError) as err:
        raise ProfileError(f"cannot read timing profile {path}: {err}")
    return _profile_from_table(data, path)


def _profile_from_table(data: dict, path: Path) -> Profile:
    known = set(COST_NAMES)
    values = {"name": str(data.pop("name", path.stem))}
    for key, value in data.items():
        if key == "notes":
            values[key] = str(value)
            continue
        if key not in known:
            raise ProfileError(f"{path}: unknown timing cost '{key}' (known: {', '.join(sorted(known))})")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProfileError(f"{path}: '{key}' must be a non-negative integer, got {value!r}")
        values[key] = value
    if values.get("exec_cost_divisor", 1) < 1:
        raise ProfileError(f"{path}: 'exec_cost_divisor' must be at least 1")
    if values.get("first_touch_shift", 12) > 31:
        raise ProfileError(f"{path}: 'first_touch_shift' must be at most 31")
    return Profile(**values)
