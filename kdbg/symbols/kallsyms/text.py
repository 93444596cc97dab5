"""Parse symbols in ``/proc/kallsyms`` text format (the live file or a saved copy).

Lines are ``ADDRESS TYPE NAME`` for vmlinux and ``ADDRESS TYPE NAME\\t[MODULE]`` for module
(and pseudo-module, e.g. ``[bpf]``, ``[__builtin__ftrace]``) symbols.
"""

from __future__ import annotations

import os
from typing import List, Optional, Union

from kdbg.errors import CoreError
from kdbg.symbols.table import SymbolTable

__all__ = ["parse_kallsyms_text", "load_kallsyms_file", "PROC_KALLSYMS"]

#: The live kernel's symbol file.
PROC_KALLSYMS = "/proc/kallsyms"


def parse_kallsyms_text(
    text: Union[str, bytes], source: str = "<kallsyms>", *, all_zero_ok: bool = False
) -> SymbolTable:
    """Parse ``/proc/kallsyms``-format text into a :class:`SymbolTable`.

    A malformed line raises :class:`~kdbg.errors.CoreError` naming ``source:line``.  When
    every address is zero (``kptr_restrict`` hides them from non-root readers) a CoreError
    says so, unless ``all_zero_ok``.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    names: List[str] = []
    addrs: List[int] = []
    types: List[str] = []
    mods: List[Optional[str]] = []
    has_mod = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        tab = line.find("\t")
        mod: Optional[str] = None
        if tab >= 0:
            rest = line[tab + 1:].strip()
            if not (len(rest) >= 3 and rest[0] == "[" and rest[-1] == "]"):
                raise CoreError(f"{source}:{lineno}: malformed module field: {line!r}")
            mod = rest[1:-1]
            line = line[:tab]
            has_mod = True
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2] or len(parts[1]) != 1 or not parts[1].isalpha():
            raise CoreError(f"{source}:{lineno}: malformed kallsyms line: {line!r}")
        try:
            addr = int(parts[0], 16)
        except ValueError:
            raise CoreError(f"{source}:{lineno}: bad address {parts[0]!r}") from None
        if addr < 0 or addr >= 1 << 64 or not parts[0].isalnum():
            raise CoreError(f"{source}:{lineno}: bad address {parts[0]!r}")
        names.append(parts[2])
        addrs.append(addr)
        types.append(parts[1])
        mods.append(mod)
    if not names:
        raise CoreError(f"{source}: no symbols")
    if not all_zero_ok and not any(addrs):
        raise CoreError(
            f"{source}: every address is 0 (kptr_restrict hides them; read it as root)"
        )
    return SymbolTable.from_columns(names, addrs, "".join(types), mods if has_mod else None)


def load_kallsyms_file(path: Union[str, os.PathLike] = PROC_KALLSYMS) -> SymbolTable:
    """Read and parse a kallsyms file (default: the live ``/proc/kallsyms``)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CoreError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from e
    return parse_kallsyms_text(data, os.fspath(path))
