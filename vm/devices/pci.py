"""PCI configuration space of QEMU's `-machine pc`: the i440FX host bridge
(00:00.0, 8086:1237) and the PIIX3 PCI-to-ISA bridge (00:01.0, 8086:7000),
through configuration mechanism #1: 0xCF8 holds the 32-bit address
(bit 31 enable, bus 23:16, device 15:11, function 10:8, register 7:2), and
0xCFC-0xCFF read/write the addressed dword's bytes.

The host bridge's PAM registers 0x59-0x5F decide, per segment of
0xC0000-0xFFFFF, whether reads/writes reach RAM or the BIOS ROM (`Pam`).
Function 01.1 is the PIIX3 IDE controller (8086:7010) in legacy mode
(prog-if 0x80: the fixed 0x1F0/0x3F6 ports, IRQ 14; BAR4 is its 16-byte
bus-master block, sized and placed by the firmware but not implemented:
SeaBIOS reads by PIO). Function 01.3 is the PIIX4 power management
(8086:7113); its PMBA (0x40) and PMREGMISC (0x80) are plain registers,
since vm.devices.acpi_pm sits at 0x600 from power-on, where SeaBIOS moves
pm_base anyway. Other slots read all-ones, like an empty slot.
"""

import struct

ADDRESS_PORT = 0xCF8
DATA_PORT = 0xCFC
PAM0 = 0x59


class PciFunction:
    """A type-0 configuration space: 256 bytes, writable where `writable` says."""

    def __init__(self, vendor, device, class_code, revision=0, header_type=0, subsystem=(0x1AF4, 0x1100)):
        self.config = bytearray(256)
        struct.pack_into("<HH", self.config, 0, vendor, device)
        self.config[0x08] = revision
        self.config[0x09:0x0C] = class_code.to_bytes(3, "little")   # prog-if, subclass, class
        self.config[0x0E] = header_type
        struct.pack_into("<HH", self.config, 0x2C, *subsystem)
        # command/status low byte, cache line, latency, interrupt line, and the
        # device-specific registers from 0x40 (chipset registers) are writable
        self.writable = bytearray(256)
        for reg in (0x04, 0x05, 0x0C, 0x0D, 0x3C):
            self.writable[reg] = 0xFF
        self.writable[0x40:] = b"\xff" * 0xC0

    def add_bar(self, index: int, size: int, io: bool = True):
        """A base address register of `size` bytes (a power of two): the bits
        below the size read 0 (the I/O flag bit 0 reads 1), so writing all-ones
        and reading back tells the firmware the size, as PCI sizing expects."""
        at = 0x10 + 4 * index
        struct.pack_into("<I", self.writable, at, ~(size - 1) & 0xFFFFFFFF)
        struct.pack_into("<I", self.config, at, 1 if io else 0)

    def read(self, reg: int) -> int:
        return self.config[reg]

    def write(self, reg: int, byte: int):
        mask = self.writable[reg]
        self.config[reg] = (self.config[reg] & ~mask | byte & mask) & 0xFF


class HostBridge(PciFunction):
    """i440FX PMC: its PAM bytes drive `pam.update`."""

    def __init__(self, pam=None):
        super().__init__(0x8086, 0x1237, 0x060000, revision=0x02)
        self.pam = pam
        self.config[0x72] = 0x02      # SMRAM: QEMU's reset value

    def write(self, reg: int, byte: int):
        super().write(reg, byte)
        if PAM0 <= reg <= PAM0 + 6 and self.pam is not None:
            self.pam.update(bytes(self.config[PAM0:PAM0 + 7]))


def piix3() -> PciFunction:
    fn = PciFunction(0x8086, 0x7000, 0x060100, header_type=0x80)   # multi-function
    fn.config[0x60:0x64] = b"\x80\x80\x80\x80"    # PIRQ routing disabled at reset
    return fn


def piix3_ide() -> PciFunction:
    fn = PciFunction(0x8086, 0x7010, 0x010180)        # IDE, legacy mode, bus-master capable
    fn.add_bar(4, 16)
    return fn


