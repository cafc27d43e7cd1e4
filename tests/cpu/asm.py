"""Assemble AT&T text to raw i386 bytes with llvmlite's integrated assembler
(no relocations: tests use absolute addresses and local labels only)."""
from __future__ import annotations

import functools
import io

import llvmlite.binding as llvm
from elftools.elf.elffile import ELFFile

@functools.lru_cache(maxsize=None)
def _tm():
    """The i386 target machine, made once (the asm parser is needed for module asm)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    target = llvm.Target.from_triple("i386-unknown-none-elf")
    return target.create_target_machine(cpu="i686", reloc="static", codemodel="default")


def _escape(text: str) -> str:
    return text.replace("\\", "\\5C").replace('"', "\\22").replace("\t", "\\09")


R_386_32, R_386_PC32, R_386_16 = 1, 2, 20


@functools.lru_cache(maxsize=4096)
def assemble(text: str, code16: bool = False, base: int = 0x7C00) -> bytes:
    """Bytes of `text` placed at `base` (absolute references to labels are
    relocated to it; only labels in .text may be referenced)."""
    return assemble_with_labels(text, code16, base)[0]


def assemble_with_labels(text: str, code16: bool = False, base: int = 0x7C00):
    """(bytes, {label: offset}) for the named (non-.L, non-numeric) labels of `text`."""
    lines = [".text"] + ([".code16"] if code16 else []) + text.strip().splitlines()
    ir = 'target triple = "i386-unknown-none-elf"\n' + "".join(
        f'module asm "{_escape(line)}"\n' for line in lines)
    mod = llvm.parse_assembly(ir)
    obj = _tm().emit_object(mod)
    elf = ELFFile(io.BytesIO(obj))
    text_sec = elf.get_section_by_name(".text")
    data = bytearray(text_sec.data())
    rel = elf.get_section_by_name(".rel.text")
    if rel is not None:
        symtab = elf.get_section(rel["sh_link"])
        text_index = elf.get_section_index(".text")
        for r in rel.iter_relocations():
            sym = symtab.get_symbol(r["r_info_sym"])
            if sym["st_shndx"] != text_index:
                raise ValueError(f"test assembly refers to {sym.name!r} outside .text")
            off, kind = r["r_offset"], r["r_info_type"]
            size = 2 if kind == R_386_16 else 4
            if kind not in (R_386_32, R_386_16):
                raise ValueError(f"unsupported relocation type {kind}")
            addend = int.from_bytes(data[off:off + size], "little")
            value = (addend + sym["st_value"] + base) & ((1 << (8 * size)) - 1)
            data[off:off + size] = value.to_bytes(size, "little")
    labels = {}
    symtab = elf.get_section_by_name(".symtab")
    text_index = elf.get_section_index(".text")
    for sym in symtab.iter_symbols():
        if sym.name and sym["st_shndx"] == text_index and sym["st_info"]["type"] == "STT_NOTYPE":
            labels[sym.name] = sym["st_value"]
    return bytes(data), labels
