"""What every architecture's translator shares: a layout base and where its value came from,
reading a layout variable, choosing between a kernel variable and a guess, and the fault
of a page-table page missing from the dump."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable, List, NamedTuple, Optional, Tuple

from kdbg.errors import CoreError, FaultError

if TYPE_CHECKING:  # pragma: no cover  (kdbg.memory imports this module: no cycle at run time)
    from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["LayoutBase", "PageTableLeaf", "PteFields", "PageTableUnreadable", "choose_base", "layout_variable"]


@dataclasses.dataclass(frozen=True)
class LayoutBase:
    """One randomized region base and where its value came from.

    ``value`` is what kdbg uses; ``variable`` is the kernel variable's value (``None``
    without symbols or when unreadable) and ``guess`` what the page tables suggest;
    ``source`` is ``"kernel variable"``, ``"page tables"`` (``"kcore segments"`` live),
    ``"set by caller"`` or ``"unknown"``; ``note`` says why the two differ or why the variable was not used.
    """

    name: str
    value: Optional[int]
    source: str
    variable: Optional[int] = None
    guess: Optional[int] = None
    note: str = ""


def layout_variable(
    name: str,
    address_of: Optional[Callable[[str], Optional[int]]],
    read_u64: Callable[[int], int],
    vmcoreinfo: Optional[VMCoreInfo] = None,
) -> Tuple[Optional[int], str]:
    """``(value, why-not)`` of the layout variable ``name`` (``page_offset_base``, ...): its
    address from the symbols (else VMCOREINFO's ``SYMBOL()`` when given), its 8 bytes read
    with ``read_u64``; ``(None, reason)`` when it cannot be had ("" when it has no address)."""
    addr: Optional[int] = None
    if address_of is not None:
        try:
            addr = address_of(name)
        except (LookupError, CoreError, FaultError):
            addr = None
    if addr is None and vmcoreinfo is not None and vmcoreinfo.has_symbol(name):
        try:
            addr = vmcoreinfo.symbol(name)
        except CoreError as e:
            return None, f"VMCOREINFO's SYMBOL({name}) is unusable ({e})"
    if addr is None:
        return None, ""
    try:
        return read_u64(addr), ""
    except (FaultError, CoreError) as e:
        return None, f"the kernel variable at {addr:#x} is unreadable ({e})"


class PageTableLeaf(NamedTuple):
    """What the last entry of a level-by-level walk (a translator's ``walk_entries``) maps,
    read by the machine's rules (its translator's ``leaf``): ``span``, the bytes of address
    space the entry's level covers (``1 << shift``); ``physical``, the ``span``-aligned
    frame when the entry maps memory (a ``PROT_NONE`` page too, present to the kernel as
    its ``pte_present`` says, not to the MMU), else ``None``; ``swap``, ``(type, offset)``
    of a swap entry (a non-zero base-page entry that maps nothing), else ``None``."""

    span: int
    physical: Optional[int]
    swap: Optional[Tuple[int, int]]


class PteFields(NamedTuple):
    """One page-table entry as crash's ``translate_pte`` of the machine shows it (``pte``,
    ``vtop``): ``present`` (crash's ``page_present``: mapped, a ``PROT_NONE`` page too);
    ``physical``, the address crash prints for a present entry; ``swap``, ``(type,
    offset)`` of a non-present non-zero one; ``flags``, crash's names of its bits."""

    present: bool
    physical: Optional[int]
    swap: Optional[Tuple[int, int]]
    flags: List[str]


class PageTableUnreadable(FaultError):
    """A page-table page that a walk needs is not in the dump (a :class:`FaultError` for
    every caller; the layout checks tell it apart from "not mapped")."""


def choose_base(
    name: str,
    variable: Optional[int],
    guess: Optional[int],
    problem: Callable[[int], Optional[str]],
    unreadable: str = "",
    guess_source: str = "page tables",
) -> LayoutBase:
    """Decide one region base from the kernel variable's value and the source's own guess.

    The kernel's variable wins when ``problem(variable)`` finds nothing wrong with it, and
    also when it is doubtful but the guess is no better (the doubt is noted); only a
    variable that fails the check while the guess passes is overruled (symbols from another
    boot). Any difference is written in the result's ``note``.
    """
    note = unreadable
    if variable is None:
        if guess is not None:
            return LayoutBase(name, guess, guess_source, None, guess, note)
        return LayoutBase(name, None, "unknown", None, None, note)
    bad = problem(variable)
    if bad is not None:
        if guess is not None and problem(guess) is None:
            note = (
                f"the kernel variable says {variable:#x}, which is {bad} (symbols from another "
                f"boot?); using the guess {guess:#x}"
            )
            return LayoutBase(name, guess, guess_source, variable, guess, note)
        note = f"the kernel variable says {variable:#x}, which is {bad}; used anyway"
        return LayoutBase(name, variable, "kernel variable", variable, guess, note)
    if guess is not None and guess != variable:
        note = (
            f"the guess is {guess:#x} but the kernel variable says {variable:#x}; using the "
            "variable (the guess is a heuristic: the first mapped 1 GiB slot of the region)"
        )
    return LayoutBase(name, variable, "kernel variable", variable, guess, note)
