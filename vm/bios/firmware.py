"""The built-in BIOS: POST, the interrupt vector table and BIOS data area,
the service hooks, and the bootstrap (int 19h) from disk or Multiboot."""

from .acpi import AcpiTables
from .call import BiosCall, BiosFault
from .disk import DiskServices
from .e820 import EBDA_BASE, high_tables_base
from .multiboot import INFO_ADDRESS
from .rom import (DEFAULT_IRET, MULTIBOOT_ENTRY, MULTIBOOT_GDT_RAM, POST_ENTRY, ROM_ALIAS, ROM_BASE,
                  RomImage, multiboot_gdt)
from .services import (KeyboardServices, SystemServices, TimeServices, VideoServices,
                       equipment, memory_size)

BOOT_ADDRESS = 0x7C00
BOOT_FLAGS = 0x0202                 # IF set, as when SeaBIOS jumps to the boot sector
BOOT_STACK = 0x6F04                 # SS:SP = 0000:6F04 at the boot sector, as SeaBIOS leaves it
BOOT_EAX = 0xAA55                   # SeaBIOS leaves the signature it checked in AX
MASTER_IRQ_BASE, SLAVE_IRQ_BASE = 0x08, 0x70
TICKS_PER_DAY = 0x1800B0
BDA_VALUES = (                      # (address, size, value), as SeaBIOS leaves them on QEMU
    (0x400, 2, 0x3F8),              # COM1
    (0x40E, 2, EBDA_BASE >> 4),     # EBDA segment
    (0x410, 2, 0x0222),             # equipment: FPU, 80x25 colour, one serial port
    (0x413, 2, EBDA_BASE >> 10),    # base memory in KiB (639)
    (0x41A, 2, 0x1E),               # keyboard buffer head
    (0x41C, 2, 0x1E),               # keyboard buffer tail (empty)
    (0x449, 1, 0x03),               # video mode
    (0x44A, 2, 80),                 # columns
    (0x44C, 2, 4096),               # page size
    (0x460, 2, 0x0607),             # cursor shape
    (0x463, 2, 0x3D4),              # CRTC port
    (0x47C, 1, 0x0A),               # COM1 timeout
    (0x480, 2, 0x1E),               # keyboard buffer start
    (0x482, 2, 0x3E),               # keyboard buffer end
    (0x475, 1, 1),                  # hard disks
    (0x484, 1, 24),                 # rows - 1
    (0x485, 2, 16),                 # character height
    (0x487, 4, 0x0851F960),         # EGA/VGA control, switches, flags
)


