"""The QEMU `-machine pc` devices that the real firmware (SeaBIOS) talks to
and the built-in BIOS does not need: the 0x402 debug log, fw_cfg, and PCI
configuration space with the PAM shadowing of the BIOS. Installed only when
the machine runs a firmware ROM, so the built-in BIOS path is unchanged."""

from .debugport import FirmwareLog
from .fwcfg import qemu_pc_fwcfg
from .pci import Pam, PciBus


class QemuBoard:
    def __init__(self, machine, bios=None):
        """`bios`: the ROM image; then PAM maps its last 128 KiB at 0xE0000
        (instead of the machine's plain 64 KiB at 0xF0000)."""
        self.firmware_log = FirmwareLog(machine)
        self.fw_cfg = qemu_pc_fwcfg(machine.ram_size)
        self.pam = Pam(machine.memory, bios) if bios is not None else None
        self.pci = PciBus(self.pam)
        for device in (self.firmware_log, self.fw_cfg, self.pci):
            device.register(machine.ports, machine.memory)
            machine.devices.append(device)

    def reset(self):
        """A system reset puts the chipset back: PAM to ROM, no config address
        (SeaBIOS's reboot path relies on finding its ROM at 0xF0000 again)."""
        self.pci.address = 0
        bridge = self.pci.host_bridge
        for reg in range(0x59, 0x60):
            bridge.write(reg, 0)
