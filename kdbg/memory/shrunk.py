"""What ``kdbg shrink`` records in the dumps it writes, so that a read or a lookup the
recorded analysis never made fails saying why: SMALL is a reduced dump, not a broken one.

The record is a KDBG note (:mod:`kdbg.memory.kdbgnotes`) holding JSON: the analysis SMALL
was made from (its command line), the reads of that analysis the original could not serve
(page frame -> the original's words, so they fail on SMALL as they failed there) and the
user pages ``--redact`` left out (saying so), and,
with ``--reduced-btf``, the ids of the types the reduced BTF carries only as a forward
declaration though the original defined them. :func:`open_physical
<kdbg.memory.open_physical>` reads it into :attr:`PhysicalMemory.shrunk
<kdbg.memory.physical.PhysicalMemory.shrunk>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Sequence, Tuple

from kdbg.errors import CoreError
from kdbg.memory.kdbgnotes import KDBG_NOTE_NAME, kdbg_note, kdbg_note_data

__all__ = ["SHRINK_NOTE", "ShrinkRecord"]

#: The ELF note (name, type) of the record.
SHRINK_NOTE = (KDBG_NOTE_NAME, 0x53485231)  # "SHR1"

#: How a message calls a dump with a record.
REDUCED_DUMP = "a reduced dump made by kdbg shrink"


@dataclass(frozen=True)
class ShrinkRecord:
    """The record of one ``kdbg shrink``."""

    #: The analysis's command line (``--report``, ``-x ps -x 'bt 1'``, ...).
    analysis: str
    #: Page frame -> why SMALL cannot serve it though the analysis read it: the original's
    #: words when the original could not serve it either, or that ``--redact`` left it out.
    unservable: Dict[int, str] = field(default_factory=dict)
    #: Type ids of the reduced BTF that are a FWD where the original defined the type.
    declared_only: FrozenSet[int] = frozenset()

    def note(self) -> Tuple[str, int, bytes]:
        """The record as a note of SMALL."""
        data = {"schema": "kdbg-shrink-record/1", "analysis": self.analysis,
                "unservable": {str(pfn): why for pfn, why in sorted(self.unservable.items())},
                "declared_only": sorted(self.declared_only)}
        return kdbg_note(SHRINK_NOTE[1], json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def from_notes(cls, notes: Sequence[Tuple[str, int, bytes]], what: str) -> Optional[ShrinkRecord]:
        """The record among a dump's ``notes`` (``None``: not a dump kdbg shrink wrote);
        :class:`CoreError` naming ``what`` when it is malformed."""
        data = kdbg_note_data(notes, SHRINK_NOTE[1], what)
        if data is None:
            return None
        try:
            raw = json.loads(data)
            return cls(str(raw["analysis"]), {int(k): str(v) for k, v in raw["unservable"].items()},
                       frozenset(int(i) for i in raw["declared_only"]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CoreError(f"{what}: kdbg shrink's record note is malformed ({e})") from None

    def page_reason(self, pfn: int, reason: str) -> str:
        """Why page ``pfn``, which SMALL does not hold (``reason``: the format's words),
        cannot be read: the original's words when the analysis failed to read it too,
        else that SMALL left it out."""
        known = self.unservable.get(pfn)
        if known is not None:
            return known
        return (f"page {pfn:#x} is not in this dump: it is {REDUCED_DUMP}, which keeps only the pages "
                f"its analysis ({self.analysis}) read")

    def symbol_hint(self) -> str:
        """Why a symbol is missing from the reduced symbol table (a suffix of the error)."""
        return f"this is {REDUCED_DUMP}, whose symbols are only those its analysis ({self.analysis}) used"

    def type_hint(self, name: str, declared: bool) -> str:
        """Why type ``name`` is missing from (``declared``: only declared in) the reduced BTF."""
        what = "only declared in" if declared else "not in"
        return (f"{name} is {what} this dump's BTF: it is {REDUCED_DUMP}, whose BTF carries only the types "
                f"its analysis ({self.analysis}) used")
