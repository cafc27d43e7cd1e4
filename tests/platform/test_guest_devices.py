"""Each device through a small guest program running on the VM."""

import datetime
import io

import pytest

from guest_asm import PROTECTED_MODE, REAL_MODE_SETUP, boot_sector, program
from machine_run import run_vm

from vm.devices.clock import CPU_HZ, PIT_HZ


# IRQ0 handler at vector 8: count ticks, record the TSC per tick at 0x600,
# EOI unless the guest turned that off.
TIMER_HANDLER = """
irq0:
    push %eax
    push %edx
    push %bx
    rdtsc
    mov ticks, %bx
    shl $2, %bx
    mov %eax, 0x600(%bx)
    incw ticks
    cmpb $0, no_eoi
    jne 1f
    mov $0x20, %al
    outb %al, $0x20
1:  pop %bx
    pop %edx
    pop %eax
    iret
ticks: .word 0
no_eoi: .byte 0
# busy-wait %ecx cycles
delay:
    rdtsc
    mov %eax, %ebx
2:  rdtsc
    sub %ebx, %eax
    cmp %ecx, %eax
    jb 2b
    ret
print_ticks:
    mov ticks, %al
    call print_hex8
    mov $0x20, %al
    jmp putc
"""

DIVISOR = 1193
PERIOD = DIVISOR * CPU_HZ / PIT_HZ        # ≈ 99,983 cycles (≈ 1 kHz)


def start_timer(divisor: int, mode: int = 2) -> str:
    return f"""
    movw $irq0, 0x20
    movw $0, 0x22
    mov ${0x30 | mode << 1}, %al
    outb %al, $0x43
    mov ${divisor & 0xFF}, %al
    outb %al, $0x40
    mov ${divisor >> 8}, %al
    outb %al, $0x40
    mov $0xfe, %al
    outb %al, $0x21
"""


PIT_RATE = REAL_MODE_SETUP + start_timer(DIVISOR) + """
    sti
wait:
    hlt
    cmpw $11, ticks
    jb wait
    cli
    jmp poweroff
""" + TIMER_HANDLER


@pytest.mark.parametrize("mode", [2, 3])
def test_pit_interrupts_at_the_programmed_rate_in_emulated_time(mode):
    out = run_vm(program(PIT_RATE.replace(start_timer(DIVISOR), start_timer(DIVISOR, mode))))
    assert out.reason == "poweroff", out.report
    tsc = [int.from_bytes(out.machine.memory.read(0x600 + 4 * i, 4), "little") for i in range(11)]
    deltas = [b - a for a, b in zip(tsc, tsc[1:])]
    assert all(abs(d - PERIOD) <= 1 for d in deltas), deltas


# a long rep stosb with the timer running: the interrupt comes between two
# iterations (the handler records CX at 0x500), and the rep then goes on
REP_INTERRUPTED = REAL_MODE_SETUP + start_timer(DIVISOR) + """
    movw $0, 0x500
    mov $0x1000, %ax
    mov %ax, %es
    xor %di, %di
    mov $0xab, %al
    mov $60000, %cx
    sti
    rep stosb
    cli
    mov %cx, 0x502
    jmp poweroff
irq0:
    cmpw $0, 0x500
    jne 1f
    mov %cx, 0x500
1:  push %ax
    mov $0x20, %al
    outb %al, $0x20
    pop %ax
    iret
"""


def test_a_timer_interrupt_arrives_between_rep_iterations():
    out = run_vm(program(REP_INTERRUPTED), timing="tcg")
    assert out.reason == "poweroff", out.report
    mem = out.machine.memory
    cx_at_interrupt = int.from_bytes(mem.read(0x500, 2), "little")
    assert 0 < cx_at_interrupt < 60000
    assert int.from_bytes(mem.read(0x502, 2), "little") == 0
    assert mem.read(0x10000, 60000) == b"\xab" * 60000


