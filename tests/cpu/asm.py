"""Assemble AT&T text to raw i386 bytes with llvmlite's integrated assembler
(no relocations: tests use absolute addresses and local labels only)."""
from __future__ import annotations

import functools
import io

import llvmlite.binding as llvm
from elftools.elf.elffile import ELFFile

_initialised = False


def _target_machine():
    global _initialised
    if not _initialised:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        _initialised = True
    target = llvm.Target.from_triple("i386-unknown-none-elf")
    return target.create_target_machine(cpu="i686", reloc="static", codemodel="default")


@functools.lru_cache(maxsize=None)
def _tm():
    return _target_machine()


def _escape(text: str) -> str:
    return text.replace("\\", "\\5C").replace('"', "\\22").replace("\t", "\\09")


@functools.lru_cache(maxsize=4096)
def assemble(text: str, code16: bool = False) -> bytes:
    lines = [".text"] + ([".code16"] if code16 else []) + text.strip().splitlines()
    ir = 'target triple = "i386-unknown-none-elf"\n' + "".join(
        f'module asm "{_escape(line)}"\n' for line in lines)
    mod = llvm.parse_assembly(ir)
    obj = _tm().emit_object(mod)
    elf = ELFFile(io.BytesIO(obj))
    text_sec = elf.get_section_by_name(".text")
    if elf.get_section_by_name(".rel.text") is not None:
        raise ValueError("test assembly must not need relocations")
    return text_sec.data()
