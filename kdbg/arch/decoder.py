"""capstone, the instruction decoder the code-reference readers share
(:mod:`kdbg.arch.arm64.coderefs`, :mod:`kdbg.arch.x86_64.coderefs`): whether it is there,
and its modules, imported by the first decode (40 ms), never by a start that decodes
nothing."""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from typing import Any, Optional, Tuple

__all__ = ["decoder_missing", "capstone_modules", "disassembler"]


def decoder_missing() -> Optional[str]:
    """Why code cannot be decoded (capstone is not installed), or ``None``. Only looks."""
    if importlib.util.find_spec("capstone") is None:
        return "capstone is not installed (pip install capstone, or kdbg's 'dis' extra)"
    return None


@cache
def capstone_modules(arch: str) -> Tuple[Any, Any]:
    """``(capstone, capstone.<arch>)`` (``arch``: ``"arm64"``, ``"x86"``), imported on the
    first call; ``RuntimeError`` naming the fix when capstone is missing or fails to import."""
    missing = decoder_missing()
    if missing is not None:
        raise RuntimeError(missing)
    try:
        return importlib.import_module("capstone"), importlib.import_module(f"capstone.{arch}")
    except ImportError as e:  # installed but broken
        raise RuntimeError("capstone cannot be imported (pip install capstone, or kdbg's 'dis' extra)") from e


_ARCH_MODES = {"arm64": ("CS_ARCH_ARM64", "CS_MODE_ARM"), "x86": ("CS_ARCH_X86", "CS_MODE_64")}


@cache
def disassembler(arch: str, att: bool = False) -> Any:
    """capstone's ``Cs`` for ``arch`` (``"arm64"``, ``"x86"``: x86-64) with instruction
    details on, in AT&T syntax with *att* (as ``objdump`` and crash print x86); made on the
    first call."""
    capstone, _ = capstone_modules(arch)
    arch_id, mode = _ARCH_MODES[arch]
    md = capstone.Cs(getattr(capstone, arch_id), getattr(capstone, mode))
    if att:
        md.syntax = capstone.CS_OPT_SYNTAX_ATT
    md.detail = True
    return md
