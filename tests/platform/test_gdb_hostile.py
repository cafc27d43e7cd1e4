"""Issue 20: hostile gdb packets are answered (or refused with E codes) and
never resume the guest; huge lengths are bounded before any loop."""
import io
import socket
import threading

from guest_asm import program

from vm.gdbstub import GdbStub, checksum
from vm.machine import Machine


def _stub():
    machine = Machine(ram_size=16 << 20, timing="off", disk=program("1: jmp 1b\n"), serial=io.BytesIO())
    return machine, GdbStub(machine, 0)


def test_empty_and_huge_packets_do_not_resume_or_hang():
    machine, stub = _stub()
    try:
        assert stub.handle(b"") == "" and machine.insns() == 0
        assert stub.handle(b"m0,ffffffff") == "E22"
        assert stub.handle(b"m0,1ffffffff") == "E01"
        assert stub.handle(b"Z2,9000,10000000000000000") == "E01"
        assert stub.handle(b"Z2,9000,ffffffff") == "E22"
        assert stub.handle(b"M0,ffffffff:00") == "E22"
        assert stub.handle(b"m-1,4") == "E01"
        assert stub.handle(b"\x03") == "" and machine.insns() == 0
        assert stub.handle(b"m7c00,2") == "0000" and machine.insns() == 0      # still alive, still stopped
    finally:
        stub.listener.close()


def test_ctrl_c_then_g_over_the_wire_keeps_the_guest_stopped():
    machine, stub = _stub()
    thread = threading.Thread(target=lambda: stub.serve(wait=True))
    thread.start()
    conn = socket.create_connection(("127.0.0.1", stub.port), timeout=30)

    def ask(payload: bytes, prefix: bytes = b"") -> bytes:
        conn.sendall(prefix + b"$" + payload + b"#" + checksum(payload))
        data = b""
        while not (b"#" in data and len(data) >= data.index(b"#") + 3):
            data += conn.recv(4096)
        conn.sendall(b"+")
        return data[data.index(b"$") + 1:data.index(b"#")]
    try:
        assert ask(b"") == b""
        assert len(ask(b"g", prefix=b"\x03")) > 8 * 8
        assert ask(b"m0,ffffffff") == b"E22"
        assert ask(b"?") == b"S05"                 # liveness probe: answered, guest never ran
        assert machine.insns() == 0
    finally:
        conn.sendall(b"$k#6b")
        thread.join(30)
        conn.close()