# the guest programs the PIT and busy-waits (no hlt) for the first tick: the
# run notices the new schedule at once, so the tick comes one period later
BUSY_WAIT_FIRST_TICK = REAL_MODE_SETUP + """
    movw $0, 0x500
""" + start_timer(DIVISOR) + """
    rdtsc
    mov %eax, 0x600
    sti
1:  cmpw $0, 0x500
    je 1b
    cli
    jmp poweroff
irq0:
    push %eax
    push %edx
    rdtsc
    mov %eax, 0x604
    movw $1, 0x500
    mov $0x20, %al
    outb %al, $0x20
    pop %edx
    pop %eax
    iret
"""


def test_a_timer_programmed_while_running_fires_on_time_without_hlt():
    out = run_vm(program(BUSY_WAIT_FIRST_TICK), timing="tcg")
    assert out.reason == "poweroff", out.report
    mem = out.machine.memory
    programmed, fired = (int.from_bytes(mem.read(a, 4), "little") for a in (0x600, 0x604))
    assert abs(fired - programmed - PERIOD) < PERIOD / 20, (programmed, fired)


PIC_MASK_EOI = REAL_MODE_SETUP + start_timer(DIVISOR) + f"""
    sti
1:  hlt
    cmpw $3, ticks
    jb 1b
    call print_ticks               # 03
    mov $0xff, %al                 # mask IRQ0 for five periods
    outb %al, $0x21
    mov ${int(PERIOD * 5)}, %ecx
    call delay
    call print_ticks               # 03: nothing delivered while masked
    mov $0xfe, %al                 # unmask: the latched request arrives at once
    outb %al, $0x21
    mov $100, %ecx
    call delay
    call print_ticks               # 04
    movb $1, no_eoi                # handler stops sending EOI
2:  hlt
    cmpw $5, ticks
    jb 2b
    mov ${int(PERIOD * 5)}, %ecx
    call delay
    call print_ticks               # 05: IRQ0 stays in service without EOI
    movb $0, no_eoi
    mov $0x20, %al
    outb %al, $0x20
    mov $100, %ecx
    call delay
    call print_ticks               # 06: EOI lets the latched request in
    cli
    jmp poweroff
""" + TIMER_HANDLER


def test_pic_masking_and_eoi():
    out = run_vm(program(PIC_MASK_EOI))
    assert out.reason == "poweroff", out.report
    assert out.serial == b"03 03 04 05 06 "


UART_POLL_ECHO = REAL_MODE_SETUP + """
next:
    mov $0x3fd, %dx
1:  inb %dx, %al
    test $1, %al
    jz 1b
    mov $0x3f8, %dx
    inb %dx, %al
    cmp $0x2e, %al
    je poweroff
    cmp $0x61, %al
    jb 2f
    sub $0x20, %al
2:  mov %al, %bl
    mov $0x3fd, %dx
3:  inb %dx, %al
    test $0x20, %al
    jz 3b
    mov %bl, %al
    mov $0x3f8, %dx
    outb %al, %dx
    jmp next
"""

UART_IRQ_ECHO = REAL_MODE_SETUP + """
    movw $irq4, 0x30
    movw $0, 0x32
    mov $0x3f9, %dx
    mov $1, %al                    # IER: received data available
    outb %al, %dx
    mov $0x3fc, %dx
    mov $0x08, %al                 # MCR: OUT2
    outb %al, %dx
    mov $0xef, %al                 # unmask IRQ4
    outb %al, $0x21
    sti
1:  hlt
    jmp 1b
irq4:
    mov $0x3fa, %dx
    inb %dx, %al
    test $1, %al
    jnz 2f
    mov $0x3f8, %dx
    inb %dx, %al
    cmp $0x2e, %al
    je poweroff
    xor $0x20, %al
    outb %al, %dx
2:  mov $0x20, %al
    outb %al, $0x20
    iret
"""


def test_uart_polling_echo():
    out = run_vm(program(UART_POLL_ECHO), serial_input=b"hello, vm.ignored")
    assert out.reason == "poweroff", out.report
    assert out.serial == b"HELLO, VM"


