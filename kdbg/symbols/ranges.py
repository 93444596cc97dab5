"""Where a symbol table's symbols may name addresses: the kernel image, init text and the
init section, the per-CPU area, each module's span (see
:meth:`kdbg.symbols.table.SymbolTable.symbolize` for the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Optional, Sequence, Tuple

__all__ = ["PAGE_MASK", "PSEUDO_MODULES", "RANGE_SYMBOLS", "SymbolRanges"]

#: Names in kallsyms' ``[module]`` field that are not loadable modules but pieces of code
#: the kernel generates (BPF programs, ftrace and kprobe trampolines), each its own
#: allocation: a symbol of one of them extends at most to the end of its page.
PSEUDO_MODULES = ("bpf", "__builtin__ftrace", "__builtin__kprobes")

#: The vmlinux symbols a table's address ranges come from (:meth:`SymbolTable.symbolize`'s
#: rules): a table reduced to what was used keeps them (:meth:`SymbolTable.used_indices`).
RANGE_SYMBOLS = ("__per_cpu_start", "__per_cpu_end", "_stext", "_end", "_sinittext", "_einittext",
                 "__init_begin", "__init_end")

PAGE_MASK = 0xFFF  # x86-64 4 KiB pages: module memory is allocated in whole pages


@dataclass(frozen=True)
class SymbolRanges:
    """Where a table's symbols may symbolize addresses (computed once per table)."""

    image: Optional[Tuple[int, int]]
    #: Further vmlinux ranges ([start, end)): init text and the init section.
    extra: Tuple[Tuple[int, int], ...]
    percpu: Optional[Tuple[int, int]]
    #: Whether per-CPU symbols are offsets (x86-64 zero-based, below the image).
    percpu_are_offsets: bool
    modules: Dict[str, Tuple[int, int]]
    pseudo: FrozenSet[str]

    def in_image(self, address: int) -> bool:
        """Whether a vmlinux symbol may name ``address``."""
        if self.image is not None:
            lo, hi = self.image
            # ``hi`` is a symbol's own address (``_end``, or the highest one): it names it.
            if lo <= address <= hi:
                return True
        return any(lo <= address < hi for lo, hi in self.extra)

    @staticmethod
    def of(addr: Callable[[str], Optional[int]], addrs: Sequence[int], types: str,
           mods: Optional[Sequence[Optional[str]]]) -> SymbolRanges:
        """The ranges of a table: ``addr(name)`` gives a vmlinux symbol's address, the
        rest are its columns in address order."""
        pcs, pce = addr("__per_cpu_start"), addr("__per_cpu_end")
        percpu = (pcs, pce) if pcs is not None and pce is not None and pcs <= pce else None
        stext, end = addr("_stext"), addr("_end")
        percpu_are_offsets = percpu is not None and (stext is None or percpu[1] < stext)
        image: Optional[Tuple[int, int]] = None
        if stext is None or end is None:
            # No markers (a partial or synthetic table): the span of the vmlinux symbols
            # that are not absolute, its highest symbol owning only its own address.
            core = [i for i in range(len(addrs))
                    if (mods is None or mods[i] is None) and types[i] not in "Aa"]
            if core:
                lo = stext if stext is not None else addrs[core[0]]
                hi = end if end is not None else addrs[core[-1]]
                image = (lo, hi) if lo <= hi else None
        elif stext <= end:
            image = (stext, end)
        extra = []
        for a, b in (("_sinittext", "_einittext"), ("__init_begin", "__init_end")):
            lo_, hi_ = addr(a), addr(b)
            if lo_ is not None and hi_ is not None and lo_ < hi_:
                extra.append((lo_, hi_))
        modules: Dict[str, Tuple[int, int]] = {}
        pseudo = set()
        if mods is not None:
            for i, m in enumerate(mods):
                if m is None:
                    continue
                a_ = addrs[i]
                span = modules.get(m)
                if span is None:
                    modules[m] = (a_, (a_ | PAGE_MASK) + 1)
                    if m in PSEUDO_MODULES or m.startswith("__builtin__"):
                        pseudo.add(m)
                else:
                    # Sorted by address: a later symbol only extends the end.
                    modules[m] = (span[0], (a_ | PAGE_MASK) + 1)
        return SymbolRanges(image, tuple(extra), percpu, percpu_are_offsets, modules,
                       frozenset(pseudo))
