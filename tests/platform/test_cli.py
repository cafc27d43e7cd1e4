"""`python -m vm` / vm.cli: options, outputs and exit statuses."""

import subprocess
import sys

import pytest
from guest_asm import IDENTITY_MAP_4M, program

from vm.cli import main, parse_size

HELLO = program("""
    sti
    hlt                            # the BIOS's 18.2 Hz timer tick wakes us
    mov $0x42, %al
    outb %al, $0x80
    mov $msg, %si
    call serial_print
    mov $0x0e48, %ax
    int $0x10
    mov $0x41, %al
    outb %al, $0xe9
    movw $0x1234, 0x5000
    jmp poweroff
msg: .asciz "hi from the guest\\n"
""")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(HELLO)
    return path


def test_python_m_vm_prints_serial_and_exits_0(image):
    p = subprocess.run([sys.executable, "-m", "vm", str(image)], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"hi from the guest\n"


def test_outputs_to_files_and_dumps(image, tmp_path, capsys):
    serial, debugcon, log, trace, tty = (tmp_path / n for n in ("serial.txt", "e9.txt", "log.txt", "trace.txt",
                                                                "tty.txt"))
    status = main([str(image), "--serial", f"file:{serial}", "--debugcon", f"file:{debugcon}", "--teletype", f"file:{tty}",
                   "--vga-dump", "--post-codes", "-d", "post,int", "-D", str(log),
                   "--watch-phys", "0x5000,2", "--trace", str(trace), "--timing", "kvm", "-m", "32M"])
    assert status == 0
    assert serial.read_bytes() == b"hi from the guest\n"
    assert debugcon.read_bytes() == b"A"
    assert tty.read_bytes() == b"H"                        # int 10h AH=0Eh
    err = capsys.readouterr().err
    assert "---- VGA text screen ----\nH\n" in err
    assert "POST codes: 42@" in err
    text = log.read_text()
    assert "[post] POST code 0x42" in text
    assert "[int] " in text and "vector 0x08 (interrupt)" in text
    assert "wrote 2 byte(s) 0x1234 at 0x00005000" in text
    lines = trace.read_text().splitlines()
    assert len(lines) > 20 and lines[0].split()[1] == "f000:0000fff0"


def test_cpu_reset_and_guest_errors_are_logged(tmp_path):
    path, log = tmp_path / "t.img", tmp_path / "vm.log"
    path.write_bytes(program("""
    mov $0x77, %ah                 # no such int 13h function
    mov $0x80, %dl
    int $0x13
    mov $0xfe, %al                 # keyboard controller: pulse the reset line
    outb %al, $0x64
1:  jmp 1b
"""))
    status = main([str(path), "-d", "cpu_reset,guest_errors", "-D", str(log), "--max-insns", "100000",
                   "--quiet-report", "--serial", "none"])
    assert status == 14                                    # guest reset with --no-reboot
    assert log.read_text().splitlines() == ["[guest_errors] int 13h: unsupported function AH=0x77",
                                            "[cpu_reset] reset requested: keyboard controller pulse"]


@pytest.mark.parametrize("source, status", [
    ("cli\nhlt\n", 6),
    ("1: jmp 1b\n", 8),
    ("mov $0x15, %al\njmp debug_exit\n", 0x2B),
])
def test_exit_statuses(tmp_path, source, status, capsys):
    path = tmp_path / "t.img"
    path.write_bytes(program(source))
    assert main([str(path), "--max-insns", "20000", "--serial", "none"]) == status
    err = capsys.readouterr().err
    assert status & 1 or "kpy vm:" in err


@pytest.mark.parametrize("args, message", [
    (["/nonexistent.img"], "cannot read disk image"),
    (["IMG", "-m", "lots"], "bad memory size"),
    (["IMG", "-m", "1"], "RAM size must be"),
    (["IMG", "-m", "nan"], "bad memory size"),
    (["IMG", "--gdb", "70000"], "a TCP port is 0..65535"),
    (["IMG", "--serial", "tcp:1234"], "use stdio, file:PATH or none"),
    (["IMG", "-d", "everything"], "unknown -d category"),
    (["IMG", "--watch-phys", "0x10,0"], "bad --watch-phys"),
    (["IMG", "--rtc", "yesterday"], "bad --rtc time"),
    (["IMG", "--timing", "/no/such/profile.toml"], "timing profile"),
    (["--kernel", "/nonexistent.elf"], "cannot read kernel"),
    (["IMG", "--max-insns", "-5"], "--max-insns -5: must be 0 or more"),
    (["IMG", "--max-cycles", "-1"], "--max-cycles -1: must be 0 or more"),
    (["IMG", "--timeout", "-1"], "--timeout -1.0: give a number of seconds above 0"),
    (["IMG", "--timeout", "nan"], "--timeout nan"),
    (["IMG", "--append", "a=1"], "--append only applies with --kernel"),
    (["IMG", "--watch-phys", "0xFFFFFFFF,16"], "ends above 4 GiB"),
])
def test_bad_input_is_a_clear_error(image, args, message, capsys):
    args = [str(image) if a == "IMG" else a for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_no_image_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_memory_sizes():
    assert parse_size("128") == 128 << 20
    assert parse_size("64M") == 64 << 20
    assert parse_size("1G") == 1 << 30
    assert parse_size("4096k") == 4 << 20


def test_timeout_and_serial_input(tmp_path, capsys):
    loop = tmp_path / "loop.img"
    loop.write_bytes(program("1: jmp 1b\n"))
    assert main([str(loop), "--timeout", "0.2"]) == 10
    assert "timeout" in capsys.readouterr().err
    echo = tmp_path / "echo.img"
    echo.write_bytes(program("""
1:  mov $0x3fd, %dx
    inb %dx, %al
    test $1, %al
    jz 1b
    mov $0x3f8, %dx
    inb %dx, %al
    cmp $0x0a, %al
    je poweroff
    outb %al, %dx
    jmp 1b
"""))
    given = tmp_path / "in.txt"
    given.write_bytes(b"typed\n")
    out = tmp_path / "out.txt"
    assert main([str(echo), "--serial-input", str(given), "--serial", f"file:{out}"]) == 0
    assert out.read_bytes() == b"typed"


PAGING = IDENTITY_MAP_4M + """
    mov $0x1000, %eax
    mov %eax, %cr3
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0
    mov 0x5000, %eax               # the walker sets Accessed in the PTE at 0x2014
    movl $7, 0x5000                # and then Dirty
    mov $0x604, %dx
    mov $0x2000, %ax
    outw %ax, %dx
    hlt
"""


def test_watch_phys_sees_the_page_walker_set_accessed_and_dirty(tmp_path):
    from guest_asm import PROTECTED_MODE, boot_sector
    image, log = tmp_path / "paging.img", tmp_path / "watch.log"
    image.write_bytes(boot_sector(PROTECTED_MODE + PAGING))
    assert main([str(image), "--watch-phys", "0x2014,4", "-D", str(log), "--serial", "none"]) == 0
    writes = [line.split() for line in log.read_text().splitlines()]
    values = [w[6] for w in writes]
    assert values == ["0x00005003", "0x00005023", "0x00005063"], writes


def test_profile_report(image, capsys):
    assert main([str(image), "--profile", "--serial", "none"]) == 0
    err = capsys.readouterr().err
    assert "cycle profile:" in err and "by timing rule:" in err


def test_qemu_command_matches_the_options(image):
    import argparse
    from vm.cli import add_run_options, qemu_command, vm_only_options
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    args = parser.parse_args(["-m", "64", "--serial", "file:/tmp/s", "--debugcon", "stdio", "-d", "int,post",
                              "--rtc", "2020-01-02T03:04:05", "-s", "-S", "--max-insns", "9"])
    cmd = qemu_command(args, image)
    assert cmd[:2] == ["qemu-system-i386", "-machine"]
    joined = " ".join(cmd)
    for flags in ("-m 64M", "-serial file:/tmp/s", "-debugcon stdio", f"-drive format=raw,file={image}",
                  "-no-reboot", "-d int", "-rtc base=2020-01-02T03:04:05,clock=vm", "-gdb tcp:127.0.0.1:1234",
                  "-device isa-debug-exit,iobase=0xf4,iosize=0x04"):
        assert flags in joined
    assert cmd[-1] == "-S" and vm_only_options(args) == ["--max-insns"]


def test_python_m_vm_qemu_runs_the_same_image(image):
    import shutil
    if shutil.which("qemu-system-i386") is None:
        pytest.skip("qemu-system-i386 is not installed")
    p = subprocess.run([sys.executable, "-m", "vm", "--qemu", str(image)], capture_output=True, timeout=120)
    assert p.returncode == 0 and p.stdout == b"hi from the guest\n"


def test_ctrl_c_ends_the_run_with_consistent_counts(tmp_path):
    """Ctrl-C stops at a block boundary: status 130 and a report whose instruction
    count is the CPU's (with --timing off, one cycle per instruction)."""
    import signal
    path = tmp_path / "spin.img"
    path.write_bytes(program("mov $0x41, %al\noutb %al, $0xe9\n1: jmp 1b\n"))
    p = subprocess.Popen([sys.executable, "-m", "vm", str(path), "--timing", "off", "--debugcon", "stdio",
                          "--serial", "none"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.read(1) == b"A"                    # the guest is running
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    text = err.decode()
    assert p.returncode == 130, text
    assert text.startswith("kpy vm: interrupted:") and "Traceback" not in text
    line = next(line for line in text.splitlines() if "cycles=" in line).split()
    cycles, insns = (int(f.split("=")[1]) for f in line[:2])
    assert insns > 3 and 0 <= cycles - insns <= 1          # (the port write costs one cycle more)
