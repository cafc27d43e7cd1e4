"""Differential test against Unicorn: random instruction sequences from random
register, flag and memory states, in 32-bit protected mode and 16-bit real
mode; registers, defined flags and the data window must match exactly.

Batches: each example is a seed for 100 sequences assembled into one blob
(so CI covers >= 20,000 sequences quickly); a mismatch names the sequence
and the starting state.  The `randoms` tests let hypothesis shrink a
single failing sequence.
"""
import random

from hypothesis import given, settings, strategies as st

from tests.cpu.differential import LAYOUT16, LAYOUT32, compare_sequences, run_batch
from tests.cpu.insngen import Gen

BATCH = 100


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_32bit_batches_match_unicorn(seed):
    assert run_batch(seed, BATCH, mode16=False) == BATCH


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_16bit_batches_match_unicorn(seed):
    assert run_batch(seed, BATCH, mode16=True) == BATCH


@settings(max_examples=150, deadline=None)
@given(st.randoms(use_true_random=False), st.booleans())
def test_single_sequences_match_unicorn(rnd, mode16):
    gen = Gen(rnd, mode16)
    seq = gen.sequence(rnd.randint(1, 8))
    compare_sequences([seq], LAYOUT16 if mode16 else LAYOUT32, random.Random(rnd.getrandbits(32)))
