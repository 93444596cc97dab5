"""The kernel's UTS name (``uname``): ``init_uts_ns.name``. drgn gives the release as the
``UTS_RELEASE`` object from its debug info; here it is read from the running kernel's own
``init_uts_ns``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdbg.helpers.common import global_object

if TYPE_CHECKING:
    from kdbg.core.object import Object
    from kdbg.core.program import Program

__all__ = ["uts_name", "uts_release"]


def uts_name(prog: Program) -> Object:
    """``init_uts_ns.name`` (``struct new_utsname``: ``sysname``, ``release``,
    ``version``, ``machine``...)."""
    return global_object(prog, "init_uts_ns", "struct uts_namespace").name


def uts_release(prog: Program) -> str:
    """The kernel release, ``uname -r`` (``"6.1.0-50-cloud-amd64"``)."""
    return uts_name(prog).release.string_().decode(errors="replace")
