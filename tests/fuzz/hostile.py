"""Issue 20's hostile-input campaigns: one strategy and one check per area.
The suite runs each for a few seconds (tests/fuzz/test_hostile_campaigns.py);
bench/soak_fuzz.py runs the same ones for longer and counts them."""
import io
import struct
import sys
from pathlib import Path

from hypothesis import strategies as st

from compiler.cache import _decode_source
from compiler.driver import CompileError, compile_source

INT_EDGES = ["0", "0x" + "f" * 16, "0x1" + "0" * 16, "1" * 80, "1" * 81, "0b" + "1" * 64, "9" * 4301]


@st.composite
def source_bytes(draw):
    """kpy-ish bytes: edge-size literals, surrogate escapes, bytes that are not UTF-8."""
    value = draw(st.sampled_from(INT_EDGES))
    body = draw(st.sampled_from([
        f"x: u32 = {value}\n", f"x: array[u8, {value}]\n", f"def f() -> u64:\n    return {value}\n",
        'def f() -> None:\n    s = "\\ud800"\n', f'@export("{draw(st.sampled_from(["llvm.x", "a", "b"]))}")\n'
        "def f() -> None:\n    pass\n"]))
    raw = bytearray(body.encode())
    for _ in range(draw(st.integers(0, 3))):
        raw.insert(draw(st.integers(0, len(raw))), draw(st.integers(0, 255)))
    return bytes(raw)


def check_source_bytes(raw: bytes, path="fuzz.kpy") -> None:
    from pathlib import Path
    try:
        text = _decode_source(Path(path), raw)
        compile_source(text, filename=path, module="fuzz", roots=[], opt=0, emit="llvm")
    except CompileError as e:
        report = str(e)
        assert "internal compiler error" not in report, report
        assert report.startswith(f"{path}:"), report


def multiboot_fields():
    u16, u32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
    return st.fixed_dictionaries({"filesz": st.one_of(st.integers(0, 64), u32),
                                  "memsz": st.one_of(st.integers(0, 64), u32),
                                  "phentsize": st.one_of(st.just(32), u16), "phnum": st.one_of(st.integers(0, 3), u16),
                                  "phoff": st.one_of(st.just(52), u32), "paddr": st.one_of(st.just(0x100000), u32)})


def multiboot_elf(filesz=4, memsz=4, phentsize=32, phnum=1, phoff=52, paddr=0x100000):
    ehdr = bytearray(52)
    ehdr[:7] = b"\x7fELF\x01\x01\x01"
    struct.pack_into("<HHIIIIIHHHHHH", ehdr, 16, 2, 3, 1, 0x100000, phoff, 0, 0, 52, phentsize, phnum, 0, 0, 0)
    phdr = struct.pack("<8I", 1, 128, paddr, paddr, filesz, memsz, 5, 4)
    header = struct.pack("<3I", 0x1BADB002, 0, (-0x1BADB002) & 0xFFFFFFFF)
    image = bytes(ehdr) + phdr + header
    return image + bytes(128 - len(image)) + b"\xf4" * 16


def check_multiboot(fields) -> None:
    from vm.bios.multiboot import MultibootError, MultibootKernel
    try:
        MultibootKernel(multiboot_elf(**fields), 16 << 20)
    except MultibootError:
        pass


PACKET_HEADS = ["", "m", "M", "Z2,", "z2,", "Z0,", "g", "G", "p", "P", "c", "s", "q", "\x03", "H", "X", "vCont"]


@st.composite
def gdb_packet(draw):
    head = draw(st.sampled_from(PACKET_HEADS))
    nums = draw(st.lists(st.sampled_from(["0", "7c00", "ffffffff", "1ffffffff", "10000000000000000", "-1", "zz"]),
                         max_size=3))
    return (head + ",".join(nums) + draw(st.sampled_from(["", ":00", ";X1,0"]))).encode("latin-1")


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))     # guest_asm


class GdbTarget:
    """One stopped machine and its stub, reused across packets (cheap)."""
    def __init__(self):
        from guest_asm import program
        from vm.gdbstub import GdbStub
        from vm.machine import Machine
        self.machine = Machine(ram_size=16 << 20, timing="off", disk=program("1: jmp 1b\n"), serial=io.BytesIO())
        self.stub = GdbStub(self.machine, 0)

    def check(self, packet: bytes) -> None:
        if packet[:1] in (b"c", b"s"):       # resuming is the point of these; the rest must not run the guest
            return
        reply = self.stub.handle(packet)
        assert reply is None or isinstance(reply, str)
        assert self.stub.handle(b"?").startswith("S"), "liveness probe"
        assert self.machine.insns() == 0, packet
