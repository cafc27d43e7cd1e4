"""The kpy linker: ELF32 i386 relocatable objects in, executables and flat binaries out.

Data flow (one module each): objfile (read) -> resolve (symbols) ->
place (sections, addresses) -> gc (optional) -> relocate -> elfwriter /
flat / mapfile. ``layout`` holds the build description's link part;
``lldscript`` writes the same layout as an ld.lld linker script.
"""
from .errors import LinkError
from .layout import OutputSectionSpec, TargetLayout, flat_layout
from .link import LinkResult, link, link_objects

__all__ = ["LinkError", "LinkResult", "OutputSectionSpec", "TargetLayout", "flat_layout", "link", "link_objects"]
