"""A real-mode BIOS call as the Python service handlers see it.

Wraps the CPU registers with the 8/16-bit views BIOS interfaces use (AH, AL,
BX, ES, ...) and reaches the interrupt's return frame (IP, CS, FLAGS at
SS:SP) to report CF/ZF, since the guest's `iret` reloads FLAGS from there.
"""

ES, CS, SS, DS = 0, 1, 2, 3
CARRY, ZERO = 0x0001, 0x0040


def _reg16(name):
    def get(self):
        return getattr(self.cpu, name) & 0xFFFF

    def set(self, value):
        setattr(self.cpu, name, (getattr(self.cpu, name) & 0xFFFF0000) | (value & 0xFFFF))
    return property(get, set)


def _reg8(name, shift):
    def get(self):
        return (getattr(self.cpu, name) >> shift) & 0xFF

    def set(self, value):
        full = getattr(self.cpu, name)
        setattr(self.cpu, name, (full & ~(0xFF << shift)) | ((value & 0xFF) << shift))
    return property(get, set)


class BiosCall:
    def __init__(self, cpu, memory, ram_size: int):
        self.cpu = cpu
        self.memory = memory
        self.ram_size = ram_size

    ax, bx, cx, dx = _reg16("eax"), _reg16("ebx"), _reg16("ecx"), _reg16("edx")
    si, di, bp, sp = _reg16("esi"), _reg16("edi"), _reg16("ebp"), _reg16("esp")
    ah, al = _reg8("eax", 8), _reg8("eax", 0)
    bh, bl = _reg8("ebx", 8), _reg8("ebx", 0)
    ch, cl = _reg8("ecx", 8), _reg8("ecx", 0)
    dh, dl = _reg8("edx", 8), _reg8("edx", 0)

    def seg(self, index: int) -> int:
        return self.cpu.get_seg(index) & 0xFFFF

    @staticmethod
    def linear(segment: int, offset: int) -> int:
        return (segment << 4) + offset

    # ------------------------------------------------------------ memory
    def read(self, addr: int, n: int) -> bytes:
        if addr < 0 or addr + n > self.ram_size:
            raise BiosFault(f"read of {n} bytes at {addr:#x} outside RAM")
        return bytes(self.memory.read(addr, n))

    def write(self, addr: int, data: bytes):
        if addr < 0 or addr + len(data) > self.ram_size:
            raise BiosFault(f"write of {len(data)} bytes at {addr:#x} outside RAM")
        self.memory.write(addr, bytes(data))

    def read16(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 2), "little")

    def write16(self, addr: int, value: int):
        self.write(addr, (value & 0xFFFF).to_bytes(2, "little"))

    # ------------------------------------------------------------ return frame
    def _frame(self) -> int:
        return self.linear(self.seg(SS), self.sp)

    def frame_flags(self) -> int:
        return self.read16(self._frame() + 4)

    def set_frame_flag(self, bit: int, on: bool):
        flags = self.frame_flags()
        self.write16(self._frame() + 4, flags | bit if on else flags & ~bit)

    def set_carry(self, on: bool):
        self.set_frame_flag(CARRY, on)

    def set_zero(self, on: bool):
        self.set_frame_flag(ZERO, on)

    def set_return_address(self, segment: int, offset: int, flags: int = None):
        frame = self._frame()
        self.write16(frame, offset)
        self.write16(frame + 2, segment)
        if flags is not None:
            self.write16(frame + 4, flags)

    def succeed(self, ah: int = 0):
        self.ah = ah
        self.set_carry(False)

    def fail(self, ah: int):
        self.ah = ah
        self.set_carry(True)


class BiosFault(Exception):
    """A service could not be carried out (bad pointer from the guest)."""
