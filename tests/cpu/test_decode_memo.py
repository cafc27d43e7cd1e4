"""The decoded-instruction memo (core.py `CPU.decoded`): a hot trace and the
cold blocks before it share their decoded instructions, and one is reused
only while memory still holds its bytes; a hot trace that comes out the
same as its cold block shares its compiled code."""
from tests.cpu.asm import assemble
from vm.flat import FlatMachine

# f runs as cold blocks, then as part of a hot trace; then the guest rewrites
# f's first instruction (5 bytes) as three shorter ones at the same address
PATCHED = """
xorl %edx, %edx
movl $4, %ecx
1: call f
addl %eax, %edx
loop 1b
movl $0x09b0c031, f
movb $0x90, f+4
call f
addl %eax, %edx
movl %edx, %eax
ret
f: movl $7, %eax
ret
"""


def test_code_rewritten_at_a_decoded_address_is_decoded_again():
    fm = FlatMachine.from_code(assemble(PATCHED, base=0x100000))
    assert fm.call("start") == 4 * 7 + 9
    assert fm.call("start") == 4 * 9 + 9      # the patched f from the start


def test_each_instruction_is_decoded_once_while_its_bytes_stay():
    from vm.cpu import decoder
    decoded = []
    original = decoder.Decoder.decode

    def counting(self, eip, code32):
        decoded.append(eip)
        return original(self, eip, code32)
    decoder.Decoder.decode = counting
    try:
        fm = FlatMachine.from_code(assemble("movl $3, %ecx\n1: decl %ecx\njnz 1b\nincl %eax\nret", base=0x100000))
        fm.call("start")
    finally:
        decoder.Decoder.decode = original
    # cold blocks at the loop head, then its hot loop: all from the memo after the first decode
    assert len(decoded) == len(set(decoded))


# f is reached by an indirect call, so it is a block of its own, and its
# `ret` ends both its cold block and its hot trace: the two come out the same
SAME_TRACE = """
xorl %edx, %edx
movl $5, %ecx
movl $f, %esi
1: call *%esi
addl %eax, %edx
loop 1b
movl %edx, %eax
ret
f: movl $7, %eax
ret
"""


def test_a_trace_like_its_cold_block_reuses_its_compiled_code(monkeypatch):
    from vm.cpu import core
    fm = FlatMachine.from_code(assemble(SAME_TRACE, base=0x100000))
    compiled = []
    monkeypatch.setattr(core, "compile", lambda *a: compiled.append(a[1]) or compile(*a), raising=False)
    assert fm.call("start") == 5 * 7
    cpu = fm.cpu
    f = next(fn for fn in cpu.blocks.values() if fn.block.source.lstrip().startswith("def") and
             "mov eax, 0x7" in fn.block.source.splitlines()[4])
    cold = cpu.cold_blocks[f.block.key]
    assert f.__code__ is cold.__code__ and f is not cold
    # a trace shares its cold block's code exactly when their sources are the same
    for key, hot in cpu.blocks.items():
        cold = cpu.cold_blocks[key]
        assert (hot.__code__ is cold.__code__) == (hot.block.source == cold.block.source)
    codes = {fn.__code__ for cache in (cpu.cold_blocks, cpu.blocks) for fn in cache.values()}
    assert len(compiled) == len(codes) < len(cpu.cold_blocks) + len(cpu.blocks)


def test_remembered_block_ends_give_the_same_translations():
    """translate._ends_block remembers its answer by bytes and mode: traces
    made with the memo full come out as with it empty."""
    from vm.cpu import translate

    def sources():
        fm = FlatMachine.from_code(assemble(PATCHED, base=0x100000))
        fm.call("start")
        return sorted(fn.block.source for cache in (fm.cpu.cold_blocks, fm.cpu.blocks) for fn in cache.values())
    translate._ENDS.clear()
    first = sources()
    assert translate._ENDS
    assert sources() == first
