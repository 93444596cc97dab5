"""A memory overlay for tests: kernel memory as the dump holds it, with some bytes replaced
(a corrupt list, a modelled ring buffer), installed as ``prog.memory``."""

from __future__ import annotations

from typing import Any, Dict


class Overlay:
    """A memory that shows ``patches`` ({address: bytes}) over the dump's memory."""

    def __init__(self, memory: Any) -> None:
        self.memory = memory
        self.patches: Dict[int, bytes] = {}

    def read(self, address: int, size: int, physical: bool = False) -> bytes:
        buf = bytearray(self.memory.read(address, size, physical))
        if not physical:
            for start, blob in self.patches.items():
                lo, hi = max(start, address), min(start + len(blob), address + size)
                if lo < hi:
                    buf[lo - address:hi - address] = blob[lo - start:hi - start]
        return bytes(buf)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.memory, name)


def overlay(prog: Any) -> Overlay:
    """Put an (empty) :class:`Overlay` over ``prog``'s memory (once) and return it."""
    if not isinstance(prog.memory, Overlay):
        prog.memory = Overlay(prog.memory)
    return prog.memory  # type: ignore[no-any-return]
