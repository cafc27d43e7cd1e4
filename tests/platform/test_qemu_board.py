"""QEMU-board devices SeaBIOS needs (vm/devices/qemu_board.py): the 0x402
log port, fw_cfg and PCI configuration space, each driven by a guest program
(built-in BIOS, `qemu_board=True`), and PAM shadowing on the memory map."""

import io
import struct

from guest_asm import REAL_MODE_SETUP, program
from machine_run import run_vm

from vm.devices.fwcfg import e820_table
from vm.devices.pci import Pam
from vm.memory import PhysicalMemory


DEBUG_PORT = REAL_MODE_SETUP + """
    mov $0x402, %dx
    inb %dx, %al
    call print_hex8
    mov $0x402, %dx
    mov $msg, %si
1:  lodsb
    test %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  jmp poweroff
msg: .asciz "SeaBIOS says hi\\r\\npartial"
"""


def test_debug_port_0x402_reads_back_e9_and_logs_lines():
    log = io.StringIO()
    out = run_vm(program(DEBUG_PORT), qemu_board=True, log=("firmware",), log_file=log)
    assert out.reason == "poweroff", out.report
    assert out.serial == b"E9"
    board = out.machine.qemu_board
    assert bytes(board.firmware_log.written) == b"SeaBIOS says hi\r\npartial"
    assert log.getvalue() == "[firmware] SeaBIOS says hi\n"
    board.firmware_log.flush()
    assert log.getvalue().splitlines()[-1] == "[firmware] partial"


def test_builtin_bios_machine_has_no_qemu_board_ports():
    out = run_vm(program(DEBUG_PORT))
    assert out.serial == b"FF"
    assert out.machine.qemu_board is False


# select a key (%ax) and print %cx bytes of it as hex
FW_CFG = REAL_MODE_SETUP + """
    mov $0, %ax
    mov $4, %cx
    call dump
    mov $1, %ax
    mov $4, %cx
    call dump
    mov $3, %ax
    mov $8, %cx
    call dump
    mov $5, %ax
    mov $2, %cx
    call dump
    # the file directory: count, then the first entry (size, select, name start)
    mov $0x19, %ax
    mov $4 + 8 + 8, %cx
    call dump
    # a read past the end is 0
    mov $0, %ax
    mov $6, %cx
    call dump
    jmp poweroff
dump:
    mov $0x510, %dx
    outw %ax, %dx
    mov $0x511, %dx
1:  inb %dx, %al
    push %dx
    call print_hex8
    pop %dx
    loop 1b
    mov $0x20, %al
    call putc
    ret
"""


def test_fw_cfg_signature_id_ram_cpus_and_file_directory():
    out = run_vm(program(FW_CFG), qemu_board=True, ram_size=16 << 20)
    assert out.reason == "poweroff", out.report
    words = out.serial.decode().split()
    assert bytes.fromhex(words[0]) == b"QEMU"
    assert words[1] == "01000000"                       # traditional interface only, no DMA
    assert bytes.fromhex(words[2]) == struct.pack("<Q", 16 << 20)
    assert words[3] == "0100"
    directory = bytes.fromhex(words[4])
    fw = out.machine.qemu_board.fw_cfg
    assert struct.unpack(">I", directory[:4])[0] == len(fw.files) == 7
    size, select = struct.unpack(">IH", directory[4:10])
    assert (size, select) == (0, 0x20)                  # "bootorder" sorts first, empty
    assert directory[12:20] == b"bootorde"
    assert words[5] == "51454D550000"               # "QEMU", then zeros


def test_fw_cfg_e820_file_is_packed_little_endian():
    assert e820_table([(0, 16 << 20, 1)]) == struct.pack("<QQI", 0, 16 << 20, 1)
    out = run_vm(program(REAL_MODE_SETUP + "jmp poweroff"), qemu_board=True)
    fw = out.machine.qemu_board.fw_cfg
    directory = fw.items[0x19]
    names = [directory[4 + 64 * i + 8:4 + 64 * (i + 1)].rstrip(b"\0") for i in range(7)]
    assert names == [b"bootorder", b"etc/acpi/rsdp", b"etc/acpi/tables", b"etc/e820", b"etc/smbios/smbios-anchor",
                     b"etc/smbios/smbios-tables", b"etc/table-loader"]
    assert fw.items[0x23] == e820_table([(0, 16 << 20, 1)])


