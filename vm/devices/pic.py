"""The 8259A programmable interrupt controller pair (master 0x20, slave 0xA0).

Modelled on the datasheet (and QEMU's i8259.c): ICW1-ICW4 initialisation,
OCW1 masks, OCW2 EOI/rotation, OCW3 IRR/ISR read and poll, edge-triggered
lines, fixed or rotating priority, the slave cascaded on master IRQ2, and a
spurious IRQ7 (vector base+7, nothing set in-service) when the CPU
acknowledges after the request went away.
"""


class PIC8259:
    """One 8259A chip."""

    def __init__(self, name: str):
        self.name = name
        self.reset()

    def reset(self):
        self.irr = 0              # interrupt request register (latched edges)
        self.isr = 0              # in-service register
        self.imr = 0              # interrupt mask register
        self.levels = 0           # current line levels, for edge detection
        self.vector_base = 0
        self.priority_add = 0     # rotation: which IRQ has the highest priority
        self.read_isr = False
        self.poll = False
        self.special_mask = False
        self.auto_eoi = False
        self.rotate_on_auto_eoi = False
        self.init_step = 0        # 0: operational; 2..4: expecting ICW2..ICW4
        self.single = False
        self.needs_icw4 = False

    # ------------------------------------------------------------ lines
    def set_line(self, irq: int, level: bool):
        bit = 1 << irq
        if level:
            if not self.levels & bit:
                self.irr |= bit   # rising edge latches a request
            self.levels |= bit
        else:
            self.levels &= ~bit

    # ------------------------------------------------------------ priority
    def _priority(self, mask: int) -> int:
        """Priority rank (0 highest) of the best bit in mask, 8 if none."""
        if mask == 0:
            return 8
        rank = 0
        while not mask & (1 << ((rank + self.priority_add) & 7)):
            rank += 1
        return rank

    def pending_irq(self) -> int:
        """The IRQ this chip would present to the CPU now, or -1."""
        requested = self._priority(self.irr & ~self.imr)
        if requested == 8:
            return -1
        in_service = self.isr
        if self.special_mask:
            in_service &= ~self.imr
        if requested < self._priority(in_service):
            return (requested + self.priority_add) & 7
        return -1

    def intack(self, irq: int):
        bit = 1 << irq
        if self.auto_eoi:
            if self.rotate_on_auto_eoi:
                self.priority_add = (irq + 1) & 7
        else:
            self.isr |= bit
        self.irr &= ~bit          # edge-triggered: the request is consumed

    # ------------------------------------------------------------ ports
    def write(self, a0: int, value: int):
        if a0 == 0:
            if value & 0x10:
                self._icw1(value)
            elif value & 0x08:
                self._ocw3(value)
            else:
                self._ocw2(value)
        elif self.init_step:
            self._icw_next(value)
        else:
            self.imr = value

    def _icw1(self, value: int):
        levels = self.levels
        self.reset()
        self.levels = levels
        self.single = bool(value & 0x02)
        self.needs_icw4 = bool(value & 0x01)
        self.init_step = 2

    def _icw_next(self, value: int):
        if self.init_step == 2:
            self.vector_base = value & 0xF8
            self.init_step = 0 if self.single else 3
            if self.single and self.needs_icw4:
                self.init_step = 4
        elif self.init_step == 3:
            self.init_step = 4 if self.needs_icw4 else 0   # ICW3: cascade wiring is fixed
        else:
            self.auto_eoi = bool(value & 0x02)
            self.init_step = 0

    def _ocw2(self, value: int):
        command = value >> 5
        if command == 0:
            self.rotate_on_auto_eoi = False
        elif command == 4:
            self.rotate_on_auto_eoi = True
        elif command in (1, 5):           # non-specific EOI (5: and rotate)
            rank = self._priority(self.isr)
            if rank != 8:
                irq = (rank + self.priority_add) & 7
                self.isr &= ~(1 << irq)
                if command == 5:
                    self.priority_add = (irq + 1) & 7
        elif command in (3, 7):           # specific EOI (7: and rotate)
            irq = value & 7
            self.isr &= ~(1 << irq)
            if command == 7:
                self.priority_add = (irq + 1) & 7
        elif command == 6:                # set priority: irq becomes lowest
            self.priority_add = ((value & 7) + 1) & 7

    def _ocw3(self, value: int):
        if value & 0x04:
            self.poll = True
        if value & 0x02:
            self.read_isr = bool(value & 0x01)
        if value & 0x40:
            self.special_mask = bool(value & 0x20)

    def read(self, a0: int) -> int:
        if a0 == 1:
            return self.imr
        return self.isr if self.read_isr else self.irr


class DualPIC:
    """The master/slave pair as the PC wires it; the CPU's interrupt controller."""

    timed = False      # its ports do not depend on when they are accessed (no clock reads)

    CASCADE_IRQ = 2

    def __init__(self, cpu=None):
        self.cpu = cpu
        self.master = PIC8259("master")
        self.slave = PIC8259("slave")

    # -------------------------------------------------------- device lines
    def set_irq(self, irq: int, level: bool):
        chip = self.master if irq < 8 else self.slave
        chip.set_line(irq & 7, level)
        self.update()

    def pulse_irq(self, irq: int):
        """An edge: line high then low (the PIT's output pulses, a UART event)."""
        self.set_irq(irq, True)
        self.set_irq(irq, False)

    def update(self):
        self.master.set_line(self.CASCADE_IRQ, self.slave.pending_irq() >= 0)
        if self.cpu is not None:
            self.cpu.irq_pending = self.master.pending_irq() >= 0

    def has_pending(self) -> bool:
        return self.master.pending_irq() >= 0

    # -------------------------------------------------------- CPU side
    def acknowledge(self) -> int:
        """INTA: the vector to deliver. Spurious requests give base + 7."""
        irq = self.master.pending_irq()
        if irq < 0:
            vector = self.master.vector_base + 7
        elif irq == self.CASCADE_IRQ:
            self.master.intack(irq)
            slave_irq = self.slave.pending_irq()
            if slave_irq >= 0:
                self.slave.intack(slave_irq)
                vector = self.slave.vector_base + slave_irq
            else:
                vector = self.slave.vector_base + 7
        else:
            self.master.intack(irq)
            vector = self.master.vector_base + irq
        self.update()
        return vector

    def eoi(self, irq: int):
        """What a BIOS default handler does: non-specific EOI to the right chips."""
        if irq >= 8:
            self.slave.write(0, 0x20)
        self.master.write(0, 0x20)
        self.update()

    # -------------------------------------------------------- ports 0x20-21, 0xA0-A1
    def _chip(self, port: int) -> PIC8259:
        return self.master if port < 0xA0 else self.slave

    def port_read(self, port: int, size: int) -> int:
        chip = self._chip(port)
        if chip.poll:
            chip.poll = False
            return self._poll(chip)
        return chip.read(port & 1)

    def _poll(self, chip: PIC8259) -> int:
        irq = chip.pending_irq()
        if irq < 0:
            return 0
        chip.intack(irq)
        self.update()
        return 0x80 | irq

    def port_write(self, port: int, size: int, value: int):
        self._chip(port).write(port & 1, value & 0xFF)
        self.update()

    def register(self, ports, memory):
        ports.register(0x20, 2, self)
        ports.register(0xA0, 2, self)
