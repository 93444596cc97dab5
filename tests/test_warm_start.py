"""The warm start's shortcuts answer as the full indexes do, checked against the guest.

* A :class:`~kdbg.symbols.SymbolTable` answers its first
  :data:`~kdbg.symbols.table.SCAN_LOOKUPS` lookups by name by scanning its names and
  builds its name index after: lookups on both sides of that switch (unique, repeated
  and unknown names) give the addresses the guest's own ``/proc/kallsyms`` lists.
* A BTF opened through the cache (:func:`kdbg.btf.cache.open_btf`) answers its first
  :data:`~kdbg.btf.index.NAME_FINDS` name lookups by searching the stored name index
  (:meth:`~kdbg.btf.cache.BTFIndexStore.find_name`) and loads the index after: both give
  the type ids bpftool lists for the name.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import pytest

import kdbg
from kdbg.btf.cache import open_btf
from kdbg.btf.index import NAME_FINDS
from kdbg.symbols.table import SCAN_LOOKUPS
from tests.btf_truth import bpftool_raw, parse_raw
from tests.conftest import resolve_dump


def _truth_kallsyms(path: Path) -> Dict[str, List[int]]:
    """vmlinux symbol name -> its addresses, from the guest's /proc/kallsyms."""
    out: Dict[str, List[int]] = defaultdict(list)
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:  # no [module]
            out[parts[2]].append(int(parts[0], 16))
    return out


def test_symbol_lookups_before_and_after_the_name_index(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path))
    dump = resolve_dump("bookworm", "elf-paging", "qemu")
    truth = _truth_kallsyms(dump.truth / "kallsyms")
    rng = random.Random(7)
    repeated = sorted(n for n, a in truth.items() if len(a) > 1)
    unique = sorted(n for n, a in truth.items() if len(a) == 1)
    assert len(repeated) > 20
    names = (["init_task", "_stext", "__start_BTF", "no_such_symbol_at_all"]
             + rng.sample(repeated, 20) + rng.sample(unique, 40))
    assert len(names) > 2 * SCAN_LOOKUPS
    prog = kdbg.open_core(str(dump.path))
    try:
        table = prog.symbol_table
        for name in names:
            got = sorted(s.address for s in table.lookup_all(name, "vmlinux"))
            assert got == sorted(truth.get(name, [])), name
            assert (name in table) == (name in truth), name
            if name in truth:
                assert table.lookup(name).address in truth[name], name
            else:
                assert table.get(name) is None
    finally:
        prog.close()


def test_btf_name_lookups_from_the_stored_index(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path))
    dump = resolve_dump("bookworm", "elf-paging", "qemu")
    path = dump.truth / "btf" / "vmlinux"
    raw = parse_raw(bpftool_raw(path))
    ids: Dict[str, List[int]] = defaultdict(list)
    for t in raw.values():
        if t.name and t.name != "(anon)":
            ids[t.name].append(t.id)
    rng = random.Random(11)
    repeated = sorted(n for n, v in ids.items() if len(v) > 1)
    unique = sorted(n for n, v in ids.items() if len(v) == 1)
    names = (["task_struct", "init_task", "no_such_type_at_all"]
             + rng.sample(repeated, 20) + rng.sample(unique, 2 * NAME_FINDS))
    assert len(names) > 2 * NAME_FINDS
    data = path.read_bytes()
    open_btf(data).build_index()  # fills the cache
    warm = open_btf(data)
    assert warm.store is not None and warm.store.find_name("task_struct") is not None
    for name in names:
        assert warm.ids_by_name(name) == sorted(ids.get(name, [])), name