# read dword config registers (address in %eax) and print them
PCI = REAL_MODE_SETUP + """
    mov $0x80000000, %eax
    call cfg
    mov $0x80000008, %eax
    call cfg
    mov $0x80000800, %eax
    call cfg
    mov $0x8000080c, %eax
    call cfg
    mov $0x80001000, %eax
    call cfg
    # write PAM 0x59-0x5B through byte accesses at 0xCFD..0xCFF, read back
    mov $0x80000058, %eax
    mov $0xcf8, %dx
    outl %eax, %dx
    mov $0xcfd, %dx
    mov $0x30, %al
    outb %al, %dx
    mov $0xcfe, %dx
    mov $0x33, %al
    outb %al, %dx
    mov $0x80000058, %eax
    call cfg
    # the vendor ID is read-only
    mov $0x80000000, %eax
    mov $0xcf8, %dx
    outl %eax, %dx
    mov $0xcfc, %dx
    xor %eax, %eax
    outl %eax, %dx
    mov $0x80000000, %eax
    call cfg
    # the address register reads back (low bits cleared)
    mov $0xcf8, %dx
    inl %dx, %eax
    call print_hex32
    jmp poweroff
cfg:
    mov $0xcf8, %dx
    outl %eax, %dx
    mov $0xcfc, %dx
    inl %dx, %eax
    call print_hex32
    mov $0x20, %al
    jmp putc
"""


def test_pci_config_space_of_i440fx_and_piix3():
    out = run_vm(program(PCI), qemu_board=True)
    assert out.reason == "poweroff", out.report
    assert out.serial.decode().split() == [
        "12378086",     # 00:00.0 i440FX
        "06000002",     # host bridge class, revision 2
        "70008086",     # 00:01.0 PIIX3
        "00800000",     # header type 0x80: multi-function
        "FFFFFFFF",     # 00:02.0: nothing there
        "00333000",     # PAM0 = 0x30, PAM1 = 0x33 (0x58 and 0x5B untouched)
        "12378086",
        "80000000"]
    assert out.machine.qemu_board.pam is None      # no ROM image to shadow with the built-in BIOS


def test_pam_maps_rom_ram_and_read_only_ram():
    mem = PhysicalMemory(2 << 20)
    bios = bytes(range(256)) * 512                 # 128 KiB
    pam = Pam(mem, bios)
    assert mem.read_phys(0xFFFF0, 1) == bios[-16]
    assert mem.read_phys(0xE0000, 1) == bios[0]
    assert mem.read_phys(0xC0000, 4) == 0xFFFFFFFF  # below the BIOS: no ROM, reads all-ones
    mem.write_phys(0xF0000, 1, 0x5A)
    assert mem.read_phys(0xF0000, 1) == bios[0x10000]   # ROM ignores writes
    pam.update(bytes([0x30, 0x33, 0, 0, 0, 0, 0]))  # F-segment and C0000-C7FFF: RAM read/write
    mem.write_phys(0xF0000, 1, 0x5A)
    mem.write_phys(0xC4000, 1, 0x77)
    assert (mem.read_phys(0xF0000, 1), mem.read_phys(0xC4000, 1)) == (0x5A, 0x77)
    assert mem.read_phys(0xE0000, 1) == bios[0]     # still ROM
    pam.update(bytes([0x10, 0x33, 0, 0, 0, 0, 0]))  # F-segment locked read-only
    mem.write_phys(0xF0000, 1, 0x00)
    assert mem.read_phys(0xF0000, 1) == 0x5A
    pam.update(bytes(7))                            # back to the ROM
    assert mem.read_phys(0xF0000, 1) == bios[0x10000]
    assert len(mem.regions) == sum(r is not None for r in pam.regions) == 13


RESET_VIA_CF9 = REAL_MODE_SETUP + """
    mov $0xcf9, %dx
    mov $0x02, %al
    outb %al, %dx
    mov $0x06, %al
    outb %al, %dx
    jmp poweroff
"""


def test_port_0xcf9_stays_the_reset_control_register_beside_pci():
    out = run_vm(program(RESET_VIA_CF9), qemu_board=True)
    assert out.reason == "reset", out.report


SEABIOS = "/usr/share/seabios/bios.bin"


