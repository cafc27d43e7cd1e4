"""kpyc: the kpy compiler, linker and image builder."""

import os as _os

# kpy lowers to LLVM 22, which knows only opaque pointers: ask llvmlite's IR
# layer for them (the lowering also forces `ptr` on every global it makes).
_os.environ.setdefault("LLVMLITE_ENABLE_IR_LAYER_TYPED_POINTERS", "0")
