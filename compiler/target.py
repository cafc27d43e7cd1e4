"""The i386 target: LLVM initialisation, the target machine, the
optimisation pipeline (new pass builder) and object/assembly emission."""
from __future__ import annotations

from functools import lru_cache

import llvmlite.binding as llvm

TRIPLE = "i386-unknown-none-elf"
CPU = "i686"


@lru_cache(maxsize=None)
def _initialised() -> bool:
    # The asm parser is required: without it, emitting an object that holds
    # inline asm aborts the whole process (see TOOLCHAIN-NOTES).
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    try:
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
    except Exception:      # older/newer llvmlite: the native (x86) target suffices
        pass
    return True


@lru_cache(maxsize=None)
def target_machine(opt: int = 2):
    _initialised()
    target = llvm.Target.from_triple(TRIPLE)
    return target.create_target_machine(cpu=CPU, features="", opt=opt, reloc="static",
                                        codemodel="default")


def data_layout() -> str:
    return str(target_machine(0).target_data)


def optimise(module, opt: int) -> None:
    if opt <= 0:
        return
    tm = target_machine(opt)
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pb = llvm.create_pass_builder(tm, pto)
    mpm = pb.getModulePassManager()
    mpm.run(module, pb)


def parse_ir(text: str):
    _initialised()
    mod = llvm.parse_assembly(text)
    mod.triple = TRIPLE
    mod.verify()
    return mod


def emit_object(module, opt: int) -> bytes:
    return target_machine(opt).emit_object(module)


def emit_assembly(module, opt: int) -> str:
    return target_machine(opt).emit_assembly(module)


# Emission runs in a forked child that LLVM may kill: see emitter.py.
from .emitter import EmitFailure, isolated  # noqa: E402,F401
