"""QEMU's monitor commands, as gdb's `monitor ...` reaches them on the VM's
stub: `info registers`, `info mem`, `info tlb`, `xp/FMT ADDR`, `info pic`,
in QEMU's names and output formats, so what a QEMU user types works.
Everything is read without side effects (no A/D bits, no device reads)."""

SEG_ROWS = (("ES ", 0), ("CS ", 1), ("SS ", 2), ("DS ", 3), ("FS ", 4), ("GS ", 5))
EFLAGS_NAMED = (("D", 0x400), ("O", 0x800), ("S", 0x80), ("Z", 0x40), ("A", 0x10), ("P", 4), ("C", 1))  # QEMU's [DOSZAPC]


def info_registers(cpu) -> str:
    r = lambda name: getattr(cpu, name) & 0xFFFFFFFF         # noqa: E731
    efl = cpu.get_eflags()
    named = "".join(c if efl & m else "-" for c, m in EFLAGS_NAMED)
    lines = [f"EAX={r('eax'):08x} EBX={r('ebx'):08x} ECX={r('ecx'):08x} EDX={r('edx'):08x}",
             f"ESI={r('esi'):08x} EDI={r('edi'):08x} EBP={r('ebp'):08x} ESP={r('esp'):08x}",
             f"EIP={cpu.eip:08x} EFL={efl:08x} [{named}] CPL={cpu.cpl} II=0 A20={int(cpu.mem.a20_mask == 0xFFFFFFFF)}"
             f" SMM=0 HLT={int(bool(cpu.halted))}"]
    for name, i in SEG_ROWS:
        lines.append(f"{name}={cpu.seg[i]:04x} {cpu.sbase[i]:08x} {cpu.slimit[i] & 0xFFFFFFFF:08x} "
                     f"{(cpu.sattr[i] << 8) & 0xFFFFFF:08x}")
    lines.append(f"LDT={cpu.ldtr_sel:04x} {cpu.ldtr_base:08x} {cpu.ldtr_limit:08x} 00008200")
    lines.append(f"TR ={cpu.tr_sel:04x} {cpu.tr_base:08x} {cpu.tr_limit:08x} {(cpu.tr_attr << 8) | 0x8000:08x}")
    lines.append(f"GDT=     {cpu.gdtr[0]:08x} {cpu.gdtr[1]:08x}")
    lines.append(f"IDT=     {cpu.idtr[0]:08x} {cpu.idtr[1]:08x}")
    lines.append(f"CR0={cpu.cr[0]:08x} CR2={cpu.cr[2]:08x} CR3={cpu.cr[3]:08x} CR4={cpu.cr[4]:08x}")
    return "\n".join(lines) + "\n"


def mappings(cpu):
    """(linear, physical, size, pde|pte flags) of each present page of the
    current CR3, in address order (4 MiB pages as one mapping)."""
    if not cpu.cr[0] & 0x80000000:
        return
    read = cpu.mem.read_phys
    pd = cpu.cr[3] & 0xFFFFF000
    for i in range(1024):
        pde = read(pd + 4 * i, 4)
        if not pde & 1:
            continue
        if pde & 0x80 and cpu.cr[4] & 0x10:
            yield i << 22, pde & 0xFFC00000, 1 << 22, pde & 0xFFF
            continue
        pt = pde & 0xFFFFF000
        for j in range(1024):
            pte = read(pt + 4 * j, 4)
            if pte & 1:
                yield (i << 22) | (j << 12), pte & 0xFFFFF000, 1 << 12, pte & pde & 0x7 | pte & 0xFF8


def _flags(bits: int) -> str:
    """QEMU's `info tlb` flag letters (NX, G, PS, D, A, PCD, PWT, U, W; no NX without PAE)."""
    return "-" + "".join(c if bits & m else "-" for c, m in
                         (("G", 0x100), ("P", 0x80), ("D", 0x40), ("A", 0x20), ("C", 0x10), ("T", 8),
                          ("U", 4), ("W", 2)))


def info_tlb(cpu) -> str:
    if not cpu.cr[0] & 0x80000000:
        return "PG disabled\n"
    return "".join(f"{lin:08x}: {phys:08x} {_flags(bits)}\n" for lin, phys, _, bits in mappings(cpu))


def info_mem(cpu) -> str:
    """Contiguous linear ranges with the same user/write protection (QEMU's format)."""
    if not cpu.cr[0] & 0x80000000:
        return "PG disabled\n"
    out, run = [], None
    for lin, _phys, size, bits in mappings(cpu):
        prot = bits & 6
        if run and run[1] == lin and run[2] == prot:
            run[1] = lin + size
            continue
        if run:
            out.append(run)
        run = [lin, lin + size, prot]
    if run:
        out.append(run)
    return "".join(f"{a:08x}-{b:08x} {b - a:08x} {'u' if p & 4 else '-'}r{'w' if p & 2 else '-'}\n"
                   for a, b, p in out)


def xp(memory, command: str) -> str:
    """`xp/FMT ADDR`: physical memory as QEMU prints it (count, x/d/u/c, b/h/w/g)."""
    spec, _, where = command[2:].partition(" ")
    fmt = spec.lstrip("/")
    digits = "".join(ch for ch in fmt if ch.isdigit())
    count = int(digits) if digits else 1
    size = {"b": 1, "h": 2, "w": 4, "g": 8}.get(next((c for c in fmt if c in "bhwg"), "w"))
    kind = next((c for c in fmt if c in "xduc"), "x")
    addr = int(where.strip(), 0)
    per_line = {1: 8, 2: 8, 4: 4, 8: 2}[size]
    lines = []
    for n in range(count):
        a = addr + n * size
        value = int.from_bytes(memory.read(a, size), "little")
        text = {"x": f"0x{value:0{2 * size}x}", "d": str(value - (value >> (8 * size - 1) << (8 * size))),
                "u": str(value), "c": repr(chr(value & 0xFF))}[kind]
        if n % per_line == 0:
            lines.append(f"{a:016x}:")
        lines[-1] += " " + text
    return "\n".join(lines) + "\n"


def info_pic(pic) -> str:
    """The two 8259s as QEMU's `info pic` lists them."""
    return "".join(f"pic{n}: irr={c.irr:02x} imr={c.imr:02x} isr={c.isr:02x} hprio={c.priority_add} "
                   f"irq_base={c.vector_base:02x} rr_sel={int(c.read_isr)} elcr=00 fnm={int(c.special_mask)}\n"
                   for n, c in enumerate((pic.master, pic.slave)))


def run(machine, command: str):
    """Text for a QEMU monitor command, or None when it is not one of these."""
    cpu = machine.cpu
    if command == "info registers":
        return info_registers(cpu)
    if command == "info tlb":
        return info_tlb(cpu)
    if command == "info mem":
        return info_mem(cpu)
    if command == "info pic":
        return info_pic(machine.pic)
    if command.startswith("xp/") or command.startswith("xp "):
        try:
            return xp(machine.memory, command)
        except (ValueError, KeyError):
            return "usage: xp/FMT ADDR (FMT: count, x/d/u/c, b/h/w/g)\n"
    return None
