"""capstone, the instruction decoder the code-reference readers share
(:mod:`kdbg.arch.arm64.coderefs`, :mod:`kdbg.arch.x86_64.coderefs`): whether it is there,
and its modules, imported by the first decode (40 ms), never by a start that decodes
nothing."""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from typing import Any, Optional, Tuple

__all__ = ["decoder_missing", "capstone_modules"]


def decoder_missing() -> Optional[str]:
    """Why code cannot be decoded (capstone is not installed), or ``None``. Only looks."""
    if importlib.util.find_spec("capstone") is None:
        return "capstone is not installed (pip install capstone, or kdbg's 'dis' extra)"
    return None


@cache
def capstone_modules(arch: str) -> Tuple[Any, Any]:
    """``(capstone, capstone.<arch>)`` (``arch``: ``"arm64"``, ``"x86"``), imported on the
    first call; ``RuntimeError`` naming the fix when capstone is missing."""
    missing = decoder_missing()
    if missing is not None:
        raise RuntimeError(missing)
    return importlib.import_module("capstone"), importlib.import_module(f"capstone.{arch}")
