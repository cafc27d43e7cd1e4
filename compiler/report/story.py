"""A short "what this shows" per experiment, written from the measured
numbers: `vm` and `kvm` are the VM's figures (row id -> value) under the
two profiles, `qemu` the median QEMU TCG figures (empty without QEMU),
`texts` the serial output of each target for the fits."""
from __future__ import annotations

from compiler.report.figures import hlt_series, per_executed_byte


def _n(v, fmt="{:,.0f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _x(a, b) -> str:
    return "n/a" if a is None or not b else f"{a / b:,.0f}x"


def stack(vm, kvm, qemu, texts) -> str:
    return (f"A store loop on the boot stack (page 0xC0007000, where the boot code ran) costs "
            f"{_n(vm['stack_boot'])} cycles/op on the VM under tcg against {_n(vm['stack_other'])} on another "
            f"stack ({_x(vm['stack_boot'], vm['stack_other'])}); the seed saw 3060 against 8. Under kvm the two "
            f"are {_n(kvm['stack_boot'])} and {_n(kvm['stack_other'])}: the cost is the emulator's, not the page's."
            + (f" QEMU TCG today: {_n(qemu.get('stack_boot'))} against {_n(qemu.get('stack_other'))}." if qemu else ""))


def rdtsc(vm, kvm, qemu, texts) -> str:
    return (f"Back-to-back rdtsc with a stack temporary on the boot stack reads {_n(vm['rdtsc_stack_boot'])} cycles "
            f"(other stack {_n(vm['rdtsc_stack_other'])}); with both readings in registers "
            f"{_n(vm['rdtsc'])} (seed: 10963, 190 and 19). The slow reading is the store to the stack temporary, "
            f"not rdtsc itself.")


def scan(vm, kvm, qemu, texts) -> str:
    return (f"The scan finds {_n(vm['scan_slow'])} pages at or above 500 cycles/store on the VM under tcg "
            f"(seed: 15; kvm: {_n(kvm['scan_slow'])}"
            + (f"; QEMU TCG: {_n(qemu.get('scan_slow'))}" if qemu else "") +
            f"). The slow ones are the boot code's pages (0x7000 at {_n(vm['scan_7000'])}, 0x8000 at "
            f"{_n(vm['scan_8000'])}) and the kernel's own text, both through the direct map and at 0xFE000000: "
            f"pages that hold executed code.")


def subpage(vm, kvm, qemu, texts) -> str:
    return (f"Every 512 bytes over 0xC0006000-0xC0009000: {_n(vm['subpage_6000'])} cycles/store below 0x7000, "
            f"{_n(vm['stack_page'])} from 0x7000, {_n(vm['stage2_page'])} from 0x8000 (seed: ~12, ~1550, ~4100). "
            f"The step is at the page boundary: the cost belongs to the page, not to the bytes near the code.")


def rw(vm, kvm, qemu, texts) -> str:
    return (f"Reads cost {_n(vm['read_only'])} cycles/op on an ordinary page and {_n(vm['rw_read_7000'])} on "
            f"the boot stack's page; writes cost {_n(vm['write_ordinary'])} and {_n(vm['stack_page'])}. Only "
            f"writes pay (the seed: reads 5, never outliers). VGA text memory costs {_n(vm['vga'])} a write "
            f"(seed ~300-400): an MMIO exit, not code.")


def sweep(vm, kvm, qemu, texts) -> str:
    slope_vm = per_executed_byte(texts.get("VM tcg", ""))
    slope_q = per_executed_byte(texts.get("QEMU TCG", "")) if "QEMU TCG" in texts else None
    seed_slope = (70473 - 2395) / (4095 - 127)
    return (f"A store to a page holding executed `ret` bytes costs in proportion to how many were executed: "
            f"the fitted slope is {_n(slope_vm, '{:.1f}')} cycles per executed byte on the VM under tcg"
            + (f", {_n(slope_q, '{:.1f}')} on QEMU TCG here" if slope_q is not None else "") +
            f" (seed {seed_slope:.1f}). Overwriting them brings it back down to "
            f"{_n(vm['cleared_4095'])} once all are gone. Under kvm the line is flat at "
            f"{_n(kvm['executed_4095'])} (seed: 2): QEMU's TCG tracks translated code per page, hardware does not.")


def hlt(vm, kvm, qemu, texts) -> str:
    runs = hlt_series(texts.get("VM tcg", ""))
    return (f"isqrt(314159265) takes {_n(vm['isqrt_warm'])} cycles warm and {_n(vm['isqrt_cold'])} on the first "
            f"run after a hlt under tcg (seed ~190k and ~206-258k), {_n(kvm['isqrt_warm'])} and "
            f"{_n(kvm['isqrt_cold'])} under kvm (seed ~30k, ~54-70k): {len(runs)} runs, cold after every hlt.")


def hhdm(vm, kvm, qemu, texts, watch=()) -> str:
    walks = [e for e in watch if e["walker"]]
    text = (f"The byte at physical 0x2008 reads {_n(vm['hhdm_before'], '0x{:02x}')} before the memcmp and "
            f"{_n(vm['hhdm_after'], '0x{:02x}')} after it (seed: 0x03, then 0x23). 0x2008 is the page-table "
            f"entry that maps linear 0x2000; ")
    if walks:
        last = walks[-1]
        text += (f"the watch shows the page walker writing {last['after']:#010x} over {last['before']:#010x} "
                 f"at cycle {last['cycle']:,} while `{last['insn'].split()[-1]}` at {last['eip']:#x} "
                 f"(in {last.get('function', '?')}) touched "
                 f"0x2000: the Accessed bit (0x20), set by the CPU under the reader's feet.")
    else:
        text += "no page-walk write was seen in this run."
    return text


def funmemset(vm, kvm, qemu, texts, gdt=None) -> str:
    gdt = gdt or {}
    return (f"Clearing GDT descriptor {gdt.get('selector', 8):#x} changes nothing until a segment register is "
            f"reloaded: the timer's `{(gdt.get('insn') or '??').split()[-1]}` at {gdt.get('eip') or 0:#x} "
            f"(in {gdt.get('function', '?')}) loads "
            f"CS from the zeroed entry ({gdt.get('entry', '??')}) and takes #GP with error code "
            f"{_n(vm['funmemset_error'], '0x{:x}')} (the selector; seed: 0x8).")


WRITERS = {"stack": stack, "rdtsc": rdtsc, "scan": scan, "subpage": subpage, "rw": rw, "sweep": sweep,
           "hlt": hlt, "hhdm": hhdm, "funmemset": funmemset}
