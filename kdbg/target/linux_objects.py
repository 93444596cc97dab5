"""The objects a Linux kernel program has beyond its globals, as drgn's ``linux`` object
finder gives them: ``prog["PAGE_SIZE"]``, ``PAGE_SHIFT``, ``PAGE_MASK``, ``THREAD_SIZE``,
``UTS_RELEASE``, ``VMCOREINFO`` and ``vmemmap``.

They are macros or linker-script values in the kernel, so no BTF VAR or kallsyms symbol
names them; drgn scripts use them all the same (``prog["THREAD_SIZE"]`` to find a stack,
``prog["vmemmap"]`` for the memory map). Each is a value of drgn's type, computed from what
the target carries:

- ``PAGE_SIZE`` (``unsigned long``), ``PAGE_SHIFT`` (``int``), ``PAGE_MASK``: the memory
  source's page size (VMCOREINFO's ``PAGESIZE``);
- ``THREAD_SIZE`` (``unsigned long``): the size of ``union thread_union``'s ``stack`` in
  BTF, else the distance between the linker's ``__start_init_stack`` and
  ``__end_init_stack`` (``__start_init_task``/``__end_init_task`` before 6.10);
- ``UTS_RELEASE`` (``const char [N]``, NUL included): VMCOREINFO's ``OSRELEASE``;
  ``VMCOREINFO`` (``const char [N]``): the note's raw text;
- ``vmemmap`` (``struct page *``): the base of the memory map, as the memory source found it.

:func:`attach` registers the finder as ``linux``, drgn's name, after BTF's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Optional

from kdbg.btf.kinds import Qualifiers
from kdbg.core.finders import FindObjectFlags
from kdbg.core.object import Object
from kdbg.errors import KdbgError, TypeNotFoundError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["attach", "linux_object_finder", "LINUX_OBJECTS"]


def _page_size(prog: Program) -> Optional[int]:
    mem = prog.memory
    return mem.page_size if mem is not None else None


def _ulong(prog: Program, value: Optional[int]) -> Optional[Object]:
    return None if value is None else Object(prog, "unsigned long", value)


def _thread_size(prog: Program) -> Optional[int]:
    try:
        union = prog.type("union thread_union")
    except TypeNotFoundError:
        union = None
    if union is not None and union.has_member("stack"):
        return union.member("stack").type.sizeof()
    table = prog.symbol_table
    for start, end in (("__start_init_stack", "__end_init_stack"), ("__start_init_task", "__end_init_task")):
        a, b = table.get(start), table.get(end)
        if a is not None and b is not None:
            return b.address - a.address
    return None


def _chars(prog: Program, text: Optional[bytes]) -> Optional[Object]:
    """``text`` as a ``const char [len(text)]`` value."""
    if text is None:
        return None
    char = prog.primitive_type("char")
    return Object(prog, prog.array_type(char.qualified(Qualifiers.CONST), len(text)), list(text))


def _vmcoreinfo(prog: Program) -> Optional[bytes]:
    info = prog.vmcoreinfo
    return info.raw if info is not None and info.raw else None


def _uts_release(prog: Program) -> Optional[bytes]:
    info = prog.vmcoreinfo
    release = info.get("OSRELEASE") if info is not None else None
    return release.encode() + b"\0" if release else None


def _vmemmap(prog: Program) -> Optional[Object]:
    base = prog.memory.vmemmap_base if prog.memory is not None else None
    if base is None:
        return None
    return Object(prog, prog.pointer_type(prog.type("struct page")), base)


def _page_shift(prog: Program) -> Optional[Object]:
    size = _page_size(prog)
    return None if size is None else Object(prog, "int", size.bit_length() - 1)


def _page_mask(prog: Program) -> Optional[Object]:
    size = _page_size(prog)
    return None if size is None else Object(prog, "unsigned long", ~(size - 1) & ((1 << 64) - 1))


#: Each name drgn's finder answers, and how kdbg makes its value (``None``: the target
#: does not have it, e.g. no memory).
LINUX_OBJECTS: Dict[str, Callable[[Program], Optional[Object]]] = {
    "PAGE_SIZE": lambda prog: _ulong(prog, _page_size(prog)),
    "PAGE_SHIFT": _page_shift,
    "PAGE_MASK": _page_mask,
    "THREAD_SIZE": lambda prog: _ulong(prog, _thread_size(prog)),
    "UTS_RELEASE": lambda prog: _chars(prog, _uts_release(prog)),  # NUL-terminated, as C's
    "VMCOREINFO": lambda prog: _chars(prog, _vmcoreinfo(prog)),  # the note's bytes as they are
    "vmemmap": _vmemmap,
}


def linux_object_finder(prog: Program, name: str, flags: FindObjectFlags, filename: Optional[str]) -> Optional[Object]:
    """drgn's ``linux`` object finder: the constants of :data:`LINUX_OBJECTS`."""
    make = LINUX_OBJECTS.get(name)
    if make is None or filename is not None or not flags & FindObjectFlags.CONSTANT:
        return None
    key = ("kdbg.linux_objects", name)
    if key not in prog.cache:
        try:
            prog.cache[key] = make(prog)
        except KdbgError:
            prog.cache[key] = None
    return prog.cache[key]


def attach(prog: Program) -> None:
    """Register :func:`linux_object_finder` on ``prog`` as ``linux``."""
    prog.register_object_finder("linux", linux_object_finder, enable_index=1)
