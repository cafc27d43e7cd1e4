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


class EmitFailure(Exception):
    """LLVM rejected the module while emitting it (in practice: inline or
    module asm that does not assemble); `report` is LLVM's stderr text."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


def isolated(fn, *args):
    """Run an emission step in a forked child process.

    LLVM reports an error in inline or module asm by printing it and
    exiting the whole process, which would take the compiler (and a test
    run or the build) down with it. In a child, that exit becomes an
    EmitFailure carrying LLVM's message."""
    import os
    import pickle
    import tempfile
    if not hasattr(os, "fork"):
        return fn(*args)
    with tempfile.TemporaryFile() as errf:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                                    # child
            code = 0
            try:
                os.close(r)
                os.dup2(errf.fileno(), 2)
                payload = pickle.dumps(("ok", fn(*args)))
            except BaseException as e:                  # noqa: BLE001 - reported to the parent
                payload, code = pickle.dumps(("error", f"{type(e).__name__}: {e}")), 1
            try:
                with os.fdopen(w, "wb") as f:
                    f.write(payload)
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            payload = f.read()
        os.waitpid(pid, 0)
        errf.seek(0)
        stderr = errf.read().decode("utf-8", "replace")
    if payload:
        kind, value = pickle.loads(payload)
        if kind == "ok":
            return value
        raise EmitFailure(f"{value}\n{stderr}".strip())
    raise EmitFailure(stderr.strip() or "LLVM stopped while emitting the module")