def test_uart_interrupt_driven_echo():
    out = run_vm(program(UART_IRQ_ECHO), serial_input=b"Echo.")
    assert out.reason == "poweroff", out.report
    assert out.serial == b"eCHO"


CMOS_READ = REAL_MODE_SETUP + """
    mov $regs, %si
1:  lodsb
    cmp $0xff, %al
    je poweroff
    outb %al, $0x70
    inb $0x71, %al
    call print_hex8
    jmp 1b
regs: .byte 0x32, 0x09, 0x08, 0x07, 0x04, 0x02, 0x00, 0x0b, 0xff
"""


def test_cmos_clock_reads_the_configured_time():
    out = run_vm(program(CMOS_READ), rtc_time=datetime.datetime(2025, 12, 31, 23, 58, 7))
    assert out.reason == "poweroff", out.report
    assert out.serial == b"2025123123580702"


VGA_AND_PORTS = REAL_MODE_SETUP + """
    mov $msg, %si
1:  lodsb
    test %al, %al
    jz 2f
    mov $0x0e, %ah
    int $0x10
    jmp 1b
2:  mov $0x11, %al
    outb %al, $0x80
    mov $0x22, %al
    outb %al, $0x80
    inb $0xe9, %al
    outb %al, $0xe9
    mov $0x41, %al
    outb %al, $0xe9
    mov $0x7, %al
    jmp debug_exit
msg: .asciz "int 10h says hi\\r\\n"
"""


def test_vga_post_debugcon_and_debug_exit():
    debugcon = io.BytesIO()
    out = run_vm(program(VGA_AND_PORTS), debugcon=debugcon)
    assert (out.reason, out.exit_code) == ("debug-exit", 0x0F), out.report
    assert out.machine.vga.screen_text() == "int 10h says hi\n"
    assert [v for _, v in out.machine.post.codes] == [0x11, 0x22]
    assert debugcon.getvalue() == b"\xe9A"


VGA_DIRECT = REAL_MODE_SETUP + """
    mov $0xb800, %ax
    mov %ax, %es
    jmp 1f
1:  movw $0x1f4b, %es:320          # 'K' at row 2, column 0
    movw $0x1f21, %es:322
    jmp poweroff
"""


def test_guest_writes_vga_text_memory():
    out = run_vm(program(VGA_DIRECT))
    assert out.reason == "poweroff", out.report
    assert out.machine.vga.screen_text() == "\n\nK!\n"
    assert out.machine.vga.memory[320:324] == b"K\x1f!\x1f"


def test_triple_fault_is_reported():
    source = PROTECTED_MODE + """
    lidt idt0
    int3
idt0: .word 0
    .long 0
"""
    out = run_vm(boot_sector(source))
    assert (out.reason, out.exit_code) == ("triple-fault", 4)
    assert "triple fault" in out.report and "EIP=" in out.report
    # the report names the reason, EIP and CS, the exceptions that led there and the last instructions
    report = out.report
    assert report.startswith("kpy vm: triple-fault:")
    assert "CS=0008" in report and "#GP(0x43) while delivering #DF" in report
    assert "vector 0x0d (#GP) error=0x1a" in report and "vector 0x08 (#DF)" in report
    eip = report.split("EIP=")[1].split()[0]
    assert "last instructions:" in report and report.split("last instructions:")[1].split("\n")[0].split()[-1] == eip
    assert "at EIP: cc" in report                          # the int3 that started it


def test_hlt_with_interrupts_off_ends_the_run():
    out = run_vm(program("cli\nhlt\n"))
    assert (out.reason, out.exit_code) == ("hlt-no-interrupts", 6)
    assert "IF=0" in out.report


def test_instruction_limit():
    out = run_vm(program("1: jmp 1b\n"), max_insns=5000)
    assert (out.reason, out.exit_code) == ("insn-limit", 8)
    assert out.machine.cpu.insns == 5000


def test_no_bootable_device():
    out = run_vm(bytes(1024))
    assert (out.reason, out.exit_code) == ("no-boot-device", 12)
    assert "not a bootable disk" in out.machine.vga.screen_text()


