"""Threads and the scheduler as the machine sees them after the default
demo: where the threads' stacks are, and the idle thread's `hlt`."""
import struct

KERNEL_VIRT, KERNEL_PHYS = 0xFE000000, 0x400000
THREAD = struct.Struct("<8I")       # esp state wake_tick entry arg name stack_base slices
STACK_SIZE = 8192
ARENA_PAGES = 64
CANARY = 0x2179706B
ARENA_VIRT = 0x80000000


def kernel_phys(virt: int) -> int:
    return virt - KERNEL_VIRT + KERNEL_PHYS


def read_string(memory, virt: int) -> str:
    raw = memory.read(kernel_phys(virt), 32)
    return raw[:raw.index(0)].decode()


def test_stacks_come_from_the_arena_in_order_and_main_keeps_the_boot_stack(kernel_build, vm):
    """Slot 0 (main) has no arena stack: it runs on the boot stack. The idle
    thread and the demo's workers (whose dead slots are reused with their
    stacks) got consecutive 8 KiB stacks from the bump arena, each with its
    canary word at the bottom. The arena is mapped at 0x80000000 through
    its own page table (PDE 512): each stack's two pages are the arena's
    next frames, and the page below each stack is left unmapped (its guard
    page: an overflow there double-faults, tests/kernel/test_doublefault.py)."""
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
    slot = STACK_SIZE + 4096                                # a guard page, then the stack
    assert bases[1:5] == [ARENA_VIRT + 4096 + k * slot for k in range(4)]

    def word(symbol):
        return struct.unpack("<I", memory.read(kernel_phys(build.symbol(symbol)), 4))[0]
    arena_phys = word("arena_phys")
    assert arena_phys % 4096 == 0 and word("arena_phys_end") == arena_phys + ARENA_PAGES * 4096
    assert word("arena_phys_next") == arena_phys + 4 * STACK_SIZE and word("arena_next") == ARENA_VIRT + 4 * slot
    pde = struct.unpack("<I", memory.read(0x1000 + 4 * (ARENA_VIRT >> 22), 4))[0]
    assert pde & 0x83 == 0x03                               # present, writable, a 4 KiB page table
    table = struct.unpack("<1024I", memory.read(pde & ~0xFFF, 4096))
    for k in range(4):
        guard = (bases[1 + k] - ARENA_VIRT) // 4096 - 1
        assert table[guard] == 0                            # the guard page: not present
        frames = [table[guard + 1 + i] & ~0xFFF for i in range(STACK_SIZE // 4096)]
        assert frames == [arena_phys + k * STACK_SIZE + i * 4096 for i in range(STACK_SIZE // 4096)]
        assert all(table[guard + 1 + i] & 0x3 == 0x3 for i in range(STACK_SIZE // 4096))
        assert struct.unpack("<I", memory.read(frames[0], 4))[0] == CANARY
    assert not any(table[(word("arena_next") - ARENA_VIRT) // 4096:])


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
