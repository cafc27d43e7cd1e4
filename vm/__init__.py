"""The reference VM: a pure-Python PC with an i386 CPU and emulated memory timing."""
