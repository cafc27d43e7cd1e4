"""Translations reused across machines and runs (vm/cpu/codecache.py): a
run with reused translations is the same run, code changed at the same
address is translated again, and a broken store costs nothing but time."""

from guest_asm import program
from machine_run import run_vm
from test_guest_devices import PIT_RATE

from vm.cpu.codecache import CodeCache

# timer interrupts and rdtsc stamps: any difference in block boundaries or costs shows
STAMPS = PIT_RATE.replace("jmp poweroff", "mov $0x600, %si\n    mov $40, %cx\n"
                          "3:  lodsb\n    call print_hex8\n    loop 3b\n    jmp poweroff")


def outcome(image, cache):
    out = run_vm(image, timing="tcg", code_cache=cache)
    assert out.reason == "poweroff", out.report
    return out.serial, out.cycles, out.machine.insns()


def test_a_run_from_the_store_matches_a_cold_run_and_compiles_nothing(tmp_path):
    image = program(STAMPS)
    store = tmp_path / "blocks.sqlite"
    cold = outcome(image, CodeCache(None))
    first = CodeCache(store)
    assert outcome(image, first) == cold
    assert first.hits == 0 and first.misses > 0
    first.save()
    warm = CodeCache(store)                # as a new process would open it
    assert outcome(image, warm) == cold
    assert warm.misses == 0 and warm.hits == first.misses


def test_a_warm_run_reads_the_store_a_page_at_a_time(tmp_path):
    store = tmp_path / "blocks.sqlite"
    first = CodeCache(store)
    cold = outcome(program(STAMPS), first)
    first.save()
    warm = CodeCache(store)
    queries = []
    warm._open().set_trace_callback(lambda sql: queries.append(sql) if sql.startswith("SELECT") else None)
    assert outcome(program(STAMPS), warm) == cold
    assert warm.misses == 0 and warm.hits == first.misses
    assert 0 < len(queries) == len(warm._groups) < warm.hits / 4


def test_changed_code_at_the_same_address_is_translated_again():
    cache = CodeCache(None)
    body = "    mov $'{}', %al\n    call putc\n    jmp poweroff\n"
    assert outcome(program(body.format("A")), cache)[0] == b"A"
    misses = cache.misses
    assert outcome(program(body.format("B")), cache)[0] == b"B"
    assert cache.misses > misses           # the block holding the immediate was not reused
    assert cache.hits > 0                  # the unchanged helpers were


def test_a_broken_store_is_ignored(tmp_path):
    import sqlite3
    image = program(STAMPS)
    cold = outcome(image, CodeCache(None))
    store = tmp_path / "blocks.sqlite"
    store.write_bytes(b"not a database" * 100)
    cache = CodeCache(store)
    assert outcome(image, cache) == cold
    cache.save()                            # quietly does nothing
    assert cache.store_path is None
    store.unlink()
    first = CodeCache(store)
    outcome(image, first)
    first.save()
    with sqlite3.connect(store) as db:      # damaged entries: not marshal data, or not a translation
        db.execute("UPDATE blocks SET blob = CASE WHEN rowid % 2 THEN x'00' ELSE x'e90100000000' END")
    damaged = CodeCache(store)
    assert outcome(image, damaged) == cold and damaged.hits == 0


def test_a_forked_child_does_not_write_its_parents_translations(tmp_path):
    import os
    import sqlite3

    def rows():
        with sqlite3.connect(store) as db:
            return db.execute("SELECT count(*) FROM blocks").fetchone()[0]
    store = tmp_path / "blocks.sqlite"
    cache = CodeCache(store)
    outcome(program(STAMPS), cache)        # opens the store (nothing found) and keeps what it made
    pid = os.fork()
    if pid == 0:                           # the child's save must not write through the parent's connection
        cache.save()
        os._exit(0)
    os.waitpid(pid, 0)
    assert rows() == 0
    cache.save()
    assert rows() == len(cache.entries) > 0
