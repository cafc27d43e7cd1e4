"""Threads and the scheduler as the machine sees them after the default
demo: where the threads' stacks are, and the idle thread's `hlt`."""
import struct

KERNEL_VIRT, KERNEL_PHYS = 0xFE000000, 0x400000
THREAD = struct.Struct("<8I")       # esp state wake_tick entry arg name stack_base slices
STACK_SIZE = 8192
ARENA_PAGES = 64
CANARY = 0x2179706B


def kernel_phys(virt: int) -> int:
    return virt - KERNEL_VIRT + KERNEL_PHYS


def read_string(memory, virt: int) -> str:
    raw = memory.read(kernel_phys(virt), 32)
    return raw[:raw.index(0)].decode()


def test_stacks_come_from_the_arena_in_order_and_main_keeps_the_boot_stack(kernel_build, vm):
    """Slot 0 (main) has no arena stack: it runs on the boot stack. The idle
    thread and the demo's workers (whose dead slots are reused with their
    stacks) got consecutive 8 KiB stacks from the bump arena, each with its
    canary word at the bottom."""
    build = kernel_build(2)
    machines = []
    result, out = vm(build.image, machine_out=machines)
    assert result.reason == "poweroff", result.report + out
    memory = machines[0].memory
    raw = memory.read(kernel_phys(build.symbol("threads")), 16 * THREAD.size)
    threads = [THREAD.unpack_from(raw, i * THREAD.size) for i in range(16)]
    names = [read_string(memory, t[5]) if t[5] else None for t in threads]
    bases = [t[6] for t in threads]
    assert names[:2] == ["main", "idle"] and set(names[2:5]) == {"spinner"} and names[5] is None
    assert bases[0] == 0
    arena_end = struct.unpack("<I", memory.read(kernel_phys(build.symbol("arena_end")), 4))[0]
    arena_next = struct.unpack("<I", memory.read(kernel_phys(build.symbol("arena_next")), 4))[0]
    arena = arena_end - ARENA_PAGES * 4096
    assert 0xC0000000 <= arena < 0xFC000000 and arena % 4096 == 0     # in the direct map
    assert bases[1:5] == [arena + k * STACK_SIZE for k in range(4)]
    assert arena_next == arena + 4 * STACK_SIZE
    for base in bases[1:5]:
        assert struct.unpack("<I", memory.read(base - 0xC0000000, 4))[0] == CANARY


def test_idle_thread_halts_while_every_thread_sleeps(kernel_build, vm):
    """The idle thread's `sti; hlt` runs during the demo (its sleep phase
    leaves nothing else ready)."""
    build = kernel_build(2)
    idle = build.symbol("idle_main")
    code = build.image[65 * 512 + idle - KERNEL_VIRT:][:64]
    hlt_at = idle + code.index(b"\xfb\xf4") + 1
    assert build.function_at(hlt_at) == "idle_main"
    halts = []

    def prepare(machine):
        machine.cpu.add_exec_hook(kernel_phys(hlt_at), lambda cpu: halts.append(cpu.cycles))
    result, out = vm(build.image, prepare=prepare)
    assert result.reason == "poweroff", result.report + out
    assert len(halts) >= 10, len(halts)
