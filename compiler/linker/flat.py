"""Flat binaries: the loadable bytes from the lowest load address, as objcopy -O binary."""
from __future__ import annotations

from .errors import LinkError
from .objfile import InputSection
from .place import OutputSection

BOOT_SECTOR_CODE = 510


def flat_image(outputs: list[OutputSection]) -> tuple[int, bytes]:
    """(lowest load address, bytes up to the end of the last section with contents)."""
    loaded = [o for o in outputs if o.is_alloc and not o.is_nobits and o.size]
    if not loaded:
        return 0, b""
    base = min(o.lma for o in loaded)
    end = max(o.lma + o.size for o in loaded)
    image = bytearray(end - base)
    for out in loaded:
        image[out.lma - base:out.lma - base + out.size] = out.data
    return base, bytes(image)


def largest_contributors(outputs: list[OutputSection], count: int = 5) -> str:
    items = [(i.size, i.where()) for o in outputs if o.is_alloc and not o.is_nobits
             for i in o.inputs if isinstance(i, InputSection) and i.size]
    items.sort(key=lambda t: -t[0])
    return "\n".join(f"  {size:6d} bytes  {where}" for size, where in items[:count])


def check_size(target: str, outputs: list[OutputSection], size: int, limit: int, what: str) -> None:
    if size > limit:
        sectors = f" ({limit // 512} sectors)" if limit % 512 == 0 else ""
        raise LinkError(f"target {target}: {what} is {size} bytes, {size - limit} bytes over its limit of "
                        f"{limit}{sectors}; largest contributors:\n{largest_contributors(outputs)}")


def boot_sector(target: str, outputs: list[OutputSection], image: bytes) -> bytes:
    """Pad to 510 bytes and add the 55 AA signature."""
    check_size(target, outputs, len(image), BOOT_SECTOR_CODE, "the boot sector code")
    return image + bytes(BOOT_SECTOR_CODE - len(image)) + b"\x55\xaa"
