"""Test helper: ELF32 i386 objects made by llvmlite from IR text and module asm.

Until (and besides) the kpy compiler, this is how the linker tests get
real LLVM-made objects: same assembler, same relocation choices.
"""
from __future__ import annotations

import functools

import llvmlite.binding as llvm

TRIPLE = "i386-unknown-none-elf"


@functools.cache
def _machine(opt: int = 2):
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu="i686", reloc="static", codemodel="default", opt=opt)


def _escape(line: str) -> str:
    return line.replace("\\", "\\5C").replace('"', "\\22").replace("\t", "\\09")


def module_text(ir: str = "", asm: str = "") -> str:
    machine = _machine()
    head = f'target triple = "{TRIPLE}"\ntarget datalayout = "{machine.target_data}"\n'
    asm_lines = "".join(f'module asm "{_escape(line)}"\n' for line in asm.splitlines())
    return head + asm_lines + ir


def make_object(ir: str = "", asm: str = "", opt: int = 2, debug: bool = False) -> bytes:
    """Compile IR (and module-level asm) to an ELF32 i386 relocatable object."""
    module = llvm.parse_assembly(module_text(ir, asm))
    module.verify()
    if opt:
        pto = llvm.create_pipeline_tuning_options(speed_level=opt)
        pb = llvm.create_pass_builder(_machine(opt), pto)
        pm = pb.getModulePassManager()
        pm.run(module, pb)
    return _machine(opt).emit_object(module)


def asm_object(asm: str) -> bytes:
    return make_object(asm=asm)
