"""The seed's memory layout, checked in the build outputs and in the
machine's memory after a boot: MBR and stage 2 sizes, the kernel linked
at 0xFE000000 and loaded at 0x400000 with `_entry` first, writable data
off the code pages, and the page tables stage 2 leaves behind."""
import struct

from elftools.elf.elffile import ELFFile

PAGE = 4096
PRESENT, WRITE, HUGE = 0x01, 0x02, 0x80
FLAG_MASK = 0x9F        # ignore the Accessed/Dirty bits the page walker sets


def test_boot_sector_and_stage2_fit_their_sectors(kernel_build):
    out = kernel_build(2).out_dir
    mbr = (out / "boot.bin").read_bytes()
    assert len(mbr) == 512 and mbr[510:] == b"\x55\xaa"
    assert len((out / "stage2.bin").read_bytes()) <= 63 * 512


def test_kernel_runs_at_0xfe000000_loaded_at_0x400000_entry_first(kernel_build):
    build = kernel_build(2)
    with open(build.elf, "rb") as fh:
        elf = ELFFile(fh)
        assert elf["e_entry"] == build.symbol("_entry") == 0xFE000000
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        first = min(loads, key=lambda s: s["p_vaddr"])
        assert (first["p_vaddr"], first["p_paddr"]) == (0xFE000000, 0x400000)
        text = elf.get_section_by_name(".text")
        text_end = text["sh_addr"] + text["sh_size"]
        for name in (".data", ".bss"):
            section = elf.get_section_by_name(name)
            if section is not None and section["sh_size"]:
                assert section["sh_addr"] % PAGE == 0
                assert section["sh_addr"] >= (text_end + PAGE - 1) // PAGE * PAGE


def test_boot_info_sector_describes_the_kernel(kernel_build):
    build = kernel_build(2)
    image = build.image
    magic, sectors, load, entry, mem_size = struct.unpack_from("<4sIIII", image, 64 * 512)
    assert (magic, load, entry) == (b"KPYB", 0x400000, 0xFE000000)
    assert sectors * 512 >= len(image) - 65 * 512 > (sectors - 1) * 512
    assert load + mem_size == build.symbol("kernel_phys_end")


def test_page_tables_are_the_seeds(kernel_build, vm):
    """Page directory at 0x1000: the identity-mapped first MiB through the
    page table at 0x2000 (4 KiB pages; page 0 unmapped by the kernel), the first GiB at 0xC0000000 and the
    kernel at 0xFE000000 (4 MiB pages); and the kernel's own: the thread-stack arena at 0x80000000
    through a 4 KiB page table (PDE 512)."""
    machines = []
    result, out = vm(kernel_build(2).image_with("exp=printf"), machine_out=machines)
    assert result.reason == "poweroff"
    memory = machines[0].memory
    pd = struct.unpack("<1024I", memory.read(0x1000, PAGE))
    pt = struct.unpack("<1024I", memory.read(0x2000, PAGE))
    assert pd[0] & ~0xFFF == 0x2000 and pd[0] & FLAG_MASK == PRESENT | WRITE
    assert pt[0] == 0                       # the kernel unmapped page 0: null pointers fault
    assert all(pt[i] & ~0xFFF == i * PAGE and pt[i] & FLAG_MASK == PRESENT | WRITE for i in range(1, 256))
    assert not any(pt[256:])
    assert not any(pd[1:512]) and not any(pd[513:768])
    assert pd[512] & FLAG_MASK == PRESENT | WRITE           # the arena's page table (tests/kernel/test_threads.py)
    for i in range(768, 1016):
        assert pd[i] & ~0x3FFFFF == (i - 768) << 22 and pd[i] & FLAG_MASK == PRESENT | WRITE | HUGE
    assert pd[1016] & ~0x3FFFFF == 0x400000 and pd[1016] & FLAG_MASK == PRESENT | WRITE | HUGE


def test_gdt_tss_idt_and_pic_as_the_kernel_left_them(kernel_build, vm):
    """After a boot: the GDT (0x08 and 0x18 flat ring-0 code, 0x10 flat
    data, 0x20 the main TSS, loaded in TR, 0x28 the #DF task's TSS), the
    IDT (vectors 0-31 on exception_N, 32 on the timer, interrupt gates
    entering on 0x18; vector 8 a task gate to 0x28) and the PICs remapped
    to 32 and 40 with only IRQ 0 (and the cascade) open."""
    build = kernel_build(2)
    machines = []
    result, out = vm(build.image_with("exp=printf"), machine_out=machines)
    assert result.reason == "poweroff", result.report + out
    cpu, memory = machines[0].cpu, machines[0].memory

    def kernel_bytes(virt, n):
        return memory.read(virt - 0xFE000000 + 0x400000, n)
    gdt_base, gdt_limit = cpu.gdtr
    assert (gdt_base, gdt_limit) == (build.symbol("gdt"), 6 * 8 - 1)
    gdt = struct.unpack("<6Q", kernel_bytes(gdt_base, 48))
    accessed = 1 << 40                              # set by the CPU when a segment is loaded
    gdt = [d & ~accessed for d in gdt[:4]] + list(gdt[4:])
    assert gdt[0] == 0
    assert gdt[1] == gdt[3] == 0x00CF9A000000FFFF
    assert gdt[2] == 0x00CF92000000FFFF
    assert (cpu.tr_sel, cpu.tr_base, cpu.tr_limit) == (0x20, build.symbol("tss"), 103)
    assert (gdt[4] >> 40) & 0xFF == 0x8B            # present 32-bit TSS, busy after ltr
    df_tss = build.symbol("df_tss")
    assert gdt[5] == ((df_tss & 0xFFFFFF) << 16 | (df_tss >> 24) << 56 | 0x89 << 40 | 103)    # available
    df = struct.unpack("<26I", kernel_bytes(df_tss, 104))
    assert (df[7], df[8], df[9]) == (0x1000, build.symbol("double_fault_entry"), 0x2)    # CR3, EIP, EFLAGS
    assert df[14] == build.symbol("df_stack") + 8192 and df[18:24] == (0x10, 0x18, 0x10, 0x10, 0x10, 0x10)
    idt_base, idt_limit = cpu.idtr
    assert (idt_base, idt_limit) == (build.symbol("idt"), 256 * 8 - 1)
    gates = [struct.unpack("<HHBBH", kernel_bytes(idt_base + 8 * v, 8)) for v in range(33)]
    handlers = [f"exception_{v}" for v in range(32)] + ["irq_timer"]
    assert gates[8] == (0, 0x28, 0, 0x85, 0)        # a task gate: the #DF task
    for vector, (low, selector, zero, kind, high) in enumerate(gates):
        if vector == 8:
            continue
        assert (selector, zero, kind) == (0x18, 0, 0x8E), vector
        assert high << 16 | low == build.symbol(handlers[vector]), vector
    pic = machines[0].pic
    assert (pic.master.vector_base, pic.slave.vector_base) == (32, 40)
    assert pic.master.imr & 0x01 == 0 and pic.slave.imr == 0xFF
