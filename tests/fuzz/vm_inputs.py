"""Issue 20's `python -m vm` campaigns: Multiboot ELFs with every ELF-header
and program-header field drawn from edge values, and random disk images and
ROMs, each run through the command line as a user would. A case passes when
the run ends in a documented status with a `kpy vm:` message (or powers
off / writes isa-debug-exit), never a traceback, and a refused file names
what is wrong with it."""
from __future__ import annotations

import contextlib
import io
import struct
import tempfile

from hypothesis import strategies as st

from tests.fuzz.statuses import VM, record

RUN = ["--max-insns", "300", "--serial", "none", "--timing", "off", "-m", "2"]
MB_MAGIC = 0x1BADB002
U16_EDGES = [0, 1, 2, 3, 32, 52, 0x7FFF, 0xFFFF]
U32_EDGES = [0, 1, 52, 84, 0x1000, 0x100000, 0x1FFFFF, 0x200000, 0x7FFFFFFF, 0x80000000, 0xFFFFF000,
             0xFFFFFFF0, 0xFFFFFFFF]


def vm(argv) -> tuple[int, str]:
    """`python -m vm ARGV` in this process: (exit status, stderr)."""
    from vm.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(list(argv))
        except SystemExit as stop:            # argparse's own errors
            status = stop.code if isinstance(stop.code, int) else 2
    return status, err.getvalue()


def check_run(status: int, err: str, what: str) -> None:
    record(VM, status, f"{what}\n{err}")
    assert "Traceback" not in err, f"{what}\n{err}"
    if status not in (0,) and status % 2 == 0:
        assert "kpy vm:" in err or "error" in err, f"{what}: status {status} without a message\n{err}"


def _pick(edges, bits):
    return st.one_of(st.sampled_from(edges), st.integers(0, (1 << bits) - 1))


SANE = {"ei_class": 1, "ei_data": 1, "ei_version": 1, "e_type": 2, "e_machine": 3, "e_version": 1,
        "e_entry": 0x100080, "e_phoff": 52, "e_shoff": 0, "e_flags": 0, "e_ehsize": 52, "e_phentsize": 32,
        "e_phnum": 1, "p_type": 1, "p_offset": 0, "p_vaddr": 0x100000, "p_paddr": 0x100000,
        "p_filesz": 0x200, "p_memsz": 0x200, "p_flags": 5, "p_align": 0x1000}
WIDTH = {name: 8 if name.startswith("ei_") else 16 if name in ("e_type", "e_machine", "e_ehsize", "e_phentsize",
                                                               "e_phnum") else 32 for name in SANE}


@st.composite
def elf_fields(draw):
    """A loadable Multiboot ELF with up to four of its ELF-header and
    program-header fields set to edge or random values, and the Multiboot
    header's flags, a.out-kludge addresses and first instruction drawn."""
    fields = dict(SANE)
    for name in draw(st.lists(st.sampled_from(sorted(SANE)), max_size=4, unique=True)):
        edges = [0, 1, 2, 0xFF] if WIDTH[name] == 8 else U16_EDGES if WIDTH[name] == 16 else U32_EDGES
        fields[name] = draw(_pick(edges, WIDTH[name]))
    fields["mb_flags"] = draw(st.sampled_from([0, 0, 3, 3, 0x10000, 0x10003, 7, 0xFFFFFFFF]))
    # a.out kludge: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr
    fields["aout"] = draw(st.one_of(st.just([0x100060, 0x100000, 0x100200, 0x100400, 0x100080]),
                                    st.lists(_pick(U32_EDGES, 32), min_size=5, max_size=5)))
    fields["code"] = draw(st.sampled_from([b"\xf4", b"\xeb\xfe", b"\x0f\x0b", b"\xcc", b"\xe6\xf4", b"",
                                           b"\xb0\x01\xe6\xf4"]))
    return fields


def multiboot_elf(f: dict) -> bytes:
    """A 512-byte image: ELF header, one program header, the Multiboot header
    at 0x60 (with a.out-kludge fields) and code at 0x80."""
    image = bytearray(0x200)
    image[:4] = b"\x7fELF"
    image[4:7] = bytes((f["ei_class"], f["ei_data"], f["ei_version"]))
    struct.pack_into("<HHIIIIIHHHHHH", image, 16, f["e_type"], f["e_machine"], f["e_version"], f["e_entry"],
                     f["e_phoff"], f["e_shoff"], f["e_flags"], f["e_ehsize"], f["e_phentsize"], f["e_phnum"],
                     40, 0, 0)
    struct.pack_into("<8I", image, 52, f["p_type"], f["p_offset"], f["p_vaddr"], f["p_paddr"],
                     f["p_filesz"], f["p_memsz"], f["p_flags"], f["p_align"])
    flags = f["mb_flags"]
    struct.pack_into("<3I5I", image, 0x60, MB_MAGIC, flags, -(MB_MAGIC + flags) & 0xFFFFFFFF, *f["aout"])
    image[0x80:0x80 + len(f["code"])] = f["code"]
    return bytes(image)


