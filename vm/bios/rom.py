"""The built-in BIOS ROM image: 64 KiB at 0xF0000 (aliased at 0xFFFF0000).

It holds only what the guest must execute or find by scanning memory:
  FFF0  reset vector: jmp far F000:E05B
  E05B  POST entry (hooked: the Python POST runs first), then int 19h,
        int 18h if the boot fails, and cli; hlt
  E100  Multiboot trampoline: lgdt (a flat GDT the bootstrap put at 0x8FC0),
        CR0.PE, far jump to 32-bit code that loads flat segments,
        EAX=0x2BADB002, EBX=info, jmp entry
  FF53  the default `iret` every unused vector points at
  1000+ one `iret` per service and per hardware IRQ, each hooked
  59D0  the ACPI RSDP (16-byte aligned, in the F-segment where SeaBIOS puts it)
"""

import struct

ROM_BASE = 0xF0000
ROM_SIZE = 0x10000
ROM_ALIAS = 0xFFFF0000
POST_ENTRY = 0xE05B
MULTIBOOT_ENTRY = 0xE100
MULTIBOOT_GDT_RAM = 0x8FC0          # below the Multiboot information at 0x9000
DEFAULT_IRET = 0xFF53
RESET_VECTOR = 0xFFF0
STUBS_START = 0x1000
STUB_SPACING = 8
RSDP_OFFSET = 0x59D0                 # 0xF59D0, where SeaBIOS on QEMU 7.2 puts it

IRET = 0xCF


def _post_code() -> bytes:
    return bytes((0xCD, 0x19,          # int 19h: bootstrap loader
                  0xCD, 0x18,          # int 18h: boot failure
                  0xFA, 0xF4,          # cli; hlt
                  0xEB, 0xFD))         # jmp back to hlt


def _multiboot_trampoline(info: int) -> bytes:
    """16-bit code at F000:E100 that enters flat 32-bit protected mode.

    The GDT is copied to low RAM (MULTIBOOT_GDT_RAM) by the bootstrap, so the
    lgdt operand is reached through DS=0 rather than a CS override."""
    code32 = ROM_BASE + MULTIBOOT_ENTRY + 0x20
    entry_var = ROM_BASE + MULTIBOOT_ENTRY + 0x50
    real = (bytes((0xFA, 0x31, 0xC0, 0x8E, 0xD8))                        # cli; xor ax,ax; mov ds,ax
            + bytes((0x66, 0x0F, 0x01, 0x16)) + struct.pack("<H", MULTIBOOT_GDT_RAM + 24)
            + bytes((0x0F, 0x20, 0xC0, 0x0C, 0x01, 0x0F, 0x22, 0xC0))   # mov eax,cr0; or al,1; mov cr0,eax
            + bytes((0x66, 0xEA)) + struct.pack("<IH", code32, 0x08))
    prot = (bytes((0xB8, 0x10, 0, 0, 0, 0x8E, 0xD8, 0x8E, 0xC0, 0x8E, 0xD0, 0x8E, 0xE0, 0x8E, 0xE8))
            + b"\xBB" + struct.pack("<I", info)                            # mov ebx, info
            + b"\xB8" + struct.pack("<I", 0x2BADB002)                      # mov eax, magic
            + b"\xFF\x25" + struct.pack("<I", entry_var))                  # jmp [entry_var]
    return real.ljust(0x20, b"\x90") + prot


def multiboot_gdt() -> bytes:
    """Null, flat code 0x08, flat data 0x10, then the 6-byte GDT descriptor."""
    return (bytes(8) + struct.pack("<Q", 0x00CF9A000000FFFF) + struct.pack("<Q", 0x00CF92000000FFFF)
            + struct.pack("<HI", 23, MULTIBOOT_GDT_RAM))


class RomImage:
    """Lays out the ROM; `stub(name)` gives the physical address of a hooked iret."""

    def __init__(self, stub_names, rsdp: bytes, multiboot_info: int = 0, multiboot_entry: int = 0):
        rom = bytearray(b"\xFF" * ROM_SIZE)
        self.stubs = {}
        for i, name in enumerate(stub_names):
            offset = STUBS_START + i * STUB_SPACING
            rom[offset] = IRET
            self.stubs[name] = ROM_BASE + offset
        rom[POST_ENTRY:POST_ENTRY + 8] = _post_code()
        trampoline = _multiboot_trampoline(multiboot_info)
        rom[MULTIBOOT_ENTRY:MULTIBOOT_ENTRY + len(trampoline)] = trampoline
        rom[MULTIBOOT_ENTRY + 0x50:MULTIBOOT_ENTRY + 0x54] = struct.pack("<I", multiboot_entry)
        rom[DEFAULT_IRET] = IRET
        rom[RESET_VECTOR:RESET_VECTOR + 5] = bytes((0xEA,)) + struct.pack("<HH", POST_ENTRY, 0xF000)
        rom[0xFFF5:0xFFFD] = b"11/25/26"
        rom[0xFFFE] = 0xFC                 # model byte: AT
        rom[RSDP_OFFSET:RSDP_OFFSET + len(rsdp)] = rsdp
        self.data = bytes(rom)

    @staticmethod
    def segment_offset(physical: int) -> tuple[int, int]:
        return 0xF000, physical - ROM_BASE


def load_rom_file(path) -> bytes:
    """A raw ROM for --bios: a multiple of 64 KiB, at most 256 KiB."""
    from pathlib import Path
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read BIOS ROM {path}: {err.strerror}") from None
    if not data or len(data) % ROM_SIZE or len(data) > 4 * ROM_SIZE:
        raise ValueError(f"BIOS ROM {path} is {len(data)} bytes; it must be 64, 128, 192 or 256 KiB")
    return data