def test_same_image_twice_is_identical():
    image = program(PIT_RATE.replace("jmp poweroff", "mov $0x600, %si\n    mov $40, %cx\n"
                                     "3:  lodsb\n    call print_hex8\n    loop 3b\n    jmp poweroff"))
    runs = [run_vm(image, timing="tcg") for _ in range(2)]
    assert runs[0].reason == "poweroff", runs[0].report
    assert runs[0].serial == runs[1].serial and len(runs[0].serial) == 80
    assert runs[0].cycles == runs[1].cycles


def test_same_image_in_two_processes_is_identical(tmp_path):
    """Across interpreter processes too (different hash seeds): the guest prints
    its rdtsc stamps, and the run is cut by --max-cycles so the report gives the count."""
    import os
    import subprocess
    import sys
    path = tmp_path / "pit.img"
    path.write_bytes(program(PIT_RATE.replace("jmp poweroff", "mov $0x600, %si\n    mov $40, %cx\n"
                                              "3:  lodsb\n    call print_hex8\n    loop 3b\n    cli\n    hlt")))
    runs = []
    for seed in ("1", "2"):
        p = subprocess.run([sys.executable, "-m", "vm", str(path), "--timing", "tcg", "-m", "16"],
                           capture_output=True, timeout=120, env={**os.environ, "PYTHONHASHSEED": seed})
        assert p.returncode == 6, p.stderr            # hlt with IF=0 after printing
        runs.append((p.stdout, [line for line in p.stderr.splitlines() if b"cycles=" in line]))
    assert len(runs[0][0]) == 80 and runs[0][1]
    assert runs[0] == runs[1]


def test_triple_fault_with_reboot_resets_the_machine():
    source = PROTECTED_MODE + """
    mov $0x41, %al
    mov $0x3f8, %dx
    outb %al, %dx
    lidt idt0
    int3
idt0: .word 0
    .long 0
"""
    out = run_vm(boot_sector(source), max_insns=3000, no_reboot=False)
    assert out.reason == "insn-limit"
    assert out.machine.resets >= 2 and out.serial == b"A" * (out.machine.resets + 1)


def test_keyboard_controller_reset_with_no_reboot_ends_the_run():
    out = run_vm(program("mov $0xfe, %al\noutb %al, $0x64\n1: jmp 1b\n"))
    assert (out.reason, out.exit_code) == ("reset", 14)


def test_hlt_with_the_timer_masked_ends_at_once():
    out = run_vm(program("mov $0xff, %al\noutb %al, $0x21\nsti\nhlt\njmp poweroff\n"))
    assert (out.reason, out.exit_code) == ("hlt-no-interrupts", 6)
    assert "masked or still in service" in out.report


RTC_PERIODIC = REAL_MODE_SETUP + """
    movw $irq8, 0x70 * 4
    movw $0, 0x70 * 4 + 2
    mov $0xb9, %al                 # mask the BIOS's PIT tick; IRQ2 and IRQ8 stay open
    outb %al, $0x21
    mov $0x8a, %al                 # register A: rate 6 = 1024 Hz (NMI off while we program)
    outb %al, $0x70
    mov $0x26, %al
    outb %al, $0x71
    mov $0x8b, %al                 # register B: periodic interrupt enable
    outb %al, $0x70
    inb $0x71, %al
    or $0x40, %al
    mov %al, %ah
    mov $0x8b, %al
    outb %al, $0x70
    mov %ah, %al
    outb %al, $0x71
    sti
1:  hlt
    cmpw $6, ticks
    jb 1b
    jmp poweroff
irq8:
    push %eax
    push %edx
    push %bx
    rdtsc
    mov ticks, %bx
    shl $2, %bx
    mov %eax, 0x600(%bx)
    incw ticks
    cmpb $0, skip_c
    jne 2f
    mov $0x0c, %al                 # read register C: acknowledge
    outb %al, $0x70
    inb $0x71, %al
2:  mov $0x20, %al
    outb %al, $0xa0
    outb %al, $0x20
    pop %bx
    pop %edx
    pop %eax
    iret
ticks: .word 0
skip_c: .byte SKIP_C
"""


