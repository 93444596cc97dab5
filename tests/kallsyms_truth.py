"""Ground truth for decoded kallsyms: what a guest's own /proc/kallsyms said."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from kdbg.symbols.kallsyms.mem import DecodedKallsyms
from kdbg.symbols.table import SymbolTable

__all__ = ["assert_matches_truth", "text_only", "truth_vmlinux"]

#: The kernel's data sections, by the symbols that bound them (vmlinux.lds.h).
_DATA = (("__start_rodata", "__end_rodata"), ("_sdata", "_edata"), ("__bss_start", "_end"))


def truth_vmlinux(truth: Path) -> List[Tuple[int, str, str]]:
    """(address, type, name) of every vmlinux line of the guest's /proc/kallsyms."""
    out = []
    for line in (truth / "kallsyms").read_text().splitlines():
        if "\t" in line:  # [module], [bpf], [__builtin__ftrace] ...
            continue
        addr, typ, name = line.split(" ")
        out.append((int(addr, 16), typ, name))
    return out


def assert_matches_truth(d: DecodedKallsyms, truth: Path) -> None:
    """Every decoded (address, type, name) equals the guest's line, in order."""
    want = truth_vmlinux(truth)
    got = list(zip(d.addresses, d.types, d.names, strict=True))
    assert len(got) == len(want)
    bad = [(w, g) for w, g in zip(want, got, strict=True) if w != g]
    assert not bad, f"{len(bad)} mismatches, first {bad[:3]}"


def text_only(table: SymbolTable) -> SymbolTable:
    """``table`` as a kernel without ``CONFIG_KALLSYMS_ALL`` lists it: its text symbols
    and ``_etext`` (bookworm's cloud-arm64 kallsyms: 21,307 ``T``, 23,237 ``t``, 257 ``W``,
    and ``_etext`` its one ``D``). The module column is dropped (vmlinux only).

    A symbol in the kernel's data (``[__start_rodata, __end_rodata)``, ``[_sdata, _edata)``,
    ``[__bss_start, _end)``) is dropped whatever its type: forky's 7.2 x86-64 kallsyms types
    about 19,700 of them ``T`` (``init_task``, ``hugetlb_max_hstate``), and scripts/kallsyms
    without ``--all-symbols`` keeps no symbol there. (On the kernels before, no text-typed
    symbol lies there but ``_etext``.)"""
    data = [(lo.address, hi.address) for lo, hi in
            ((table.get(a), table.get(b)) for a, b in _DATA) if lo is not None and hi is not None]
    keep = [i for i, (n, t, a) in enumerate(zip(table.names, table.types, table.addresses, strict=True))
            if n == "_etext" or (t in "TtWw" and not any(lo <= a < hi for lo, hi in data))]
    return SymbolTable.from_columns([table.names[i] for i in keep], [table.addresses[i] for i in keep],
                                    "".join(table.types[i] for i in keep), None)