def test_seabios_post_sees_fw_cfg_e820_and_the_pci_devices():
    """Debian's SeaBIOS on the VM, its first 1.46M instructions (past PCI
    init): it finds fw_cfg, takes the e820 file, shadows itself into RAM
    through PAM (it relocates and keeps running) and lists the PCI functions:
    host bridge, ISA bridge, IDE, power management."""
    import os
    import pytest
    if not os.path.isfile(SEABIOS):
        pytest.skip(f"{SEABIOS} is missing (Debian package seabios)")
    log = io.StringIO()
    out = run_vm(None, bios=SEABIOS, ram_size=128 << 20, max_insns=1_460_000, log=("firmware",), log_file=log)
    assert out.reason == "insn-limit", out.report
    lines = [line[len("[firmware] "):] for line in log.getvalue().splitlines()]
    for expected in ("Running on QEMU (i440fx)", "Found QEMU fw_cfg",
                     "qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 [RAM]",
                     "Found 4 PCI devices (max PCI bus is 00)",
                     "PCI: init bdf=00:00.0 id=8086:1237", "PCI: init bdf=00:01.0 id=8086:7000",
                     "PCI: init bdf=00:01.1 id=8086:7010", "PCI: init bdf=00:01.3 id=8086:7113",
                     "Using pmtimer, ioport 0x608"):
        assert expected in lines, lines
    assert lines[0].startswith("SeaBIOS (version 1.16")
    pam = bytes(out.machine.qemu_board.pci.host_bridge.config[0x59:0x60])
    assert pam == bytes([0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33])   # shadow RAM writable during POST
    mem = out.machine.memory
    mem.write_phys(0xFFFF0, 1, 0x00)              # shadow RAM: the reset vector copy is changed
    assert mem.read_phys(0xFFFF0, 1) == 0x00
    out.machine.qemu_board.reset()                # a system reset maps the ROM back
    assert bytes(out.machine.qemu_board.pci.host_bridge.config[0x59:0x60]) == bytes(7)
    with open(SEABIOS, "rb") as f:
        assert mem.read_phys(0xFFFF0, 1) == f.read()[-16] == 0xEA     # jmp far


# keyboard reset (0xFF) and identify (0xF2) through the 8042's data port:
# ack, then the self-test result / the MF2 ID, read by polling the status
KEYBOARD = REAL_MODE_SETUP + """
    mov $0xff, %al
    call send
    mov $2, %cx
    call recv
    mov $0xf2, %al
    call send
    mov $3, %cx
    call recv
    mov $0xf4, %al
    call send
    mov $1, %cx
    call recv
    jmp poweroff
send:
    outb %al, $0x60
    ret
recv:
1:  inb $0x64, %al
    test $1, %al
    jz 1b
    inb $0x60, %al
    call print_hex8
    loop 1b
    mov $0x20, %al
    jmp putc
"""


def test_keyboard_answers_reset_and_identify_as_seabios_expects():
    out = run_vm(program(KEYBOARD))
    assert out.reason == "poweroff", out.report
    assert out.serial.decode().split() == ["FAAA", "FAAB83", "FA"]


def test_cli_firmware_seabios_logs_to_the_d_file(tmp_path, capsys):
    import os
    import pytest
    from vm.cli import SEABIOS_ROM, main
    if not os.path.isfile(SEABIOS_ROM):
        pytest.skip(f"{SEABIOS_ROM} is missing (Debian package seabios)")
    log = tmp_path / "fw.log"
    status = main(["--firmware", "seabios", "-d", "firmware", "-D", str(log), "--max-insns", "300000",
                   "--quiet-report", "--serial", "none"])
    assert status == 8
    assert capsys.readouterr().err.startswith(
        f"kpy vm: firmware: SeaBIOS 1.16.2-debian-1.16.2-1 from {SEABIOS_ROM}, 256 KiB\n")
    lines = log.read_text().splitlines()
    assert lines[0] == "[firmware] SeaBIOS (version 1.16.2-debian-1.16.2-1)"
    assert "[firmware] Found QEMU fw_cfg" in lines
    assert main(["--firmware", "seabios", "--kernel", str(log)]) == 1
    assert "--kernel needs the built-in BIOS" in capsys.readouterr().err


def test_bad_firmware_with_the_qemu_board_ends_cleanly(tmp_path, capsys):
    import random
    from vm.cli import main
    rng = random.Random(19)
    rom = tmp_path / "rom.bin"
    rom.write_bytes(bytes(rng.randrange(256) for _ in range(100)))
    assert main(["--bios", str(rom)]) == 1
    assert "is 100 bytes; it must be 64, 128, 192 or 256 KiB" in capsys.readouterr().err
    for seed in range(3):
        rom.write_bytes(bytes(random.Random(seed).randrange(256) for _ in range(0x10000)))
        status = main(["--bios", str(rom), "--max-insns", "2000", "--quiet-report", "--serial", "none"])
        assert status in (4, 6, 8, 12, 14), status
        assert "Traceback" not in capsys.readouterr().err