class BuiltinBios:
    def __init__(self, machine, disk=None, multiboot=None):
        self.machine = machine
        self.disk = disk
        self.multiboot = multiboot
        self.tables = AcpiTables(high_tables_base(machine.ram_size))
        self.disk_services = DiskServices(disk, machine.log)
        self.services = {
            0x10: VideoServices(machine.vga, machine.log, machine.teletype).handle,
            0x11: equipment,
            0x12: memory_size,
            0x13: self.disk_services.handle,
            0x15: SystemServices(machine, machine.ram_size).handle,
            0x16: KeyboardServices().handle,
            0x18: self._boot_failure,
            0x19: self._bootstrap,
            0x1A: TimeServices(machine.cmos).handle,
            0x08: self._timer_tick,
        }
        for irq in range(1, 16):
            vector = MASTER_IRQ_BASE + irq if irq < 8 else SLAVE_IRQ_BASE + irq - 8
            self.services[vector] = self._irq_handler(irq)
        info = INFO_ADDRESS if multiboot else 0
        entry = multiboot.entry if multiboot else 0
        self.rom = RomImage(sorted(self.services), self.tables.rsdp, info, entry)

    # ------------------------------------------------------------ install
    def install(self, memory, cpu):
        memory.add_rom(ROM_BASE, self.rom.data, alias=ROM_ALIAS)
        for vector, handler in self.services.items():
            cpu.add_exec_hook(self.rom.stubs[vector], self._hook(handler))
        cpu.add_exec_hook(ROM_BASE + POST_ENTRY, self._hook(self._post))

    def _hook(self, handler):
        machine = self.machine

        def hook(cpu):
            if cpu.cr[0] & 1:
                machine.log("guest_errors", "BIOS entry reached in protected mode; ignored")
                return
            call = BiosCall(cpu, machine.memory, machine.ram_size)
            try:
                handler(call)
            except BiosFault as fault:
                machine.log("guest_errors", f"BIOS: {fault}")
                try:
                    call.set_carry(True)
                except BiosFault:
                    pass
        return hook

    # ------------------------------------------------------------ POST
    def _post(self, call: BiosCall):
        m = self.machine
        call.write(0, b"".join(self._vector(v).to_bytes(4, "little") for v in range(256)))
        call.write(0x400, bytes(0x100))
        for address, size, value in BDA_VALUES:
            call.write(address, value.to_bytes(size, "little"))
        call.write(EBDA_BASE, bytes(0x400))
        call.write(EBDA_BASE, b"\x01")                  # EBDA size in KiB
        call.write(self.tables.base, self.tables.blob)
        m.system_control.port_write(0x92, 1, 0x02)        # A20 on, as SeaBIOS leaves it
        self._setup_pic()
        self._setup_pit()
        m.vga.clear()
        for segment in (0, 2, 3):                        # ES, SS, DS
            call.cpu.load_seg(segment, 0)
        call.cpu.esp = BOOT_STACK

    def _vector(self, vector: int) -> int:
        stub = self.rom.stubs.get(vector)
        offset = (stub - ROM_BASE) if stub is not None else DEFAULT_IRET
        return 0xF000 << 16 | offset

    def _setup_pic(self):
        """ICW1-4 like SeaBIOS: master at 08h, slave at 70h; the masks SeaBIOS
        leaves on QEMU (timer, keyboard, cascade, floppy; RTC, mouse, FPU, IDE)."""
        pic = self.machine.pic
        for port, values in ((0x20, (0x11,)), (0x21, (MASTER_IRQ_BASE, 0x04, 0x01, 0xB8)),
                             (0xA0, (0x11,)), (0xA1, (SLAVE_IRQ_BASE, 0x02, 0x01, 0x8E))):
            for value in values:
                pic.port_write(port, 1, value)

    def _setup_pit(self):
        """Channel 0, mode 2, divisor 65536: the BIOS's 18.2 Hz tick."""
        pit = self.machine.pit
        pit.port_write(0x43, 1, 0x34)
        pit.port_write(0x40, 1, 0)
        pit.port_write(0x40, 1, 0)

    # ------------------------------------------------------------ boot
    def _bootstrap(self, call: BiosCall):
        if self.multiboot is not None:
            self.multiboot.load(call.write)
            call.write(MULTIBOOT_GDT_RAM, multiboot_gdt())
            call.set_return_address(0xF000, MULTIBOOT_ENTRY, flags=0x0002)
            return
        if self.disk is None or self.disk.sectors == 0:
            return self._say(call, "Boot failed: no disk\r\n")
        sector = self.disk.read(0, 1)
        if sector[510:512] != b"\x55\xAA":
            return self._say(call, "Boot failed: not a bootable disk\r\n")
        call.write(BOOT_ADDRESS, sector)
        call.cpu.edx = 0x80
        call.cpu.eax = BOOT_EAX
        call.set_return_address(0, BOOT_ADDRESS, flags=BOOT_FLAGS)

    def _say(self, call: BiosCall, text: str):
        for char in text.encode():
            self.machine.vga.teletype(char)
        self.machine.log("guest_errors", text.strip())

    def _boot_failure(self, call: BiosCall):
        self.machine.request_exit("no-boot-device", None, "No bootable device: the disk's "
                                  "sector 0 does not end in 55 AA (or there is no disk)")

    # ------------------------------------------------------------ IRQs
    def _timer_tick(self, call: BiosCall):
        ticks = int.from_bytes(call.read(0x46C, 4), "little") + 1
        if ticks >= TICKS_PER_DAY:
            ticks = 0
            call.write(0x470, b"\x01")
        call.write(0x46C, ticks.to_bytes(4, "little"))
        self.machine.pic.eoi(0)

    def _irq_handler(self, irq: int):
        def handler(call: BiosCall):
            if irq == 8:
                self.machine.cmos.read_register(0x0C)     # acknowledge the RTC, as SeaBIOS's int 70h
            pic = self.machine.pic
            chip = pic.slave if irq >= 8 else pic.master
            if chip.isr & (1 << (irq & 7)):              # not a spurious IRQ7/15
                pic.eoi(irq)
        return handler
