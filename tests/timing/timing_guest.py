"""Small guest programs for the timing tests: kpy compiled with the
project's compiler, linked with the runtime by the project's linker, and
called on vm.flat.FlatMachine under a timing profile."""
from __future__ import annotations

import functools
from pathlib import Path

from compiler.driver import compile_module
from compiler.linker import link_objects
from vm.flat import FlatMachine

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "runtime"
BASE = 0x100000

# The seed's loops, as functions the host calls with a page address.
SEED_LOOPS = '''
from lib.string import memset

def rdtsc() -> u64:
    return asm("rdtsc", result=("=A", u64), volatile=True)

@noinline
def store_cycles(p: ptr[u8], n: u32) -> u32:
    """The sweep's loop: movb $0, (p), n times; cycles per store."""
    start: u64 = rdtsc()
    for i in range(n):
        asm("movb $$0, $0", inputs=[("*m", p)])
    return u32((rdtsc() - start) // u64(n))

@noinline
def load_cycles(p: ptr[u32], n: u32) -> u32:
    start: u64 = rdtsc()
    for i in range(n):
        asm("movl $0, %eax", inputs=[("*m", p)], clobbers=["eax", "memory"])
    return u32((rdtsc() - start) // u64(n))

def fill_with_ret(p: ptr[u8], first: u32, last: u32) -> None:
    memset(p + first, 0xC3, last - first)

def execute(p: ptr[u8], first: u32, last: u32) -> None:
    """Call each byte of [first, last): every one is a `ret`."""
    for i in range(first, last):
        asm("call *$0", inputs=[("r", p + i)], clobbers=["memory"])

def overwrite(p: ptr[u8], first: u32, last: u32) -> None:
    for i in range(first, last):
        volatile_store(p + i, u8(0xC3))

@noinline
def isqrt(y: u32) -> u32:
    root: u32 = 0
    while (root + 1) * (root + 1) <= y:
        root = root + 1
    return root

def isqrt_cycles(y: u32) -> u32:
    start: u64 = rdtsc()
    isqrt(y)
    return u32(rdtsc() - start)

def halt() -> None:
    asm("hlt")
'''


@functools.lru_cache(maxsize=None)
def _runtime_objects() -> tuple:
    objs = []
    for path in sorted(RUNTIME.rglob("*.kpy")):
        module = ".".join(path.relative_to(RUNTIME).with_suffix("").parts)
        res = compile_module(path.read_text(), str(path), module, [RUNTIME], 2, False, "obj")
        objs.append((str(path), res.output))
    return tuple(objs)


@functools.lru_cache(maxsize=None)
def linked(src: str) -> bytes:
    res = compile_module(src, "guest.kpy", "guest", [RUNTIME], 2, False, "obj")
    return link_objects([("guest.kpy", res.output)] + list(_runtime_objects()), base=BASE)


def seed_machine(timing: str) -> FlatMachine:
    return FlatMachine(linked(SEED_LOOPS), timing=timing)