def piix4_pm() -> PciFunction:
    fn = PciFunction(0x8086, 0x7113, 0x068000, revision=0x03)
    fn.config[0x3D] = 1                                 # INTA#, the SCI (the firmware routes it to IRQ 9)
    # DEVACTB's APMC_EN already set: "SMM is initialised", as QEMU's smm=off
    # marks it, so SeaBIOS (bios-256k.bin has SMM support) does not try to
    # run its SMI handler on this SMM-less CPU
    fn.config[0x5B] = 0x02
    return fn


class PciBus:
    timed = False

    def __init__(self, pam=None, ide=False, acpi=False):
        """`ide`, `acpi`: put the IDE (01.1) and power-management (01.3)
        functions on the bus (the machine has the disk / ACPI block they front)."""
        self.address = 0
        self.host_bridge = HostBridge(pam)
        self.functions = {(0, 0, 0): self.host_bridge, (0, 1, 0): piix3()}
        if ide:
            self.functions[(0, 1, 1)] = piix3_ide()
        if acpi:
            self.functions[(0, 1, 3)] = piix4_pm()

    def _target(self):
        if not self.address & 0x80000000:
            return None, 0
        a = self.address
        return self.functions.get(((a >> 16) & 0xFF, (a >> 11) & 0x1F, (a >> 8) & 7)), a & 0xFC

    def port_read(self, port: int, size: int) -> int:
        if port < DATA_PORT:
            return self.address
        fn, reg = self._target()
        if fn is None:
            return 0xFFFFFFFF
        reg += port - DATA_PORT
        return sum(fn.read((reg + i) & 0xFF) << (8 * i) for i in range(size))

    def port_write(self, port: int, size: int, value: int):
        if port < DATA_PORT:
            if size == 4:      # only dword accesses hit the address register
                self.address = value & 0x80FFFFFC
            return
        fn, reg = self._target()
        if fn is not None:
            reg += port - DATA_PORT
            for i in range(size):
                fn.write((reg + i) & 0xFF, (value >> (8 * i)) & 0xFF)

    def register(self, ports, memory):
        # only 0xCF8 itself: a dword access there reaches it, and 0xCF9 stays
        # the reset control register (vm.devices.system_control)
        ports.register(ADDRESS_PORT, 1, self)
        ports.register(DATA_PORT, 4, self)


# (base, size, PAM register, nibble shift): 0x59's high nibble is the 64 KiB
# BIOS segment, 0x5A-0x5F cover 0xC0000-0xEFFFF in 16 KiB pieces
PAM_SEGMENTS = [(0xF0000, 0x10000, 0, 4)] + [
    (0xC0000 + 0x4000 * i, 0x4000, 1 + i // 2, 4 * (i % 2)) for i in range(12)]
PAM_RE, PAM_WE = 1, 2


class Pam:
    """Maps each PAM segment: read-enable off -> the ROM (the last 128 KiB of
    the BIOS image at 0xE0000, QEMU's isa-bios; 0xFF below it); read and
    write enabled -> RAM; read-only -> a ROM copy of the RAM (nothing can
    change it while locked). Write-only (WE without RE) is treated as the
    ROM: its writes are dropped instead of reaching RAM (TODO)."""

    def __init__(self, memory, bios: bytes):
        self.memory = memory
        low = bytes(bios[-0x20000:])
        self.image = b"\xff" * (0x40000 - len(low)) + low        # 0xC0000-0xFFFFF
        self.modes = [None] * len(PAM_SEGMENTS)
        self.regions = [None] * len(PAM_SEGMENTS)
        self.update(bytes(7))

    def update(self, pam: bytes):
        for i, (base, size, reg, shift) in enumerate(PAM_SEGMENTS):
            mode = (pam[reg] >> shift) & 3
            if mode != self.modes[i]:
                self._map(i, base, size, mode)

    def _map(self, i, base, size, mode):
        if self.regions[i] is not None:
            self.memory.remove_region(self.regions[i])
            self.regions[i] = None
        self.modes[i] = mode
        if mode == PAM_RE | PAM_WE:
            return                         # plain RAM
        if mode == PAM_RE:
            data = bytes(self.memory.ram[base:base + size])
        else:
            data = self.image[base - 0xC0000:base - 0xC0000 + size]
        self.regions[i] = self.memory.add_rom(base, data)
