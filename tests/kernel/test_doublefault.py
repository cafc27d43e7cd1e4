"""The double fault runs as a task of its own (arch/doublefault.kpy): a
thread that overflows its 8 KiB stack runs into the unmapped guard page
below it (mm/arena.kpy); the #PF cannot push its frame there, the CPU
double-faults through IDT vector 8's task gate into the #DF task (TSS
0x28, its own stack), and that task prints the report from the previous
task's TSS (its back link, 0x20) instead of the machine triple-faulting.
Then it halts with interrupts off (the VM's `hlt-no-interrupts`, exit 6).
The same report on the VM and on QEMU."""
import re
import struct

import pytest

KERNEL_VIRT, KERNEL_PHYS = 0xFE000000, 0x400000
# The arena at 0x80000000: idle's stack is the first (guard 0x80000000),
# the overflowing worker's the second.
WORKER_GUARD, WORKER_STACK = 0x80003000, 0x80004000
STACK_SIZE = 8192
NT, TS = 1 << 14, 1 << 3
PROGRAMS = {"stackoverflow": ("deep", "deep"), "recursion": ("recurse", "recurse")}


def report_lines(out: str) -> list:
    """The #DF report: from its `exception 8` line to `kernel halted`."""
    lines = [l.rstrip("\r") for l in out.split("\n")]
    first = next(i for i, l in enumerate(lines) if l.startswith("exception 8 "))
    last = next(i for i, l in enumerate(lines) if l.endswith("kernel halted"))
    return lines[first:last + 1]


def run_overflow(kernel_build, vm, program, opt=2, machines=None):
    build = kernel_build(opt)
    result, out = vm(build.image_with(f"exp={program}"), max_insns=100_000_000, machine_out=machines)
    assert result.reason == "hlt-no-interrupts", result.report + out      # not a triple fault
    return build, out


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_a_thread_stack_overflow_is_reported_by_the_df_task(kernel_build, vm, parse_report, program, opt):
    build, out = run_overflow(kernel_build, vm, program, opt)
    thread, function = PROGRAMS[program]
    r = parse_report(build, out)
    assert (r["vector"], r["name"], r["code"], r["cs"]) == (8, "#DF double fault", 0, 0x08)
    assert WORKER_GUARD <= r["cr2"] < WORKER_STACK          # the #PF's address: in the guard page
    assert r["function"] in (function, "memset")            # the faulting EIP, from the old TSS
    assert r["callers"] and set(r["callers"]) == {function}  # the old task's EBP chain, all recursion
    assert r["thread"] == thread
    df_stack = build.symbol("df_stack")
    link = re.search(r"double fault: reported by the #DF task \(TSS 0x28, stack 0x([0-9a-f]{8})-0x([0-9a-f]{8})\); "
                     r"previous task TSS 0x20 \(back link\): esp=0x([0-9a-f]{8}) ebp=0x([0-9a-f]{8})", out)
    assert link, out
    assert (int(link[1], 16), int(link[2], 16)) == (df_stack, df_stack + STACK_SIZE - 1)
    esp = int(link[3], 16)
    assert WORKER_GUARD <= esp <= WORKER_STACK
    overflow = re.search(r"stack overflow in thread (\d+) \((\w+)\): esp=0x([0-9a-f]{8}) cr2=0x([0-9a-f]{8}), "
                         r"guard page 0x([0-9a-f]{8})-0x([0-9a-f]{8}) under its stack 0x([0-9a-f]{8})-0x([0-9a-f]{8})",
                         out)
    assert overflow, out
    assert overflow.groups() == ("2", thread, f"{esp:08x}", f"{r['cr2']:08x}", f"{WORKER_GUARD:08x}",
                                 f"{WORKER_STACK - 1:08x}", f"{WORKER_STACK:08x}",
                                 f"{WORKER_STACK + STACK_SIZE - 1:08x}")


def test_the_cpu_is_left_in_the_df_task_with_its_back_link(kernel_build, vm):
    """After the report: TR holds the #DF TSS, NT is set (a nested task),
    both TSS descriptors are busy, the #DF TSS's back link is 0x20, CR0.TS
    is set, and the main TSS holds the state the report printed."""
    machines = []
    build, out = run_overflow(kernel_build, vm, "recursion", machines=machines)
    cpu, memory = machines[0].cpu, machines[0].memory

    def kernel_words(symbol, n):
        return struct.unpack(f"<{n}I", memory.read(build.symbol(symbol) - KERNEL_VIRT + KERNEL_PHYS, 4 * n))
    assert (cpu.tr_sel, cpu.tr_base) == (0x28, build.symbol("df_tss"))
    assert cpu.get_eflags() & NT and cpu.cr[0] & TS
    assert cpu.cr[3] == 0x1000                              # the #DF TSS's CR3: the kernel's directory
    gdt = kernel_words("gdt", 12)
    assert [(gdt[2 * i + 1] >> 8) & 0x1F for i in (4, 5)] == [0xB, 0xB]     # 32-bit TSS, busy
    df_tss, main_tss = kernel_words("df_tss", 26), kernel_words("tss", 26)
    assert df_tss[0] == 0x20                                # back link
    df_stack = build.symbol("df_stack")
    assert df_stack <= cpu.regs[4] < df_stack + STACK_SIZE  # running on its own stack
    eip, esp, ebp = main_tss[8], main_tss[14], main_tss[15]
    assert f"eip=0x{eip:08x} cs=0x8" in out and f"esp=0x{esp:08x} ebp=0x{ebp:08x}" in out
    assert build.function_at(eip) == "recurse" and main_tss[19] == 0x08     # saved CS


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_qemu_gives_the_same_df_report(kernel_build, vm, qemu_until, program):
    build, out = run_overflow(kernel_build, vm, program)
    on_qemu = qemu_until(build.image_with(f"exp={program}"), "kernel halted")
    assert report_lines(on_qemu) == report_lines(out)
    assert any(l.startswith("stack overflow in thread 2 ") for l in report_lines(on_qemu))
