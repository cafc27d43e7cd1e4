"""The platform-facing hooks: exec hooks, write watches (including A/D updates
by the page walker), A20, on_exception, trace, reset."""
from tests.cpu.bare import boot_sector


def test_exec_hook_runs_before_the_instruction_and_may_move_eip():
    cpu = boot_sector("""
movw $1, %ax
target: movw $2, %ax
hlt
other: movw $3, %bx
hlt""")
    seen = []

    def hook(c):
        seen.append(c.eip)
        c.eip = 0x7C00 + 7        # other:
    cpu.add_exec_hook(0x7C00 + 3, hook)
    assert cpu.run(max_insns=100) == "hlt"
    assert seen == [0x7C03]
    assert cpu.eax & 0xFFFF == 1 and cpu.ebx & 0xFFFF == 3


def test_exec_hook_stop_then_resume_does_not_stop_again():
    cpu = boot_sector("movw $1, %ax\nmovw $2, %ax\nhlt")
    cpu.add_exec_hook(0x7C03, lambda c: c.request_stop())
    assert cpu.run() == "stop"
    assert cpu.eip == 0x7C03
    assert cpu.run() == "hlt"
    assert cpu.eax & 0xFFFF == 2


def test_removed_hook_no_longer_runs():
    cpu = boot_sector("1: incw %ax\ncmpw $50, %ax\njne 1b\nhlt")
    calls = []
    hook = lambda c: calls.append(1)   # noqa: E731
    cpu.add_exec_hook(0x7C00, hook)
    cpu.run(max_insns=20)
    cpu.remove_exec_hook(0x7C00, hook)
    before = len(calls)
    assert cpu.run(max_insns=1000) == "hlt"
    assert before > 0 and len(calls) == before


def test_write_watch_sees_guest_stores_and_string_ops():
    cpu = boot_sector("""
movw $0x1234, 0x600
movw $0x600, %di
movw $0x55aa, %ax
movw $2, %cx
cld
rep stosw
hlt""")
    writes = []
    cpu.mem.add_write_watch(0x600, 4, lambda p, n, v, eip: writes.append((p, n, v)))
    assert cpu.run(max_insns=100) == "hlt"
    assert writes[0] == (0x600, 2, 0x1234)
    assert (0x600, 2, 0x55AA) in writes and (0x602, 2, 0x55AA) in writes


def test_a20_off_wraps_at_one_megabyte():
    cpu = boot_sector("""
movw $0xffff, %ax
movw %ax, %es
movb $0x77, %es:0x10
hlt""")
    cpu.mem.set_a20(False)
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.mem.read(0x0, 1) == b"\x77"
    cpu = boot_sector("movw $0xffff, %ax\nmovw %ax, %es\nmovb $0x77, %es:0x10\nhlt")
    assert cpu.run(max_insns=100) == "hlt"
    assert cpu.mem.read(0x100000, 1) == b"\x77"


def test_on_exception_trace_and_reset():
    cpu = boot_sector("movw $0x1000, 0x80\nmovw $0, 0x82\nint $0x20\nhlt")
    cpu.mem.write(0x1000, b"\xf4")       # handler: hlt
    events, trace = [], []
    cpu.on_exception = lambda v, c, eip, irq: events.append((v, c, eip, irq))
    cpu.trace = lambda c: trace.append(c.eip)
    assert cpu.run(max_insns=100) == "hlt"
    assert trace[:3] == [0x7C00, 0x7C06, 0x7C0C]
    cpu.reset()
    assert (cpu.get_seg(1), cpu.eip, cpu.cr[0]) == (0xF000, 0xFFF0, 0x60000010)
    assert cpu.sbase[1] == 0xFFFF0000


def test_write_watch_reports_the_storing_instruction_and_can_stop_after_it():
    cpu = boot_sector("""
movw $1, 0x5000
nop
nop
movw $2, 0x5000
movw $3, %ax
hlt""")
    seen = []

    def watch(paddr, size, value, eip):
        seen.append((eip, value, cpu.cycles))
        if value == 2:
            cpu.request_stop()
    cpu.mem.add_write_watch(0x5000, 2, watch)
    assert cpu.run(max_insns=100) == "stop"
    assert [(e, v) for e, v, _ in seen] == [(0x7C00, 1), (0x7C08, 2)]
    assert seen[1][2] - seen[0][2] == 3          # "off": one cycle per instruction
    assert cpu.eip == 0x7C0E                     # right after the second store
    assert cpu.run(max_insns=100) == "hlt" and cpu.eax & 0xFFFF == 3


def test_page_walker_updates_are_watched():
    from tests.cpu.test_paging import PT, paged
    cpu = paged("movl 0x150000, %eax")
    seen = []
    cpu.mem.add_write_watch(PT + 4 * 0x150, 4, lambda p, n, v, eip: seen.append((p, v, eip)))
    assert cpu.run(max_insns=1000) == "hlt"
    assert len(seen) == 1 and seen[0][1] & 0x20
    assert cpu.mem.read(seen[0][2], 1) == b"\xa1"      # the eip of `mov 0x150000, %eax`