def check_multiboot_cli(fields: dict) -> None:
    with tempfile.NamedTemporaryFile(suffix=".elf") as f:
        f.write(multiboot_elf(fields))
        f.flush()
        status, err = vm(["--kernel", f.name] + RUN)
    check_run(status, err, f"Multiboot ELF {fields}")
    if status == 1:
        assert "kernel" in err.lower() or "multiboot" in err.lower() or "elf" in err.lower(), err


@st.composite
def disk_or_rom(draw):
    """(is ROM, bytes): boot sectors signed or not, images cut at odd sizes,
    ROMs of 64/128/256 KiB and sizes that are not a multiple of 64 KiB."""
    body = draw(st.binary(max_size=1024))
    if draw(st.booleans()):
        size = draw(st.sampled_from([0x10000, 0x20000, 0x40000, 0x10001, 0xFFFF, 0, 16]))
        fill = draw(st.sampled_from([b"\x00", b"\xff", b"\xf4", b"\x90"]))
        rom = bytearray((fill * size)[:size])
        rom[:len(body)] = body[:size]
        if size >= 0x10000:
            rom[-16:] = draw(st.binary(min_size=16, max_size=16))
        return True, bytes(rom)
    cut = draw(st.sampled_from([None, 0, 1, 511, 512, 513, 4096]))
    image = body[:510].ljust(510, b"\0") + draw(st.sampled_from([b"\x55\xaa", b"\xaa\x55", b"\0\0"])) + body[510:]
    return False, image if cut is None else image[:cut]


def check_image_cli(case) -> None:
    rom, data = case
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        status, err = vm((["--bios", f.name] if rom else [f.name]) + RUN)
    check_run(status, err, f"{'ROM' if rom else 'disk image'} of {len(data)} bytes {data[:32]!r}")


# ---- limits inside reps ---------------------------------------------------------------
@st.composite
def rep_runs(draw):
    """A guest that runs one rep string instruction (any op, size, direction,
    count up to 4 G, addresses anywhere) and then loops, with an instruction
    limit and a timing profile."""
    op = draw(st.sampled_from(["movs", "stos", "cmps", "scas", "lods"]))
    return {"insn": f"{draw(st.sampled_from(['rep', 'repe', 'repne']))} {op}{draw(st.sampled_from('bwl'))}",
            "ecx": draw(_pick([0, 1, 255, 256, 257, 0x10000, 0xFFFFFFFF], 32)),
            "esi": draw(_pick([0, 0xFF0, 0x7C00, 0x100000, 0x1FFFFF, 0xFFFFF000], 32)),
            "edi": draw(_pick([0, 0xFF0, 0xB8000, 0x100000, 0x1FFFFF, 0xFFFFFFFF], 32)),
            "std": draw(st.booleans()), "max_insns": draw(st.integers(1, 30_000)),
            "timing": draw(st.sampled_from(["off", "kvm", "tcg"]))}


def check_rep_limit(case) -> None:
    """--max-insns stops the guest after exactly that many instructions (a
    rep's items count one each), unless the rep overwrote the guest's own
    code and it ended otherwise first; where it stops does not depend on
    the timing profile."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
    from guest_asm import PROTECTED_MODE, program
    from vm.machine import Machine
    source = PROTECTED_MODE + (f"mov ${case['ecx']}, %ecx; mov ${case['esi']}, %esi; mov ${case['edi']}, %edi;"
                               f"{'std' if case['std'] else 'cld'}; {case['insn']}; 1: jmp 1b")
    image = program(source)
    states = []
    for timing in {case["timing"], "off"}:
        m = Machine(ram_size=2 << 20, timing=timing, disk=image, serial=io.BytesIO())
        r = m.run(max_insns=case["max_insns"])
        record(VM, r.exit_code, f"{case}\n{r.report}")
        if r.reason == "insn-limit":
            assert r.insns == case["max_insns"], f"{case}\n{r.report}"
        else:                     # the stores reached the code at 0x7C00: a guest outcome
            assert r.insns < case["max_insns"] and r.reason != "internal-error", f"{case}\n{r.report}"
        states.append((r.reason, r.insns, list(m.cpu.regs), m.cpu.eip))
    assert states[0] == states[-1], f"{case}: the profile changed where the run stopped"
