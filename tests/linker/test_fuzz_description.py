"""Any build description, however wrong, gives a BuildError naming the problem, never a traceback."""
from pathlib import Path

from hypothesis import given, settings, strategies as st

from compiler.build import BuildError, parse_description

scalars = st.one_of(st.integers(-5, 0x1_0000_0000), st.booleans(), st.text(max_size=8),
                    st.sampled_from([".text", "elf", "flat", "bootsector", "end(.text)", "kernel", "boot"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                      max_leaves=8)
KEYS = ["format", "modules", "sources", "objects", "entry", "vma", "lma", "gc_sections", "merge_sections",
        "keep_symbols", "max_size", "sections", "symbols", "follow_imports"]
SECTION_KEYS = ["name", "inputs", "vma", "lma", "align", "keep", "start_symbol", "end_symbol", "type"]
sections = st.lists(st.dictionaries(st.sampled_from(SECTION_KEYS), values, max_size=6), max_size=3)
targets = st.dictionaries(st.sampled_from(["boot", "stage2", "kernel"]),
                          st.one_of(values, st.dictionaries(st.sampled_from(KEYS),
                                                            st.one_of(values, sections), max_size=8)),
                          max_size=3)
tables = st.fixed_dictionaries({}, optional={
    "build": values, "image": st.one_of(values, st.dictionaries(st.sampled_from(["mbr", "stage2", "kernel"]),
                                                                 scalars)),
    "targets": st.one_of(values, targets)})


@settings(max_examples=200)
@given(tables)
def test_random_descriptions(table):
    try:
        parse_description(Path("/nonexistent"), Path("build.toml"), table)
    except BuildError as exc:
        assert str(exc)
