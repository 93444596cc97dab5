"""vmlinux kallsyms from kernel memory: locate the tables, decode them, cache the result.

* Where the tables are: VMCOREINFO lists them on Linux >= 6.0
  (:func:`~kdbg.symbols.kallsyms.decode.tables_from_vmcoreinfo`); older kernels are
  scanned for them (:mod:`kdbg.symbols.kallsyms.scan`).
* What they say: :mod:`kdbg.symbols.kallsyms.decode` (token expansion, the address
  encodings, checked against VMCOREINFO's ``_stext``).
* One name: :mod:`kdbg.symbols.kallsyms.byname` finds it without decoding the others
  (through ``kallsyms_seqs_of_names``), and :class:`~kdbg.symbols.kallsyms.lazy.LazyKallsyms`
  answers the first lookups by name that way before it decodes everything.
* Next time: :mod:`kdbg.symbols.kallsyms.cache` keeps the decoded symbols in the kdbg
  cache, keyed by build and relative to ``_stext`` so every boot of one kernel hits, and
  checks an entry against memory before using it.

Only vmlinux symbols are decoded here; module symbols live in ``struct module`` and need
typed objects (done above this layer).
"""

from __future__ import annotations

from typing import List, Optional

from kdbg.errors import CoreError
from kdbg.memory.base import KernelMemory
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.progress import progress
from kdbg.symbols.kallsyms.byname import NameFinder
from kdbg.symbols.kallsyms.cache import cache_key, load_cached, store_cached
from kdbg.symbols.kallsyms.decode import (
    ENCODINGS,
    DecodedKallsyms,
    KallsymsTables,
    decode_tables,
    expand_names,
    tables_from_vmcoreinfo,
)
from kdbg.symbols.kallsyms.lazy import LazyKallsyms
from kdbg.symbols.kallsyms.scan import find_kallsyms_tables
from kdbg.symbols.table import SymbolTable

__all__ = [
    "ENCODINGS",
    "KallsymsTables",
    "DecodedKallsyms",
    "decode_kallsyms",
    "load_kallsyms_from_memory",
    "find_kallsyms_tables",
    "expand_names",
    "tables_from_vmcoreinfo",
]


def decode_kallsyms(
    mem: KernelMemory,
    vmcoreinfo: Optional[VMCoreInfo] = None,
    *,
    use_cache: bool = True,
    cache_dir: Optional[str] = None,
    scan_limit: int = 96 << 20,
) -> DecodedKallsyms:
    """Decode vmlinux kallsyms from ``mem``.

    ``vmcoreinfo`` defaults to ``mem.vmcoreinfo``.  Tables come from VMCOREINFO when it
    lists them (Linux >= 6.0), otherwise from a scan of at most ``scan_limit`` bytes of the
    kernel image.  With ``use_cache`` a validated cache entry is used and a fresh decode
    stored (``cache_dir``: a cache root other than :func:`kdbg.cache.cache_root`).  Raises
    :class:`~kdbg.errors.CoreError` when the tables are missing or malformed.
    """
    vmci = vmcoreinfo if vmcoreinfo is not None else mem.vmcoreinfo
    t = tables_from_vmcoreinfo(vmci)
    key = cache_key(mem, vmci, t) if use_cache else None
    if key is not None:
        hit = load_cached(mem, vmci, key, t, root=cache_dir)
        if hit is not None:
            return hit
    result: Optional[DecodedKallsyms] = None
    with progress("decoding kallsyms"):
        if t is not None:
            result = decode_tables(mem, t, vmci)
        else:
            errors: List[str] = []
            for cand in find_kallsyms_tables(mem, vmci, limit=scan_limit):
                try:
                    result = decode_tables(mem, cand, vmci)
                    break
                except CoreError as e:
                    errors.append(str(e))
            if result is None:
                raise CoreError("; ".join(dict.fromkeys(errors)))
            if use_cache and key is None:
                key = cache_key(mem, vmci, result.tables)
    result.key = key or ""
    if use_cache and key is not None:
        store_cached(mem, vmci, result, key, root=cache_dir)
    return result


def load_kallsyms_from_memory(
    mem: KernelMemory, vmcoreinfo: Optional[VMCoreInfo] = None, **kwargs: object
) -> SymbolTable:
    """vmlinux kallsyms from memory as a :class:`SymbolTable` (``kwargs`` as
    :func:`decode_kallsyms` takes them).

    When VMCOREINFO lists the tables and they carry ``kallsyms_seqs_of_names``, the table
    answers its first lookups by name from memory (:class:`LazyKallsyms`) and decodes
    everything (or loads it from the cache) only when more is asked.
    """
    vmci = vmcoreinfo if vmcoreinfo is not None else mem.vmcoreinfo

    def load() -> SymbolTable:
        return decode_kallsyms(mem, vmci, **kwargs).to_table()  # type: ignore[arg-type]

    t = tables_from_vmcoreinfo(vmci)
    finder = NameFinder.open(mem, t, vmci) if t is not None else None
    if finder is None:
        return load()
    return LazyKallsyms(finder, load)
