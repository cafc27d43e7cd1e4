"""kpyc: the kpy compiler, linker and image builder."""
