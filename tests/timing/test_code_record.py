"""The executed-code record the `tcg` write penalty reads: executed bytes
and translated-block starts per physical page, forgotten when overwritten."""
from vm.memory import PhysicalMemory


def test_blocks_and_bytes_are_counted_per_page_and_forgotten_when_overwritten():
    mem = PhysicalMemory(1 << 20)
    mem.mark_code(0x5000, 10)          # a block of 10 bytes
    mem.mark_code(0x5004, 6)           # a block starting inside it (a jump target)
    mem.mark_code(0x5FFC, 8)           # a block crossing into the next page
    assert (mem.executed_bytes(5), mem.executed_blocks(5)) == (14, 3)
    assert (mem.executed_bytes(6), mem.executed_blocks(6)) == (4, 1)
    mem.mark_code(0x5000, 10)          # translated again: nothing new
    assert (mem.executed_bytes(5), mem.executed_blocks(5)) == (14, 3)
    mem.write_phys(0x5004, 1, 0x90)
    assert (mem.executed_bytes(5), mem.executed_blocks(5)) == (13, 2)
    mem.write(0x5000, bytes(16))       # host writes forget code too
    assert (mem.executed_bytes(5), mem.executed_blocks(5)) == (4, 1)
