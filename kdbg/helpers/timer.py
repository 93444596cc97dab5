"""Timers: drgn's ``drgn.helpers.linux.timer``.

Each CPU has ``NR_BASES`` timer-wheel bases (per-CPU ``timer_bases[]``), each a set of
hash-list ``vectors`` of ``struct timer_list``; and ``hrtimer_bases`` whose clock bases
keep their ``struct hrtimer`` in a timerqueue (an rbtree ordered by expiry). Which wheel
bases exist depends on the version and ``CONFIG_NO_HZ_COMMON``: ``BASE_STD``,
``BASE_DEF`` before 6.9, ``BASE_LOCAL``, ``BASE_GLOBAL``, ``BASE_DEF`` since (one base
without NO_HZ, told apart by 6.9's ``struct timer_events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence, Tuple

from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import NotFoundError, ValidationError
from kdbg.helpers.common import deref_if_pointer, program_cache
from kdbg.helpers.list import hlist_for_each_entry
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["hrtimer_clock_base_for_each", "timer_base_for_each", "timer_base_names"]


@takes_program_or_default
def timer_base_names(prog: Program) -> Sequence[str]:
    """The names of each CPU's timer-wheel bases, in ``timer_bases[]`` order
    (``('BASE_LOCAL', 'BASE_GLOBAL', 'BASE_DEF')`` on 6.9 and later with NO_HZ)."""

    def make() -> Tuple[str, ...]:
        n = len(prog["timer_bases"])
        # A kernel whose BTF has no per-CPU VARs (5.10) gets the array's type from the
        # declaration table, which may have more bases than this kernel: the symbol's
        # extent bounds it (its padding is less than one cache-aligned timer_base).
        sym = prog.symbol_table.get("timer_bases")
        size = prog.type("struct timer_base").sizeof()
        if sym is not None and sym.size and size:
            n = min(n, sym.size // size)
        if n == 3:
            return ("BASE_LOCAL", "BASE_GLOBAL", "BASE_DEF")
        if n == 2:
            return ("BASE_STD", "BASE_DEF")
        if n == 1:
            try:
                prog.type("struct timer_events")
            except NotFoundError:
                return ("BASE_STD",)
            return ("BASE_LOCAL",)
        raise ValidationError(f"timer_bases has {n} bases; the kernel has 1 to 3")

    return program_cache(prog, "timer.base_names", make)


def timer_base_for_each(base: Object) -> Iterator[Object]:
    """Every timer on a timer-wheel base (``struct timer_base *``), wheel slot by slot,
    as ``struct timer_list *``."""
    for head in deref_if_pointer(base).vectors:
        yield from hlist_for_each_entry("struct timer_list", head.address_of_(), "entry")


def hrtimer_clock_base_for_each(clock_base: Object) -> Iterator[Object]:
    """Every high-resolution timer of an hrtimer clock base
    (``struct hrtimer_clock_base *``), soonest first, as ``struct hrtimer *``."""
    root = deref_if_pointer(clock_base).active.rb_root.rb_root
    return rbtree_inorder_for_each_entry("struct hrtimer", root.address_of_(), "node.node")
