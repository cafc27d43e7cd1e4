"""Exceptions raised on purpose are reported by the kernel's handlers:
vector, name, error code, EIP (inside the function that faulted), CS,
EFLAGS, CR2; then the kernel halts."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

def fault_report(kernel_build, vm, parse_report, program, opt=2):
    build = kernel_build(opt)
    result, out = vm(build.image_with(f"exp={program}"), max_insns=100_000_000)
    assert result.reason == "hlt-no-interrupts", result.report + out
    return parse_report(build, out)


@pytest.mark.parametrize("opt", [0, 2])
def test_page_fault(kernel_build, vm, parse_report, opt):
    r = fault_report(kernel_build, vm, parse_report, "pagefault", opt)
    assert (r["vector"], r["name"]) == (14, "#PF page fault")
    assert r["code"] == 0x2                 # a write to a page that is not present
    assert r["cr2"] == 0x40000000
    assert r["function"] == "fault_page"
    assert r["cs"] == 0x08
    # the backtrace climbs the frame pointers back to the kernel's entry
    assert r["callers"][:3] == ["run_program", "kernel_main", "_entry"]
    assert r["thread"] == "main"


@pytest.mark.parametrize("opt", [0, 2])
def test_divide_error(kernel_build, vm, parse_report, opt):
    r = fault_report(kernel_build, vm, parse_report, "divide", opt)
    assert (r["vector"], r["name"], r["code"]) == (0, "#DE divide error", 0)
    assert r["function"] == "fault_divide"


@pytest.mark.parametrize("opt", [0, 2])
def test_fun_memset_general_protection_on_iret(kernel_build, vm, parse_report, opt):
    """The seed's "fun memset": descriptor 0x08 cleared; the timer's iret
    back to CS 0x08 faults with the selector as error code."""
    r = fault_report(kernel_build, vm, parse_report, "funmemset", opt)
    assert (r["vector"], r["name"], r["code"]) == (13, "#GP general protection fault", 0x8)
    assert r["function"] == "irq_timer"


@pytest.mark.parametrize("program", ["pagefault", "divide", "funmemset"])
def test_qemu_reports_the_same_exceptions(kernel_build, vm, qemu_until, parse_report, program):
    """QEMU gives the same report as the VM: vector, name, error code, CS,
    CR2 and the faulting function (EFLAGS may differ in reserved bits)."""
    build = kernel_build(2)
    on_qemu = parse_report(build, qemu_until(build.image_with(f"exp={program}"), "kernel halted"))
    on_vm = fault_report(kernel_build, vm, parse_report, program)
    for key in ("vector", "name", "code", "cs", "cr2", "eip", "function", "callers", "thread"):
        assert on_qemu[key] == on_vm[key], key


def test_thread_stack_overflow_no_longer_reaches_the_canary(kernel_build, vm):
    """A thread recursing past its 8 KiB arena stack runs into the guard page
    below it and double-faults (tests/kernel/test_doublefault.py) before the
    scheduler's canary check at the next switch could see it."""
    build = kernel_build(2)
    result, out = vm(build.image_with("exp=stackoverflow"), max_insns=100_000_000)
    assert result.reason == "hlt-no-interrupts", result.report + out
    assert "stack overflow in thread 2 (deep)" in out and "sched: thread deep overflowed" not in out


def test_debug_build_maps_the_fault_to_its_kpy_line(kernel_build, vm, parse_report):
    """A -g kernel boots the same way, and binutils' addr2line turns the
    handler's EIP into the kpy source line of the faulting store."""
    addr2line = shutil.which("addr2line")
    if addr2line is None:
        pytest.skip("addr2line (binutils) is not installed")
    build = kernel_build(2, debug=True)
    result, out = vm(build.image_with("exp=pagefault"), max_insns=100_000_000)
    r = parse_report(build, out)
    assert r["function"] == "fault_page"
    where = subprocess.run([addr2line, "-e", str(build.elf), hex(r["eip"])],
                           capture_output=True, text=True, check=True).stdout.strip()
    path, line = where.rsplit(":", 1)
    assert path.endswith("kernel_src/kernel/faults.kpy")
    text = Path(path).read_text().splitlines()[int(line) - 1]
    assert "vptr[u32](UNMAPPED_ADDRESS)[0] = 0xDEAD" in text


@pytest.mark.parametrize("opt", [0, 1, 2])
@pytest.mark.parametrize("program, code", [("nullstore", 0x2), ("nullload", 0x0)])
def test_null_pointer_faults_on_vm_and_qemu(kernel_build, vm, qemu_until, parse_report, opt, program, code):
    """Page 0 is unmapped and the compiler keeps accesses through null
    (null_pointer_is_valid), so at every -O level a null store and a null
    load are a #PF with CR2 = 0 in the function that did it, not an int3."""
    build = kernel_build(opt)
    on_vm = fault_report(kernel_build, vm, parse_report, program, opt)
    assert (on_vm["vector"], on_vm["name"], on_vm["cr2"]) == (14, "#PF page fault", 0)
    assert on_vm["code"] == code            # not present; write or read
    assert on_vm["function"] == {"nullstore": "fault_null_store", "nullload": "fault_null_load"}[program]
    on_qemu = parse_report(build, qemu_until(build.image_with(f"exp={program}"), "kernel halted"))
    for key in ("vector", "name", "code", "cr2", "eip", "function"):
        assert on_qemu[key] == on_vm[key], key
