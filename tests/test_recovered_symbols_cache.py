"""The cache of data symbols recovered for a kernel without ``CONFIG_KALLSYMS_ALL``
(:mod:`kdbg.target.recovered`).

A warm start (the entry stored by a cold one) must give exactly the cold start's symbols,
and both the ``-dbg`` vmlinux's addresses (Debian's DWARF package, slid by the dump's
KASLR offset: :func:`tests.test_arm64_data_symbols.vmlinux_symbols`), on every arm64
reference dump: bookworm's cloud kernel as it is, the others' tables cut to their text
symbols (:func:`tests.kallsyms_truth.text_only`). Another boot of the same build (the
bookworm panic dump: same build id, another slide) uses the entry and gets its own
addresses. A corrupt entry, one whose payload is not an entry, and one of another build
are not used: the symbols are searched again, found the same, and the entry is rewritten.
Every test has cache directories of its own (``root``, ``cache_dir``; ``KDBG_CACHE`` of
the command line's), never the reference dumps' cache (the dumps and the ``-dbg`` vmlinux
come from there).
"""

from __future__ import annotations

import marshal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

import pytest

from kdbg import cache
from kdbg.arch import AARCH64, code_references
from kdbg.memory import open_core as open_memory
from kdbg.memory.base import KernelMemory
from kdbg.symbols import load_kallsyms_from_memory
from kdbg.symbols.ksymtab import RecoveredSymbols
from kdbg.symbols.table import SymbolTable
from kdbg.target import recovered
from kdbg.target.checks import ADDRESS_SYMBOLS
from kdbg.target.recovered import BTF_BOUNDS, KIND, entry_key, recovered_data_symbols
from tests.cli_support import clean_env, run_kdbg
from tests.kallsyms_truth import text_only
from tests.test_arm64_data_symbols import _slide, vmlinux_symbols
from vmcores.arm64 import KERNELS, PAGE_SIZE_KERNELS, arm64_dumps
from vmcores.arm64_crash import arm64_crash_dumps
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM

pytestmark = pytest.mark.timeout(2400)

Result = Tuple[SymbolTable, RecoveredSymbols]


def _dump(kernel: str) -> Dump:
    return next(d for d in arm64_dumps([kernel]) if d.form == ORACLE_FORM)


class Searches:
    """Counts the searches :func:`recovered_data_symbols` runs (none on a cache hit)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        search = recovered.recover_data_symbols

        def counted(*args: Any, **kwargs: Any) -> RecoveredSymbols:
            self.count += 1
            return search(*args, **kwargs)

        monkeypatch.setattr(recovered, "recover_data_symbols", counted)


@contextmanager
def _opened(dump: Any, tmp_path: Path) -> Iterator[Tuple[KernelMemory, SymbolTable]]:
    """The dump's memory and its kallsyms cut to text (as bookworm's cloud kernel lists
    it), decoded with a kallsyms cache in ``tmp_path``."""
    memory = open_memory(str(dump.path))
    try:
        table = load_kallsyms_from_memory(memory, memory.vmcoreinfo, cache_dir=str(tmp_path / "kallsyms"))
        yield memory, text_only(table)
    finally:
        memory.close()


def _recover(memory: KernelMemory, table: SymbolTable, root: Path) -> Result:
    return recovered_data_symbols(table, memory, ADDRESS_SYMBOLS, code_references(AARCH64), root=str(root))


def _entries(root: Path) -> List[Path]:
    return sorted((root / KIND).glob("*.kce"))


def _same(a: Result, b: Result) -> None:
    """Two results alike: the recovered symbols and the merged tables' columns."""
    assert a[1] == b[1]
    assert (a[0].names, a[0].addresses, a[0].types) == (b[0].names, b[0].addresses, b[0].types)


def _assert_vmlinux(found: RecoveredSymbols, symbols: Dict[str, Set[int]], slide: int) -> None:
    """Every recovered address is the ``-dbg`` vmlinux's, slid; the code found every
    global of ``REFERRERS``, and the BTF's bounds were placed."""
    assert found.sources["ksymtab"] and found.sources["code"] and not found.unresolved
    assert set(found.sources["btf"]) == set(BTF_BOUNDS)
    for source, names in found.sources.items():
        for name, address in names.items():
            assert address - slide in symbols[name], (source, name, hex(address))


#: The kernels whose code search resolves every global (test_arm64_data_symbols'
#: ``UNRESOLVED``: forky's 7.2 leaves four, which a cold start must not cache as found).
CHECKED = KERNELS + PAGE_SIZE_KERNELS


