"""The boot hard disk (drive 0x80) and its int 13h services.

Geometry is what QEMU guesses for a raw image without a partition table:
16 heads, 63 sectors per track, cylinders = sectors / (16 * 63) clamped to
2..16383; AH=08h reports cylinders - 2 as the last one, as SeaBIOS does
(0-based, and the last cylinder is kept for diagnostics). Errors are what
SeaBIOS on QEMU returns, with CF set: 01h bad command or parameter (also a
start sector past the end), 0Ch for a transfer that runs off the end (the
sectors before the end are transferred and the count says how many).
"""

from .call import BiosCall

SECTOR = 512
HEADS, SECTORS_PER_TRACK = 16, 63
STATUS_OK, STATUS_BAD_COMMAND, STATUS_MEDIA_ERROR = 0x00, 0x01, 0x0C
BOOT_DRIVE = 0x80
BDA_DISK_STATUS = 0x474
EL_TORITO_PACKET_SIZE = 0x13


class Disk:
    def __init__(self, image: bytes):
        padded = len(image) + (-len(image)) % SECTOR
        self.data = bytearray(image) + bytes(padded - len(image))
        self.sectors = len(self.data) // SECTOR
        self.cylinders = min(max(self.sectors // (HEADS * SECTORS_PER_TRACK), 2), 16383)

    def read(self, lba: int, count: int) -> bytes:
        return bytes(self.data[lba * SECTOR:(lba + count) * SECTOR])

    def write(self, lba: int, data: bytes):
        self.data[lba * SECTOR:lba * SECTOR + len(data)] = data


class DiskServices:
    """int 13h for one hard disk."""

    def __init__(self, disk: Disk, log):
        self.disk = disk
        self.log = log
        self.last_status = 0

    def handle(self, call: BiosCall):
        function = call.ah
        if function == 0x4B:
            return self._cd_emulation_status(call)
        if call.dl != BOOT_DRIVE or self.disk is None:
            return self._no_such_drive(call, function)
        handler = {
            0x00: self._reset, 0x01: self._status, 0x02: self._read_chs, 0x03: self._write_chs,
            0x04: self._verify_chs, 0x08: self._parameters, 0x0C: self._reset, 0x0D: self._reset,
            0x10: self._reset, 0x15: self._disk_type, 0x41: self._extensions_check,
            0x42: self._read_lba, 0x43: self._write_lba, 0x44: self._verify_lba,
            0x48: self._extended_parameters,
        }.get(function)
        if handler is None:
            self.log("guest_errors", f"int 13h: unsupported function AH={function:#04x}")
            return self._finish(call, STATUS_BAD_COMMAND)
        handler(call)

    @staticmethod
    def _no_such_drive(call: BiosCall, function: int):
        if function == 0x15:               # "get disk type": AH=0, no such drive
            call.succeed(0)
        else:
            call.fail(STATUS_BAD_COMMAND)

    def _finish(self, call: BiosCall, status: int):
        self.last_status = status
        call.write(BDA_DISK_STATUS, bytes((status,)))
        call.ah = status
        call.set_carry(status != STATUS_OK)

    # ------------------------------------------------------------ simple
    def _reset(self, call):
        self._finish(call, STATUS_OK)

    def _status(self, call):
        call.al = self.last_status
        self._finish(call, STATUS_OK)

    def _disk_type(self, call):
        call.cx, call.dx = self.disk.sectors >> 16, self.disk.sectors & 0xFFFF
        self._finish(call, STATUS_OK)
        call.ah = 0x03                         # fixed disk present

    def _parameters(self, call):
        max_cyl = self.disk.cylinders - 2
        call.ch = max_cyl & 0xFF
        call.cl = SECTORS_PER_TRACK | ((max_cyl >> 2) & 0xC0)
        call.dh = HEADS - 1
        call.dl = 1                            # one hard disk
        call.bl = 0
        call.ax = 0
        self._finish(call, STATUS_OK)

    def _cd_emulation_status(self, call):
        """AH=4Bh (El Torito: AL=00h terminate emulation, 01h status), for any
        drive as SeaBIOS answers it: success and the 13h-byte specification
        packet at DS:SI with media type 0, "no emulation" (nothing boots
        from an emulated CD here), and every other field 0."""
        packet = bytes((EL_TORITO_PACKET_SIZE,)) + bytes(EL_TORITO_PACKET_SIZE - 1)
        call.write(call.linear(call.seg(3), call.si), packet)
        call.succeed()

    # ------------------------------------------------------------ CHS
    def _chs(self, call):
        """(lba, count) from CH/CL/DH/AL, or None after reporting bad parameters."""
        count = call.al
        sector = call.cl & 0x3F
        cylinder = call.ch | (call.cl & 0xC0) << 2
        head = call.dh
        if count == 0 or count > 128 or sector == 0 or sector > SECTORS_PER_TRACK \
                or head >= HEADS or cylinder >= self.disk.cylinders:
            call.al = 0
            self._finish(call, STATUS_BAD_COMMAND)
            return None
        return (cylinder * HEADS + head) * SECTORS_PER_TRACK + sector - 1, count

    def _clip(self, lba: int, count: int) -> tuple[int, int]:
        """How many of the sectors exist, and the status for the transfer."""
        available = max(0, min(count, self.disk.sectors - lba))
        return available, STATUS_OK if available == count else STATUS_MEDIA_ERROR

    def _read_chs(self, call):
        request = self._chs(call)
        if request:
            lba, count = request
            done, status = self._clip(lba, count)
            call.write(call.linear(call.seg(0), call.bx), self.disk.read(lba, done))
            call.al = done
            self._finish(call, status)

    def _write_chs(self, call):
        request = self._chs(call)
        if request:
            lba, count = request
            done, status = self._clip(lba, count)
            self.disk.write(lba, call.read(call.linear(call.seg(0), call.bx), done * 512))
            call.al = done
            self._finish(call, status)

    def _verify_chs(self, call):
        request = self._chs(call)
        if request:
            done, status = self._clip(*request)
            call.al = done
            self._finish(call, status)

    # ------------------------------------------------------------ LBA extensions
    def _extensions_check(self, call):
        if call.bx != 0x55AA:
            return self._finish(call, STATUS_BAD_COMMAND)
        call.bx = 0xAA55
        call.cx = 0x0007                       # packet access, locking/ejecting, EDD
        self._finish(call, STATUS_OK)
        call.ah = 0x30                         # EDD 3.0, as SeaBIOS reports

    def _packet(self, call):
        """Decode the disk address packet at DS:SI: (address, lba, count, buffer)."""
        address = call.linear(call.seg(3), call.si)
        packet = call.read(address, 16)
        size, count = packet[0], int.from_bytes(packet[2:4], "little")
        offset, segment = int.from_bytes(packet[4:6], "little"), int.from_bytes(packet[6:8], "little")
        buffer = call.linear(segment, offset)
        if size >= 0x18 and int.from_bytes(packet[4:8], "little") == 0xFFFFFFFF:
            buffer = int.from_bytes(call.read(address + 16, 8), "little")   # 64-bit flat buffer
        return address, int.from_bytes(packet[8:16], "little"), count, buffer, size

    def _lba_transfer(self, call, transfer):
        address, lba, count, buffer, size = self._packet(call)
        if size < 0x10 or count > 127:
            return self._finish(call, STATUS_BAD_COMMAND)
        if lba >= self.disk.sectors:
            call.write16(address + 2, 0)
            return self._finish(call, STATUS_BAD_COMMAND)
        done, status = self._clip(lba, count)
        transfer(lba, done, buffer)
        call.write16(address + 2, done)
        self._finish(call, status)

    def _read_lba(self, call):
        self._lba_transfer(call, lambda lba, n, buf: call.write(buf, self.disk.read(lba, n)))

    def _write_lba(self, call):
        self._lba_transfer(call, lambda lba, n, buf: self.disk.write(lba, call.read(buf, n * 512)))

    def _verify_lba(self, call):
        self._lba_transfer(call, lambda lba, n, buf: None)

    def _extended_parameters(self, call):
        address = call.linear(call.seg(3), call.si)
        size = call.read16(address)
        if size < 0x1A:
            return self._finish(call, STATUS_BAD_COMMAND)
        d = self.disk
        info = (0x1A).to_bytes(2, "little") + (0x0002).to_bytes(2, "little")  # CHS info valid
        info += d.cylinders.to_bytes(4, "little") + HEADS.to_bytes(4, "little")
        info += SECTORS_PER_TRACK.to_bytes(4, "little") + d.sectors.to_bytes(8, "little")
        info += SECTOR.to_bytes(2, "little")
        call.write(address, info)
        self._finish(call, STATUS_OK)
