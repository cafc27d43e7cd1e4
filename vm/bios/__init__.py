"""The built-in PC firmware, written in Python.

The ROM at 0xF0000 holds real x86 code only where the guest must execute
something (the reset vector, the POST entry that issues int 19h, the
Multiboot trampoline); every BIOS service entry is a one-byte `iret` whose
address has a CPU exec hook: the Python handler does the work on the
registers and memory, then the guest's own `iret` returns to the caller.
"""