@pytest.mark.parametrize("kernel", CHECKED)
def test_warm_start_is_the_cold_one(kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cold: searched and stored (one entry); warm: no search, the same symbols and table,
    the vmlinux's addresses."""
    dump = _dump(kernel)
    symbols = vmlinux_symbols(dump)
    slide = _slide(dump, symbols)
    searches = Searches(monkeypatch)
    root = tmp_path / "own"
    with _opened(dump, tmp_path) as (memory, table):
        cold = _recover(memory, table, root)
        assert searches.count == 1 and len(_entries(root)) == 1
        warm = _recover(memory, table, root)
        assert searches.count == 1, "the warm start searched again"
    _same(cold, warm)
    _assert_vmlinux(warm[1], symbols, slide)


def test_another_boot_of_the_build_uses_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bookworm's panic dump (another boot: same build id, another KASLR slide) takes the
    reference dump's entry and gets its own addresses (the vmlinux's, slid by its slide)."""
    ref = _dump("bookworm-cloud")
    other = next(d for d in arm64_crash_dumps(["bookworm-cloud"], ["panic"]) if d.form == ORACLE_FORM)
    symbols = vmlinux_symbols(ref)
    slides = (_slide(ref, symbols), _slide(other, symbols))  # type: ignore[arg-type]
    assert slides[0] != slides[1], "the two guests booted with the same KASLR slide"
    root = tmp_path / "own"
    keys = []
    with _opened(ref, tmp_path) as (memory, table):
        _recover(memory, table, root)
        keys.append(entry_key(memory, ADDRESS_SYMBOLS))
    searches = Searches(monkeypatch)
    with _opened(other, tmp_path) as (memory, table):
        keys.append(entry_key(memory, ADDRESS_SYMBOLS))
        warm = _recover(memory, table, root)
    assert keys[0] is not None and keys[0] == keys[1]
    assert searches.count == 0 and len(_entries(root)) == 1
    _assert_vmlinux(warm[1], symbols, slides[1])


def _rewritten(kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               spoil: Callable[[Path, str, KernelMemory, SymbolTable], None]) -> None:
    """After ``spoil(root, key, memory, table)`` the entry is not used: searched again, the same
    result as a fresh cache's, and a valid entry stored in its place."""
    dump = _dump(kernel)
    root, fresh = tmp_path / "own", tmp_path / "fresh"
    with _opened(dump, tmp_path) as (memory, table):
        cold = _recover(memory, table, fresh)
        key = entry_key(memory, ADDRESS_SYMBOLS)
        assert key is not None
        spoil(root, key, memory, table)
        searches = Searches(monkeypatch)
        again = _recover(memory, table, root)
        assert searches.count == 1, "a spoiled entry was used"
        _same(cold, again)
        assert cache.load(KIND, key, root=str(root)) == cache.load(KIND, key, root=str(fresh))
        _same(cold, _recover(memory, table, root))
        assert searches.count == 1, "the rewritten entry was not used"


def test_a_corrupt_entry_is_searched_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Garbage written over the entry's file is a miss (kdbg's cache checksum)."""

    def spoil(root: Path, key: str, memory: KernelMemory, table: SymbolTable) -> None:
        _recover(memory, table, root)
        (entry,) = _entries(root)
        entry.write_bytes(b"\x00garbage" * 100)

    _rewritten("bookworm-cloud", tmp_path, monkeypatch, spoil)


@pytest.mark.parametrize("payload", [b"", b"not marshal", marshal.dumps((1, 2, 3)), marshal.dumps(None)])
def test_an_entry_that_is_no_entry_is_searched_again(payload: bytes, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A payload intact for kdbg's cache (its checksum holds) but no entry of this kind."""
    _rewritten("bookworm-cloud", tmp_path, monkeypatch,
               lambda root, key, _memory, _table: cache.store(KIND, key, payload, root=str(root)))


def test_another_builds_entry_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bookworm's entry planted under trixie's key (as a stale build id would) is not used:
    its bytes' digest is not trixie's; trixie's own search replaces it."""
    planted = tmp_path / "bookworm"
    keys = []
    with _opened(_dump("bookworm-cloud"), tmp_path) as (memory, table):
        _recover(memory, table, planted)
        keys.append(entry_key(memory, ADDRESS_SYMBOLS))
    payload = cache.load(KIND, str(keys[0]), root=str(planted))
    assert payload is not None

    def spoil(root: Path, key: str, _memory: KernelMemory, _table: SymbolTable) -> None:
        assert key != keys[0]
        cache.store(KIND, key, payload, root=str(root))

    _rewritten("trixie-cloud", tmp_path, monkeypatch, spoil)


def test_the_command_line_after_a_corrupt_entry(tmp_path: Path) -> None:
    """``kdbg -x 'sym init_task'`` prints the vmlinux's address cold, warm and after its
    entry was overwritten with garbage: no traceback, nothing else on stderr."""
    dump = _dump("bookworm-cloud")
    symbols = vmlinux_symbols(dump)
    (link,) = symbols["init_task"]
    want = link + _slide(dump, symbols)
    env = clean_env(KDBG_CACHE=str(tmp_path / "cli"))
    outs = []
    for step in ("cold", "warm", "corrupt"):
        if step == "corrupt":
            (entry,) = sorted((tmp_path / "cli" / KIND).glob("*.kce"))
            entry.write_bytes(b"garbage")
        p = run_kdbg("-q", "-c", str(dump.path), "-x", "sym init_task", env=env)
        assert (p.returncode, p.stderr) == (0, ""), (step, p.stderr)
        outs.append(p.stdout)
    assert outs[0] == outs[1] == outs[2] and outs[0].startswith(f"{want:x} (D) init_task"), outs