def test_rtc_periodic_interrupt_at_1024_hz():
    out = run_vm(program(RTC_PERIODIC.replace("SKIP_C", "0")))
    assert out.reason == "poweroff", out.report
    tsc = [int.from_bytes(out.machine.memory.read(0x600 + 4 * i, 4), "little") for i in range(6)]
    deltas = [b - a for a, b in zip(tsc, tsc[1:])]
    assert all(abs(d - CPU_HZ / 1024) <= 1 for d in deltas), deltas


def test_rtc_interrupts_stop_until_register_c_is_read():
    out = run_vm(program(RTC_PERIODIC.replace("SKIP_C", "1")))
    assert out.reason == "hlt-no-interrupts", out.report
    first = int.from_bytes(out.machine.memory.read(0x600, 4), "little")
    assert first and not int.from_bytes(out.machine.memory.read(0x604, 4), "little")   # one interrupt only


def test_live_input_wakes_an_idle_guest():
    """Bytes arriving later on a host stream (a terminal, here a pipe) reach
    the interrupt-driven echo guest while it sleeps in hlt with the timer off."""
    import os
    import threading
    import time
    read_end, write_end = os.pipe()
    source = UART_IRQ_ECHO                     # unmasks IRQ4 only: no timer ticks while waiting

    def type_slowly():
        for chunk in (b"ab", b"C."):
            time.sleep(0.2)
            os.write(write_end, chunk)
    writer = threading.Thread(target=type_slowly)
    writer.start()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        out = run_vm(program(source), live_input=stream)
    writer.join()
    os.close(write_end)
    assert out.reason == "poweroff", out.report
    assert out.serial == b"ABc"


PIT_ONE_SHOT = REAL_MODE_SETUP + start_timer(DIVISOR, mode=0) + """
    rdtsc
    mov %eax, 0x5f0
    sti
1:  hlt
    jmp 1b
""" + TIMER_HANDLER


def test_pit_mode0_interrupts_once_on_terminal_count():
    out = run_vm(program(PIT_ONE_SHOT))
    assert out.reason == "hlt-no-interrupts", out.report     # nothing left to wake it
    memory = out.machine.memory
    started = int.from_bytes(memory.read(0x5F0, 4), "little")
    fired = int.from_bytes(memory.read(0x600, 4), "little")
    assert not int.from_bytes(memory.read(0x604, 4), "little")          # exactly one interrupt
    assert abs(fired - started - PERIOD) < 200                           # after the programmed count


PIT_CALIBRATION = REAL_MODE_SETUP + """
    inb $0x61, %al                 # gate channel 2 off, speaker off
    and $0xfc, %al
    outb %al, $0x61
    mov $0xb0, %al                 # channel 2, low/high byte, mode 0
    outb %al, $0x43
    mov $0x9c, %al                 # 11932 = 0x2e9c ticks ≈ 10 ms
    outb %al, $0x42
    mov $0x2e, %al
    outb %al, $0x42
    rdtsc
    mov %eax, %ebx
    inb $0x61, %al
    or $1, %al                     # gate on: counting starts
    outb %al, $0x61
1:  inb $0x61, %al                 # wait for OUT2 (bit 5)
    test $0x20, %al
    jz 1b
    rdtsc
    sub %ebx, %eax
    mov %eax, 0x600
    jmp poweroff
"""


def test_pit_channel2_calibration_loop():
    """The classic TSC calibration: gate channel 2 on, poll OUT2 on port 0x61."""
    out = run_vm(program(PIT_CALIBRATION))
    assert out.reason == "poweroff", out.report
    elapsed = int.from_bytes(out.machine.memory.read(0x600, 4), "little")
    assert abs(elapsed - 11932 * CPU_HZ / PIT_HZ) < 500        # 10 ms at 100 MHz
