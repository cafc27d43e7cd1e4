"""A no-change `kpyc build` reads what it knows from the compile cache: the
sources' imports (no `ast` parse) and the objects' section headers (no
pyelftools), and writes the same outputs as the build before."""
import pytest

import compiler.build as build_mod
import compiler.linker.objfile as objfile
from compiler.build import build
from compiler.init import init_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("KPY_CACHE_DIR", str(tmp_path / "cache"))
    init_project(tmp_path / "p", "hello")
    return tmp_path / "p"


def _forbid(*_args, **_kw):
    raise AssertionError("a no-change build decoded something it had cached")


def _outputs(root):
    return {p.name: p.read_bytes() for p in (root / "build").iterdir() if p.is_file()}


def test_nochange_build_parses_no_source_and_no_object(project, monkeypatch):
    build(project)
    first = _outputs(project)
    monkeypatch.setattr(build_mod, "_parse_import_names", _forbid)
    monkeypatch.setattr(objfile, "_section_headers", _forbid)
    build(project)
    assert _outputs(project) == first


def test_changed_import_is_seen(project):
    build(project)
    main = project / "main.kpy"
    # a module the template does not use: its import adds it to the target
    main.write_text("import kpy.cpu\n" + main.read_text())
    result = build(project)
    assert "cpu.kpy" in result.links["kernel"].map_text
