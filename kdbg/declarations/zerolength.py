"""Zero-length arrays as DWARF declares them: the shipped list of the members where the
rule over BTF alone (:func:`kdbg.btf.index.flexible_by_rule`) is wrong, per kernel build.

BTF writes ``T x[0]`` and ``T x[]`` alike. ``python3 -m tools.gen_declarations`` lists,
per kernel build (its vmlinux BTF's length and CRC-32), the members whose DWARF
declaration the rule gets wrong; :func:`flexible_hook` gives a BTF the answer for its
build (for a build the list does not know, the members that are exceptions in every
build it was made from), and :mod:`kdbg.target` attaches it to each program's BTF.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Optional, Sequence

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Composite

__all__ = ["ZERO_LENGTH_FILE", "btf_identity", "zero_length_container", "zero_length_exceptions", "flexible_hook"]

#: Zero-length array members whose DWARF declaration (``[0]`` or ``[]``) the rule over
#: BTF gets wrong, per kernel build.
ZERO_LENGTH_FILE = Path(__file__).resolve().parent.parent / "data" / "zero-length-arrays.txt"

def btf_identity(data: bytes) -> str:
    """A kernel build's identity as the zero-length array list keys it: its vmlinux BTF's
    length and CRC-32 (``4111222:1a2b3c4d``)."""
    return f"{len(data)}:{zlib.crc32(data):08x}"


def zero_length_container(keyword: str, name: str, member_names: Sequence[str]) -> str:
    """How the zero-length array list names a struct or union: ``struct xregs_state``, an
    anonymous one by its member names (``struct {__empty_data,data}``)."""
    return f"{keyword} {name}" if name else f"{keyword} {{{','.join(member_names)}}}"


#: The parsed list (the shipped file, read once per process; no program's state).
_ZERO_LENGTH: Optional[Dict[str, Dict[str, bool]]] = None


def _zero_length_sections() -> Dict[str, Dict[str, bool]]:
    """identity (or ``*``) -> ``"CONTAINER.member"`` -> whether DWARF says ``[]``."""
    global _ZERO_LENGTH
    if _ZERO_LENGTH is None:
        out: Dict[str, Dict[str, bool]] = {}
        cur: Dict[str, bool] = {}
        try:
            text = ZERO_LENGTH_FILE.read_text()
        except OSError:
            text = ""
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            if line.startswith("@ "):
                cur = out.setdefault(line.split(" ", 2)[1], {})
                continue
            said, _, key = line.partition(" ")
            cur[key] = said == "[]"
        _ZERO_LENGTH = out
    return _ZERO_LENGTH


def zero_length_exceptions(btf: BTF) -> Dict[str, bool]:
    """``"CONTAINER.member"`` -> whether DWARF declares it ``[]``, for the zero-length
    array members of ``btf``'s kernel (a split BTF: its base's) where the rule over BTF
    (:func:`kdbg.btf.index.flexible_by_rule`) is wrong: the list made from that very build's
    DWARF by ``python3 -m tools.gen_declarations``, or, for a build it does not know,
    the members that are exceptions in every kernel it was made from."""
    base = btf
    while base.base is not None:
        base = base.base
    got = base.memo.get("kdbg.zero_length")
    if got is None:
        sections = _zero_length_sections()
        got = sections.get(btf_identity(base.data))
        if got is None:
            got = sections.get("*", {})
        base.memo["kdbg.zero_length"] = got
    return got


def flexible_hook(btf: BTF) -> Callable[[Composite, int], Optional[bool]]:
    """What :attr:`kdbg.btf.index.BTF.flexible_hook` asks: whether member ``index`` of a
    struct or union is ``T x[]`` as its kernel's DWARF says, ``None`` where the list has
    nothing to say (the rule stands)."""

    def hook(container: Composite, index: int) -> Optional[bool]:
        exceptions = zero_length_exceptions(btf)
        if not exceptions:
            return None
        members = container.btf_members
        key = zero_length_container(container.keyword, container.btf_name, [m.btf_name for m in members])
        return exceptions.get(f"{key}.{members[index].btf_name}")

    return hook
