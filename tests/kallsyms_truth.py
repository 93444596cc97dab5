"""Ground truth for decoded kallsyms: what a guest's own /proc/kallsyms said."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from kdbg.symbols.kallsyms.mem import DecodedKallsyms
from kdbg.symbols.table import SymbolTable

__all__ = ["assert_matches_truth", "text_only", "truth_vmlinux"]


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
    and ``_etext`` its one ``D``). The module column is dropped (vmlinux only)."""
    keep = [i for i, (n, t) in enumerate(zip(table.names, table.types, strict=True)) if t in "TtWw" or n == "_etext"]
    return SymbolTable.from_columns([table.names[i] for i in keep], [table.addresses[i] for i in keep],
                                    "".join(table.types[i] for i in keep), None)
