"""Every one of the 32 exception handlers is installed on its own vector and
prints its report. The kernel is booted with `exp=pagefault` after the
bytes after `fault_page`'s prologue were replaced in the disk image by
`int $N; jmp .`: the software interrupt enters the gate for vector N exactly as the
exception would (ring 0, through the IDT), without an error code.

A handler for a vector without an error code reports error 0, the EIP
after the `int` (a trap) and CS 0x08. A handler for a vector that carries
an error code (8, 10-14, 17, 21, 29, 30) takes the first word of the
frame as that code, so here it reports the return EIP as the error and
CS as the EIP: that shows it is the error-code variant the CPU needs.

Vector 8 is a task gate to the #DF task (arch/doublefault.kpy): the switch
saves the interrupted state in the main TSS, and the #DF task reports it
from there, so `int $8` reports the true EIP, CS and backtrace, with error
0 (a software interrupt pushes no error code, and the task knows it by its
stack pointer)."""
import pytest

KERNEL_IMAGE_LBA = 65
KERNEL_VIRT = 0xFE000000
PROLOGUE = b"\x55\x89\xe5"     # push %ebp; mov %esp, %ebp
WITH_ERROR_CODE = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}

# Intel SDM vol. 3A, table 6-1 (and AMD's 29 and 30); the kernel's names.
NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound range exceeded", 6: "#UD invalid opcode", 7: "#NM device not available",
    8: "#DF double fault", 9: "coprocessor segment overrun", 10: "#TS invalid TSS",
    11: "#NP segment not present", 12: "#SS stack-segment fault",
    13: "#GP general protection fault", 14: "#PF page fault", 16: "#MF x87 floating-point error",
    17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD floating-point error",
    20: "#VE virtualization exception", 21: "#CP control protection exception",
    28: "#HV hypervisor injection", 29: "#VC VMM communication", 30: "#SX security exception",
}


def image_raising(build, vector: int) -> bytes:
    """The exp=pagefault image with `int $vector; jmp .` after fault_page's
    prologue (kept, so the backtrace still finds run_program)."""
    image = bytearray(build.image_with("exp=pagefault"))
    at = KERNEL_IMAGE_LBA * 512 + build.symbol("fault_page") - KERNEL_VIRT
    assert image[at:at + 3] == PROLOGUE             # the right bytes of the image
    image[at + 3:at + 7] = bytes([0xCD, vector, 0xEB, 0xFE])
    return bytes(image)


@pytest.mark.parametrize("vector", range(32))
def test_every_exception_vector_has_a_reporting_handler(kernel_build, vm, parse_report, vector):
    build = kernel_build(2)
    result, out = vm(image_raising(build, vector), max_insns=100_000_000)
    assert result.reason == "hlt-no-interrupts", result.report + out
    r = parse_report(build, out)
    assert r["vector"] == vector
    assert r["name"] == NAMES.get(vector, f"reserved ({vector})")
    after_int = build.symbol("fault_page") + len(PROLOGUE) + 2
    if vector in WITH_ERROR_CODE and vector != 8:
        assert (r["code"], r["eip"]) == (after_int, 0x08)
    else:
        assert (r["code"], r["eip"], r["cs"]) == (0, after_int, 0x08)
        assert r["function"] == "fault_page"
        assert r["eflags"] & 0x200          # interrupts were on when it was raised
        assert r["callers"][:3] == ["run_program", "kernel_main", "_entry"]
    assert r["thread"] == "main"
    if vector == 8:                         # the #DF task says which stack the old task was on
        assert "double fault: reported by the #DF task (TSS 0x28, " in out
        assert "is on the boot stack (under 0xc0007c00)" in out
