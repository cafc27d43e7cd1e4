"""One build resolves each path and looks for each module file once
(compiler/sourceroots.py `one_build`), and nothing of it outlives the build:
a module added between two builds of one process is found by the second."""
from pathlib import Path

import pytest

from compiler.build import BuildError, build
from compiler.init import init_project
from compiler.sourceroots import is_file, one_build


def test_inside_one_build_a_lookup_is_remembered(tmp_path):
    later = tmp_path / "later.kpy"
    with one_build():
        assert not is_file(later)
        later.write_text("")
        assert not is_file(later)       # the build's view: fixed when first looked at
    assert is_file(later)               # outside a build: the file system itself


def test_a_module_added_between_builds_is_compiled_in(tmp_path):
    """The first build looks for extra.kpy and does not find it; the second must."""
    project = tmp_path / "p"
    init_project(project)
    main = project / "main.kpy"
    main.write_text("from extra import greet\n" + main.read_text().replace(
        "    acpi_shutdown()", "    greet()\n    acpi_shutdown()"))
    with pytest.raises(BuildError, match="extra"):
        build(project)
    (project / "extra.kpy").write_text(
        "from kpy.printf import printf\n\n\ndef greet() -> None:\n    printf(\"added later\\n\")\n")
    res = build(project)
    kernel_map = Path(res.kernel_elf).with_suffix(".map").read_text()
    assert "extra.kpy" in kernel_map and "greet" in kernel_map
