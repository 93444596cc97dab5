"""Kernel panics: drgn's ``drgn.helpers.linux.panic``.

The task that panicked is the one running on ``panic_cpu`` (:meth:`Program.crashed_thread`);
the panic message is the most telling line of the log (``Kernel panic - ...``, then a
``BUG:`` fault, a ``kernel BUG at``, an ``Oops:``); the taint letters are the kernel's
``taint_flags[]`` table (``tnts[]`` before 4.10) applied to ``tainted_mask``, as
``print_tainted()`` prints them.

Unlike drgn 0.3.0, whose ``panic_task()`` raises ``LookupError("panic_cpu is not set")``
on a kernel that did not panic although it documents ``NULL``, :func:`panic_task` returns
``NULL`` there.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, List, Optional

from kdbg.core.conversions import NULL
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import NotFoundError, UnwindError
from kdbg.helpers.printk import get_dmesg

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["panic_message", "panic_task", "tainted"]


@takes_program_or_default
def panic_task(prog: Program) -> Object:
    """The task that panicked (``struct task_struct *``; ``NULL`` if the kernel did not
    panic)."""
    try:
        return prog.crashed_thread().object
    except UnwindError:
        return NULL(prog, "struct task_struct *")


#: The lines that say what panicked, most telling first.
_PANIC_LINES = (
    rb"Kernel panic -.*",
    rb"BUG: (?:kernel NULL pointer dereference|unable to handle).*|Unable to handle kernel.*",
    rb"[Kk]ernel BUG at.*",
    rb"Oops: .*",
)
_PANIC_RE = re.compile(b"|".join(b"(" + p + b")" for p in _PANIC_LINES))


@takes_program_or_default
def panic_message(prog: Program) -> Optional[bytes]:
    """The log line of the panic (``b'Kernel panic - not syncing: ...'``), or ``None``
    when the log has none: the first line of the most telling kind."""
    best: Optional[bytes] = None
    rank = len(_PANIC_LINES) + 1
    for m in _PANIC_RE.finditer(get_dmesg(prog, timestamps=False)):
        if m.lastindex is not None and m.lastindex < rank:
            best, rank = m.group(), m.lastindex
    return best


@takes_program_or_default
def tainted(prog: Program) -> str:
    """The kernel's taint letters (``'G           O       '``), or ``''`` when it is not
    tainted."""
    mask = int(prog["tainted_mask"])
    if not mask:
        return ""
    try:
        flags = prog["taint_flags"]
    except NotFoundError:  # before 4.10: tnts[], each with its bit number
        return "".join(chr(int(t.true) if mask >> int(t.bit) & 1 else int(t.false)) for t in prog["tnts"])
    return "".join(chr(int(f.c_true) if mask >> i & 1 else int(f.c_false))
                   for i, f in enumerate(_taint_flags(flags)))


def _taint_flags(flags: Object) -> List[Object]:
    """The entries of ``taint_flags[]`` that are taint flags: ``TAINT_FLAGS_COUNT`` is a
    macro, and the declaration that types the array may come from a kernel with more
    flags (5.10 has 18, 6.1 and 6.12 have 19, 6.15 has 20), so the table ends at the
    first entry whose letter is not a capital letter."""
    out = []
    for i in range(len(flags)):
        f = flags[i].read_()
        if not 0x41 <= int(f.c_true) <= 0x5A:
            break
        out.append(f)
    return out
