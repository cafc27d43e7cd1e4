"""Live input for the UART from a host stream (an interactive terminal).

Bytes the user types reach the guest's COM1 receiver as they arrive. This is
the one source of non-determinism the machine allows, and only when asked
for (`--serial stdio` on a terminal without `--serial-input`); runs with
input from a file stay deterministic.
"""

import os
import select


class HostInput:
    def __init__(self, stream):
        self.fd = stream.fileno()
        self.open = True

    def _read_ready(self, timeout: float) -> bytes:
        if not self.open:
            return b""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(self.fd, 4096)
        if not data:
            self.open = False              # end of file: no more input will come
        return data

    def poll(self) -> bytes:
        """What has arrived, without waiting."""
        return self._read_ready(0)

    def wait(self, timeout: float) -> bytes:
        """Block up to `timeout` seconds for input (the guest is idle meanwhile)."""
        return self._read_ready(timeout)
