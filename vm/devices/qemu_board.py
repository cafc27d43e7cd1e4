"""The QEMU `-machine pc` devices that the real firmware (SeaBIOS) talks to
and the built-in BIOS does not need: the 0x402 debug log, fw_cfg (with the
ACPI tables and their table-loader script, and SMBIOS), PCI configuration space with the
PAM shadowing of the BIOS, the IDE function and the ATA disk behind it, and
the PIIX4 power-management function. Installed only when the machine runs a
firmware ROM, so the built-in BIOS path is unchanged."""

from .acpi_loader import acpi_files
from .ata import AtaChannel
from .debugport import FirmwareLog
from .fwcfg import qemu_pc_fwcfg
from .pci import Pam, PciBus
from .smbios import smbios_files


class QemuBoard:
    def __init__(self, machine, bios=None):
        """`bios`: the ROM image; then PAM maps its last 128 KiB at 0xE0000
        (instead of the machine's plain 64 KiB at 0xF0000)."""
        self.firmware_log = FirmwareLog(machine)
        self.fw_cfg = qemu_pc_fwcfg(machine.ram_size)
        for name, data in {**acpi_files(), **smbios_files(machine.ram_size)}.items():
            self.fw_cfg.add_file(name, data)
        self.pam = Pam(machine.memory, bios) if bios is not None else None
        self.pci = PciBus(self.pam, ide=True, acpi=True)
        devices = [self.firmware_log, self.fw_cfg, self.pci]
        # the boot disk as the primary channel's master, as QEMU's -drive gives it
        self.ata = AtaChannel(machine, machine.disk) if machine.disk is not None else None
        if self.ata is not None:
            devices.append(self.ata)
        for device in devices:
            device.register(machine.ports, machine.memory)
            machine.devices.append(device)

    def reset(self):
        """A system reset puts the chipset back: PAM to ROM, no config address
        (SeaBIOS's reboot path relies on finding its ROM at 0xF0000 again)."""
        self.pci.address = 0
        if self.ata is not None:
            self.ata.reset()
        bridge = self.pci.host_bridge
        for reg in range(0x59, 0x60):
            bridge.write(reg, 0)
