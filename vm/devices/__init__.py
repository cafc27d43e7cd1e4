"""The PC's devices, each driven through the port bus or an MMIO window.

Every device talks to the rest of the machine through a small `board`
object (the Machine) for the few things that cross devices: raising an
interrupt line, power and reset requests, the A20 gate, and logging.
The contracts (Device, TimedDevice, Board) are in protocols.py.
"""
from ..jit_hints import keep_out_of_traces


def write_to_host(stream, byte: int):
    """Write one guest byte to a host stream (None: nowhere); returns the
    stream, or None once it is closed: a closed pipe or file must not stop
    the guest."""
    if stream is not None:
        try:
            stream.write(bytes((byte,)))
        except (OSError, ValueError):
            return None
    return stream


# PyPy: a host write (the file or pipe layers below `write`) is called from
# the traces of the UART's and debug console's `out`, not inlined: it made
# `pout` the longest function of a too-long trace (jit_hints.py)
keep_out_of_traces(write_to_host)
