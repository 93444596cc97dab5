"""TCP: drgn's ``drgn.helpers.linux.tcp``."""

from __future__ import annotations

from kdbg.core.conversions import cast
from kdbg.core.object import Object

__all__ = ["sk_tcpstate"]


def sk_tcpstate(sk: Object) -> Object:
    """The TCP state of ``sk`` (``struct sock *``), as the kernel's anonymous enum of
    ``TCP_ESTABLISHED``... (the socket keeps it in a byte, ``skc_state``)."""
    return cast(sk.prog_["TCP_ESTABLISHED"].type_, sk.__sk_common.skc_state)
