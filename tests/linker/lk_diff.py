"""Test helper: link with ours and with ld.lld, and describe both outputs comparably."""
from __future__ import annotations

import io
import subprocess
from collections import Counter
from pathlib import Path

from elftools.elf.elffile import ELFFile

from compiler.linker import link
from compiler.linker.lldscript import linker_script, lld_arguments

from lk_objects import make_object


def compile_program(program) -> list[tuple[str, bytes]]:
    return [(s.name, make_object(s.ir, s.asm, opt=s.opt)) for s in program.sources]


def lld_link(objects, layout, workdir: Path, binary: bool = False) -> bytes:
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, (name, data) in enumerate(objects):
        path = workdir / f"{index:03d}-{name.replace('/', '_')}.o"
        path.write_bytes(data)
        paths.append(str(path))
    script = workdir / "layout.ld"
    script.write_text(linker_script(layout))
    out = workdir / ("lld.bin" if binary else "lld.elf")
    args = lld_arguments(layout, str(script), str(out), paths)
    if binary:
        args.insert(1, "--oformat=binary")
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError(f"ld.lld failed:\n{res.stderr}\nscript:\n{script.read_text()}")
    return out.read_bytes()


def objcopy_binary(elf_bytes: bytes, workdir: Path) -> bytes:
    """objcopy -O binary of an ELF: loadable bytes placed by load address (LMA).
    (ld.lld --oformat binary places sections by VMA when AT() differs, so the
    flat comparison goes through objcopy of ld.lld's ELF.)"""
    workdir.mkdir(parents=True, exist_ok=True)
    src, dst = workdir / "in.elf", workdir / "out.bin"
    src.write_bytes(elf_bytes)
    subprocess.run(["objcopy", "-O", "binary", str(src), str(dst)], check=True, capture_output=True)
    return dst.read_bytes()


def _lma(elf: ELFFile, addr: int) -> int:
    for seg in elf.iter_segments():
        if seg["p_type"] == "PT_LOAD" and seg["p_vaddr"] <= addr < seg["p_vaddr"] + max(seg["p_memsz"], 1):
            return seg["p_paddr"] + addr - seg["p_vaddr"]
    return addr


def loadable_sections(elf_bytes: bytes) -> dict:
    """name -> (vma, lma, size, nobits, contents) for every allocated non-empty section."""
    elf = ELFFile(io.BytesIO(elf_bytes))
    out = {}
    for sec in elf.iter_sections():
        if sec["sh_flags"] & 2 and sec["sh_size"]:
            nobits = sec["sh_type"] == "SHT_NOBITS"
            out[sec.name] = (hex(sec["sh_addr"]), hex(_lma(elf, sec["sh_addr"])), sec["sh_size"], nobits,
                             None if nobits else sec.data())
    return out


def debug_sections(elf_bytes: bytes) -> dict:
    elf = ELFFile(io.BytesIO(elf_bytes))
    return {s.name: s.data() for s in elf.iter_sections() if s.name.startswith(".debug_")}


def symbol_values(elf_bytes: bytes) -> tuple[dict, Counter]:
    """(global name -> (value, size, type, binding), Counter of (local name, value, size, type))."""
    elf = ELFFile(io.BytesIO(elf_bytes))
    globals_, locals_ = {}, Counter()
    for sym in elf.get_section_by_name(".symtab").iter_symbols():
        if not sym.name or sym["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
            continue
        if sym["st_shndx"] == "SHN_UNDEF":
            continue
        if sym["st_info"]["bind"] == "STB_LOCAL":
            locals_[(sym.name, sym["st_value"], sym["st_size"], sym["st_info"]["type"])] += 1
        else:
            globals_[sym.name] = (sym["st_value"], sym["st_size"], sym["st_info"]["type"], sym["st_info"]["bind"])
    return globals_, locals_


def entry_of(elf_bytes: bytes) -> int:
    return ELFFile(io.BytesIO(elf_bytes)).header["e_entry"]


def assert_links_like_lld(objects, layout, workdir: Path):
    """Link `objects` with ours and with ld.lld; the outputs must agree in
    loadable bytes, symbols, entry and DWARF.  Returns (ours, lld's ELF)."""
    ours = link(objects, layout)
    theirs = lld_link(objects, layout, workdir)
    assert loadable_sections(ours.elf) == loadable_sections(theirs)
    our_globals, our_locals = symbol_values(ours.elf)
    lld_globals, lld_locals = symbol_values(theirs)
    assert our_globals == lld_globals
    assert our_locals == lld_locals
    assert entry_of(ours.elf) == entry_of(theirs)
    assert debug_sections(ours.elf) == debug_sections(theirs)
    return ours, theirs
