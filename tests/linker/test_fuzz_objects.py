"""Corrupted objects give a LinkError, never a Python traceback."""
import pytest
from hypothesis import given, settings, strategies as st

from compiler.linker import LinkError, link_objects

from lk_objects import make_object
from lk_programs import CALLS_IR, HELPER_IR

MAIN = make_object(CALLS_IR)
HELPER = make_object(HELPER_IR)


def _metadata_offsets(obj: bytes) -> list[int]:
    """Byte offsets of the ELF header, section headers, symbol and relocation tables."""
    import io
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(obj))
    offsets = list(range(0, 0x34))
    offsets += range(elf.header["e_shoff"], elf.header["e_shoff"] + 40 * elf.num_sections())
    for sec in elf.iter_sections():
        if sec["sh_type"] in ("SHT_SYMTAB", "SHT_REL", "SHT_STRTAB", "SHT_GROUP"):
            offsets += range(sec["sh_offset"], sec["sh_offset"] + sec["sh_size"])
    return offsets


METADATA = _metadata_offsets(MAIN)


def link_or_error(data: bytes) -> None:
    try:
        link_objects([("main.o", data), ("helper.o", HELPER)])
    except LinkError as exc:
        assert str(exc)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, len(MAIN) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_corruption(edits):
    link_or_error(edited(edits))


@settings(max_examples=400)
@given(st.lists(st.tuples(st.sampled_from(METADATA), st.integers(0, 255)), min_size=1, max_size=4))
def test_metadata_corruption(edits):
    link_or_error(edited(edits))


def edited(edits) -> bytes:
    """MAIN with the byte at each offset replaced."""
    data = bytearray(MAIN)
    for offset, value in edits:
        data[offset] = value
    return bytes(data)


@settings(max_examples=100)
@given(st.integers(0, len(MAIN)))
def test_truncation(length):
    link_or_error(MAIN[:length])


@pytest.mark.parametrize("field_offset", range(0x18, 0x34, 2))
def test_header_fields_maxed(field_offset):
    data = bytearray(MAIN)
    data[field_offset:field_offset + 2] = b"\xff\xff"
    link_or_error(bytes(data))
