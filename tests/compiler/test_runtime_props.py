"""Property tests: runtime/'s memory and string functions and 64-bit
division helpers, compiled at each -O level and run in the flat machine,
against Python references (overlap, zero length, page-crossing lengths)."""
import pytest
from hypothesis import given, settings, strategies as st

import harness
from compiler.linker import link_objects

PAGE = 4096
GUARD = 16
OPTS = [0, 1, 2]

_machines = {}


def machine(opt: int):
    """One linked runtime per -O level (tests write their own buffers)."""
    if opt not in _machines:
        elf = link_objects(list(harness.runtime_objects(opt)), base=harness.BASE)
        m = harness.make_machine(elf)
        # Two page-aligned work areas, with room to straddle page boundaries.
        m.area_a = m.alloc(4 * PAGE, align=PAGE)
        m.area_b = m.alloc(4 * PAGE, align=PAGE)
        _machines[opt] = m
    return _machines[opt]


# Lengths that cross page boundaries are likely, as are tiny and zero lengths.
lengths = st.one_of(st.integers(0, 16), st.integers(0, 2 * PAGE), st.sampled_from([PAGE - 1, PAGE, PAGE + 1, 2 * PAGE]))
offsets = st.one_of(st.integers(0, 15), st.integers(PAGE - 16, PAGE - 1))
fast = settings(max_examples=40, deadline=None)


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def sign(v: int) -> int:
    return (v > 0) - (v < 0)


@pytest.mark.parametrize("opt", OPTS)
@fast
@given(n=lengths, off=offsets, value=st.integers(-300, 300), seed=st.binary(min_size=1, max_size=1))
def test_memset(opt, n, off, value, seed):
    m = machine(opt)
    base = m.area_a + GUARD
    dst = base + off
    before = seed * (n + off + 2 * GUARD)
    m.write(base - GUARD, before)
    ret = m.call("memset", dst, value & 0xFFFFFFFF, n)
    want = bytearray(before)
    want[GUARD + off:GUARD + off + n] = bytes([value & 0xFF]) * n
    assert m.read(base - GUARD, len(before)) == bytes(want)
    assert ret == dst


@pytest.mark.parametrize("opt", OPTS)
@fast
@given(data=st.binary(max_size=600), pad=lengths, so=offsets, do=offsets)
def test_memcpy(opt, data, pad, so, do):
    m = machine(opt)
    data = data + bytes(range(256)) * (pad // 256) + bytes(pad % 256)
    n = len(data)
    src, dst = m.area_a + so, m.area_b + do
    m.write(src, data)
    m.write(dst - 4, b"\xEE" * (n + 8))
    assert m.call("memcpy", dst, src, n) == dst
    assert m.read(dst - 4, n + 8) == b"\xEE" * 4 + data + b"\xEE" * 4


@pytest.mark.parametrize("opt", OPTS)
@fast
@given(data=st.binary(min_size=0, max_size=2 * PAGE), src_off=st.integers(0, 600), dst_off=st.integers(0, 600),
       n=st.integers(0, 3000))
def test_memmove_overlapping(opt, data, src_off, dst_off, n):
    m = machine(opt)
    buf = (data + bytes(4000))[:4000]
    n = min(n, 4000 - max(src_off, dst_off))
    base = m.area_a + PAGE - 300        # the buffer straddles a page boundary
    m.write(base, buf)
    assert m.call("memmove", base + dst_off, base + src_off, n) == base + dst_off
    want = bytearray(buf)
    want[dst_off:dst_off + n] = buf[src_off:src_off + n]
    assert m.read(base, 4000) == bytes(want)


@pytest.mark.parametrize("opt", OPTS)
@fast
@given(a=st.binary(max_size=300), tail=lengths, diff_at=st.integers(0, 10_000), delta=st.integers(1, 255),
       ao=offsets, bo=offsets)
def test_memcmp(opt, a, tail, diff_at, delta, ao, bo):
    m = machine(opt)
    a = a + bytes(tail)
    b = bytearray(a)
    if b and diff_at < len(b) * 2:           # sometimes equal, sometimes not
        i = diff_at % len(b)
        b[i] = (b[i] + delta) & 0xFF
    pa, pb = m.area_a + ao, m.area_b + bo
    m.write(pa, a)
    m.write(pb, bytes(b))
    got = s32(m.call("memcmp", pa, pb, len(a)))
    want = (a > bytes(b)) - (a < bytes(b))
    assert sign(got) == want


@pytest.mark.parametrize("opt", OPTS)
@fast
@given(body=st.binary(max_size=200).map(lambda b: b.replace(b"\0", b"x")), extra=st.integers(0, 2 * PAGE), off=offsets)
def test_strlen(opt, body, extra, off):
    m = machine(opt)
    s = body + b"y" * extra
    p = m.area_a + off
    m.write(p, s + b"\0")
    assert m.call("strlen", p) == len(s)


U64 = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**32 + 5), st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**63, 2**64 - 1]))
U64_NZ = U64.filter(lambda v: v != 0)
I64 = st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(-2**32, 2**32), st.sampled_from([-2**63, -1, 1, 2**63 - 1]))
I64_NZ = I64.filter(lambda v: v != 0)


def c_divmod(a: int, b: int) -> tuple[int, int]:
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    return q, a - q * b


@pytest.mark.parametrize("opt", OPTS)
@settings(max_examples=150, deadline=None)
@given(a=U64, b=U64_NZ)
def test_unsigned_division_helpers(opt, a, b):
    m = machine(opt)
    assert m.call64("__udivdi3", harness.arg64(a), harness.arg64(b)) == a // b
    assert m.call64("__umoddi3", harness.arg64(a), harness.arg64(b)) == a % b


@pytest.mark.parametrize("opt", OPTS)
@settings(max_examples=150, deadline=None)
@given(a=I64, b=I64_NZ)
def test_signed_division_helpers(opt, a, b):
    if a == -2**63 and b == -1:
        return          # overflows in C too
    m = machine(opt)
    q, r = c_divmod(a, b)
    assert m.call64("__divdi3", harness.arg64(a), harness.arg64(b)) == q & (2**64 - 1)
    assert m.call64("__moddi3", harness.arg64(a), harness.arg64(b)) == r & (2**64 - 1)


@pytest.mark.parametrize("fn", ["__udivdi3", "__umoddi3", "__divdi3", "__moddi3"])
def test_64bit_division_by_zero_raises_divide_error(fn):
    m = machine(2)
    with pytest.raises(Exception) as ei:
        m.call64(fn, harness.arg64(5), harness.arg64(0))
    assert getattr(ei.value, "vector", 0) == 0          # #DE, like a 32-bit division by zero
