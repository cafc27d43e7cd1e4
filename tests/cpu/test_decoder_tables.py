"""The decoder's opcode tables, the semantics table and the differential
test's instruction generator agree: every mnemonic the decoder can produce
has semantics (none falls silently to #UD), and every instruction the
generator writes decodes to a mnemonic with semantics."""
import random

import pytest

from tests.cpu.asm import assemble
from tests.cpu.insngen import Gen
from vm.cpu.decoder import ONE_BYTE, TWO_BYTE, Decoder
from vm.cpu.semantics import SEMANTICS


def decode_all(blob, code32):
    """Mnemonics of the instructions in `blob`, decoded one after another."""
    names, eip = [], 0
    fetch = lambda o: blob[o] if o < len(blob) else 0
    while eip < len(blob):
        insn = Decoder(fetch).decode(eip, code32)
        names.append(insn.mnem)
        eip += insn.length
    return names


def test_the_maps_name_only_opcodes_of_one_byte():
    assert set(ONE_BYTE) <= set(range(256)) and set(TWO_BYTE) <= set(range(256))


def test_every_decodable_mnemonic_has_semantics():
    # every opcode of both maps with every ModRM byte, in both code sizes
    found = set()
    for escape in (b"", b"\x0f"):
        for op in range(256):
            for modrm in range(256):
                blob = escape + bytes((op, modrm)) + bytes(12)
                for code32 in (True, False):
                    found.add(Decoder(lambda o: blob[o] if o < len(blob) else 0).decode(0, code32).mnem)
    assert found - set(SEMANTICS) == set()
    assert found >= {"add", "jcc", "cmpxchg8b", "bswap", "mov_to_ctl", "lgdt"}


@pytest.mark.parametrize("mode16", [False, True])
def test_every_generated_instruction_decodes_to_a_mnemonic_with_semantics(mode16):
    gen = Gen(random.Random(12), mode16)
    names = set()
    for family in Gen.FAMILIES:
        text = "\n".join(getattr(gen, family)()[0] for _ in range(40))
        names |= set(decode_all(assemble(text, code16=mode16), not mode16))
    assert "ud" not in names
    assert names - set(SEMANTICS) == set()
