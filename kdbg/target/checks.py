"""Checks that files named with ``--kallsyms`` / ``--btf`` belong to the dump they are used with.

A kallsyms file from another boot (KASLR moved every address) or another kernel, or the
BTF of another kernel, would otherwise give confident wrong answers. The dump describes
itself in VMCOREINFO, and the checks here compare against that, cheapest first:

kallsyms
    Every address-valued ``SYMBOL(name)`` entry of VMCOREINFO whose name is in the file
    (``_stext``, ``init_uts_ns``, ``init_top_pgt``, ...) must have that address in the file.
    Without any such entry, ``_text`` must sit at ``KERNELOFFSET`` above the default image
    base. When the dump's memory can be read at the file's ``linux_banner``, it must read
    ``Linux version <OSRELEASE> ``. ``SYMBOL(mem_section)`` and ``SYMBOL(vmemmap)`` hold
    a pointer's *value* (``VMCOREINFO_SYMBOL_ARRAY``), not an address, and are not used.
BTF
    When the dump's own BTF is reachable (``__start_BTF``..``__stop_BTF`` from the symbols
    and readable), the base BTF given must be byte-identical to it: same size (no read
    needed to refuse), then the same bytes (one read of a few MiB). Otherwise every
    ``SIZE(...)`` and ``OFFSET(...)`` entry of VMCOREINFO whose type the BTF has must agree
    with it (the layouts dump tools and kdbg depend on: ``struct page``, ``pglist_data``,
    the printk ring buffer ...).

A mismatch raises :class:`~kdbg.errors.CoreError` with one line naming the file, the
quantity and both values. Nothing found to compare is not an error: the check cannot
refuse what it cannot judge.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Optional

from kdbg.arch import text_link_address
from kdbg.btf.types import Composite
from kdbg.errors import CoreError, FaultError, KdbgError
from kdbg.memory.machine import X86_64, vmcoreinfo_machine
from kdbg.symbols.ksymtab import vmcoreinfo_symbols

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type
    from kdbg.memory.base import KernelMemory
    from kdbg.memory.vmcoreinfo import VMCoreInfo
    from kdbg.symbols.table import SymbolTable

__all__ = ["check_kallsyms", "check_btf", "check_btf_layout", "ADDRESS_SYMBOLS"]

#: VMCOREINFO ``SYMBOL()`` entries that hold the symbol's address (checked in this order).
ADDRESS_SYMBOLS = (
    "_stext",
    "init_uts_ns",
    "init_top_pgt",
    "swapper_pg_dir",
    "node_online_map",
    "node_data",
    "vmap_area_list",
    "prb",
    "printk_rb_static",
    "clear_seq",
    "log_buf",
    "log_buf_len",
    "log_first_idx",
    "log_next_idx",
    "kallsyms_names",
    "kallsyms_num_syms",
    "kallsyms_token_table",
    "kallsyms_token_index",
    "kallsyms_offsets",
    "kallsyms_relative_base",
    "kallsyms_addresses",
    "kallsyms_markers",
    "kallsyms_seqs_of_names",
)

_KEY = re.compile(r"^(SIZE|OFFSET)\(([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?\)$")


def check_kallsyms(
    symbols: SymbolTable,
    vmcoreinfo: Optional[VMCoreInfo],
    source: str,
    memory: Optional[KernelMemory] = None,
) -> None:
    """Refuse (``CoreError``) a symbol table that is not the dump's: see the module doc.

    ``source`` names the file in the message (``--kallsyms PATH``).
    """
    if vmcoreinfo is None:
        return
    confirmed = False
    for name, want in vmcoreinfo_symbols(vmcoreinfo, ADDRESS_SYMBOLS).items():
        sym = symbols.get(name)
        if sym is None:
            continue
        if sym.address != want:
            raise CoreError(
                f"{source} is not this dump's: {name} is {sym.address:#x} there but {want:#x} "
                "in the dump's VMCOREINFO (a kallsyms file from another boot or kernel?)"
            )
        confirmed = True
    if not confirmed:
        text_sym = symbols.get("_text")
        if text_sym is not None and vmcoreinfo.get("KERNELOFFSET") is not None:
            link = text_link_address(vmcoreinfo_machine(vmcoreinfo) or X86_64, vmcoreinfo)
            try:
                base: Optional[int] = None if link is None else link + vmcoreinfo.kerneloffset
            except CoreError:
                base = None
            if base is not None and text_sym.address != base:
                raise CoreError(
                    f"{source} is not this dump's: _text is {text_sym.address:#x} there but the "
                    f"dump's KERNELOFFSET puts it at {base:#x} (a kallsyms file from another boot?)"
                )
    release = vmcoreinfo.get("OSRELEASE")
    banner = symbols.get("linux_banner")
    if memory is None or not release or banner is None:
        return
    want_text = f"Linux version {release} ".encode()
    try:
        got = bytes(memory.read(banner.address, len(want_text)))
    except KdbgError:  # unreadable there: nothing to judge by (the symbols above decide)
        return
    if got != want_text:
        shown = got.split(b"\0", 1)[0].decode("ascii", "replace")
        raise CoreError(
            f"{source} is not this dump's: linux_banner there reads {shown!r}, "
            f"not the dump's release {release} (a kallsyms file from another kernel?)"
        )


def check_btf(
    btf: BTF,
    memory: Optional[KernelMemory],
    symbol: Callable[[str], Optional[int]],
    vmcoreinfo: Optional[VMCoreInfo],
    source: str,
) -> None:
    """Refuse (``CoreError``) a base BTF that is not the dump's kernel's: see the module doc.

    ``symbol(name)`` gives a symbol's address or ``None`` (it may load the symbol table).
    """
    own = _dump_btf_span(symbol) if memory is not None else None
    if own is not None and memory is not None:
        start, size = own
        given = len(btf.data)
        if given != size:
            raise CoreError(
                f"{source} is not the BTF of this dump's kernel: {given} bytes, "
                f"the dump's own (__start_BTF..__stop_BTF) is {size} bytes"
            )
        try:
            data = bytes(memory.read(start, size))
        except FaultError:
            data = None  # the dump lacks those pages: judge by layout below
        if data is not None:
            if data != btf.data:
                at = next(i for i in range(size) if data[i] != btf.data[i])
                raise CoreError(
                    f"{source} is not the BTF of this dump's kernel: same size, but it differs "
                    f"from the dump's own BTF from byte {at:#x} on"
                )
            return
    if vmcoreinfo is not None:
        check_btf_layout(btf, vmcoreinfo, source)


def _dump_btf_span(symbol: Callable[[str], Optional[int]]) -> Optional[tuple[int, int]]:
    try:
        start, stop = symbol("__start_BTF"), symbol("__stop_BTF")
    except KdbgError:  # no symbols: the layout check still applies
        return None
    if start is None or stop is None or not 0 < stop - start < 1 << 30:
        return None
    return start, stop - start


def check_btf_layout(btf: BTF, vmcoreinfo: VMCoreInfo, source: str) -> None:
    """Every ``SIZE(t)`` / ``OFFSET(t.member)`` of VMCOREINFO whose type ``btf`` has must
    agree with ``btf`` (``CoreError`` naming the first that does not)."""
    for key, value in vmcoreinfo:
        m = _KEY.match(key)
        if m is None:
            continue
        kind, tname, member = m.groups()
        if (kind == "OFFSET") != (member is not None):
            continue
        try:
            want = int(value, 10)
        except ValueError:
            continue
        found = _find_type(btf, tname)
        if found is None:
            continue
        spec, t = found
        try:
            if member is None:
                got = t.sizeof()
            else:
                under = t.strip_typedefs()
                if not isinstance(under, Composite):
                    continue
                got = under.offsetof(member)
        except KdbgError:  # no such member in this BTF, incomplete type: nothing to compare
            continue
        if got != want:
            what = f"offsetof({spec}, {member})" if member is not None else f"sizeof({spec})"
            raise CoreError(
                f"{source} is not the BTF of this dump's kernel: {what} is {got} in it "
                f"but {want} in the dump's VMCOREINFO"
            )


def _find_type(btf: BTF, name: str) -> Optional[tuple[str, Type]]:
    # VMCOREINFO_STRUCT_SIZE(page) says SIZE(page) for struct page; VMCOREINFO_SIZE(nodemask_t)
    # names a typedef.
    for spec in (f"struct {name}", f"union {name}", name):
        try:
            return spec, btf.lookup(spec)
        except KdbgError:
            continue
    return None
