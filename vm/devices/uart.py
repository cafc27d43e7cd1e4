"""The 16550A UART on COM1 (0x3F8, IRQ4).

Transmission is instant: a byte written to THR goes straight to the output
file object, so LSR always reports THRE and TEMT. Received bytes come from a
byte string given up front (a file or piped stdin, read before the run), so
runs stay deterministic. Interrupt identification follows the 16550
priorities (line status > received data > THR empty > modem status);
loopback (MCR bit 4) feeds THR back into the receiver, as drivers' self
tests expect. Each received byte raises a fresh interrupt edge, as if it
arrived after the previous one was read. The IRQ line follows IIR, as in QEMU (OUT2 does not gate it).
"""

from collections import deque

from . import write_to_host

# line status register bits
LSR_DR, LSR_OE, LSR_THRE, LSR_TEMT = 0x01, 0x02, 0x20, 0x40
# interrupt enable register bits
IER_RDA, IER_THRE, IER_RLS, IER_MS = 0x01, 0x02, 0x04, 0x08
IIR_NONE, IIR_RLS, IIR_RDA, IIR_THRE, IIR_MS = 0x01, 0x06, 0x04, 0x02, 0x00


class UART16550:
    timed = False      # its ports do not depend on when they are accessed (no clock reads)

    def __init__(self, board, output=None, input_bytes: bytes = b"", irq: int = 4, base: int = 0x3F8):
        self.board = board
        self.output = output
        self.irq = irq
        self.base = base
        self.rx = deque(input_bytes)
        self.ier = 0
        self.lcr = 0x00            # reset values as QEMU's 16550: 8 bits need the guest's LCR
        self.mcr = 0x08            # OUT2, as after QEMU's reset
        self.scr = 0
        self.fcr = 0
        self.divisor = 12          # 9600 baud until the guest sets one
        self.overrun = False
        self.thr_interrupt = False  # THR-empty interrupt armed (cleared by IIR read / THR write)
        self.msr_changed = False
        self.irq_level = False

    # ------------------------------------------------------------ interrupts
    def iir_source(self) -> int:
        if self.ier & IER_RLS and self.overrun:
            return IIR_RLS
        if self.ier & IER_RDA and self.rx:
            return IIR_RDA
        if self.ier & IER_THRE and self.thr_interrupt:
            return IIR_THRE
        if self.ier & IER_MS and self.msr_changed:
            return IIR_MS
        return IIR_NONE

    def _update_irq(self):
        level = self.iir_source() != IIR_NONE
        if level != self.irq_level:
            self.irq_level = level
            self.board.set_irq(self.irq, level)

    # ------------------------------------------------------------ data
    def _transmit(self, value: int):
        """A byte written to THR. The THR-empty interrupt it arms (THR is
        empty again at once) moves the line only when IER enables it; in
        loopback the byte arrives in our receiver, which may too. A polled
        console (IER 0) thus costs no interrupt update per byte."""
        self.thr_interrupt = True
        if self.mcr & 0x10:                 # loopback: back into our receiver
            self.rx.append(value)
            self._update_irq()
            return
        self.output = write_to_host(self.output, value)
        if self.ier & IER_THRE:
            self._update_irq()

    def _receive(self) -> int:
        value = self.rx.popleft() if self.rx else 0
        if self.rx and self.irq_level:
            # the next byte "arrives" after this one was taken: drop the line so
            # the edge-triggered PIC sees a new request for it, as on hardware
            self.irq_level = False
            self.board.set_irq(self.irq, False)
        return value

    def modem_status(self) -> int:
        if self.mcr & 0x10:                 # loopback wires MCR outputs to MSR inputs
            m = self.mcr
            return ((m & 1) << 5) | ((m & 2) << 3) | ((m & 4) << 4) | ((m & 8) << 4)
        return 0xB0                          # CTS, DSR, DCD asserted: a cable is attached

    # ------------------------------------------------------------ ports
    def port_read(self, port: int, size: int) -> int:
        reg = port - self.base
        if reg == 5:
            # LSR, read before every byte a polled console sends: only a
            # cleared overrun can change the interrupt line (every other
            # change of its sources updates it where it happens)
            value = (LSR_DR if self.rx else 0) | LSR_THRE | LSR_TEMT
            if self.overrun:
                value |= LSR_OE
                self.overrun = False
                self._update_irq()
            return value
        dlab = self.lcr & 0x80
        if reg == 0:
            if dlab:
                return self.divisor & 0xFF
            value = self._receive()
        elif reg == 1:
            return (self.divisor >> 8) if dlab else self.ier
        elif reg == 2:
            value = self.iir_source() | (0xC0 if self.fcr & 1 else 0)
            if value & 0x0F == IIR_THRE:
                self.thr_interrupt = False
        elif reg == 3:
            return self.lcr
        elif reg == 4:
            return self.mcr
        elif reg == 6:
            value = self.modem_status()
            self.msr_changed = False
        else:
            return self.scr
        self._update_irq()
        return value

    def port_write(self, port: int, size: int, value: int):
        reg = port - self.base
        value &= 0xFF
        dlab = self.lcr & 0x80
        if reg == 0:
            if not dlab:
                self._transmit(value)       # it updates the interrupt line itself
                return
            self.divisor = (self.divisor & 0xFF00) | value
        elif reg == 1:
            if dlab:
                self.divisor = (self.divisor & 0xFF) | value << 8
            else:
                newly_thre = value & IER_THRE and not self.ier & IER_THRE
                self.ier = value & 0x0F
                if newly_thre:
                    self.thr_interrupt = True       # THR is empty right now
        elif reg == 2:
            self.fcr = value & 0xC9
            if value & 0x02:
                self.rx.clear()
        elif reg == 3:
            self.lcr = value
        elif reg == 4:
            self.mcr = value & 0x1F
            self.msr_changed = bool(self.mcr & 0x10)   # loopback changes the modem inputs
        elif reg == 7:
            self.scr = value
        self._update_irq()

    def feed(self, data: bytes):
        """Host side: bytes arrive on the receive line."""
        self.rx.extend(data)
        self._update_irq()

    def register(self, ports, memory):
        ports.register(self.base, 8, self)
