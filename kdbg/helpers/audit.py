"""The kernel's audit messages not yet delivered (kdbg's addition; drgn has no audit
helper): the ``struct sk_buff`` netlink messages queued for ``kauditd``.

``audit_queue`` holds what ``audit_log_end()`` queued; ``audit_retry_queue`` and
``audit_hold_queue`` what ``kauditd`` could not send to ``auditd`` yet.  Each message is a
``struct nlmsghdr`` (its ``nlmsg_type`` is the audit record type, ``AUDIT_*``) followed by
the record's text.  Without ``auditd`` and with auditing off (no ``audit=1``), the kernel
prints the records with ``printk`` and queues nothing.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterator, List, NamedTuple, Optional

from kdbg.core.conversions import cast
from kdbg.errors import ObjectNotFoundError

if TYPE_CHECKING:
    from kdbg.core.object import Object
    from kdbg.core.program import Program

__all__ = ["AUDIT_QUEUES", "AuditMessage", "audit_messages"]

#: The queues read, in order (``audit_skb_queue``: before Linux 4.11).
AUDIT_QUEUES = ("audit_skb_queue", "audit_queue", "audit_retry_queue", "audit_hold_queue")
#: ``struct nlmsghdr``: length, type, flags, sequence, port (``NLMSG_HDRLEN`` bytes).
_NLMSGHDR = struct.Struct("<IHHII")
#: The most messages read from one queue (a corrupt list stops here).
_MAX_MESSAGES = 1 << 16


class AuditMessage(NamedTuple):
    """One queued audit record: its queue, ``struct sk_buff`` address, type and text."""

    queue: str
    skb: int
    type: int
    text: bytes


def _queue_skbs(head: Object) -> Iterator[Object]:
    """The ``struct sk_buff *`` of an ``sk_buff_head`` (a circular list through ``next``)."""
    end = int(head.address_of_())
    skb = head.next.read_()
    for _ in range(min(int(head.qlen), _MAX_MESSAGES)):
        if int(skb) == end or not int(skb):
            return
        yield skb
        skb = skb.next.read_()


def audit_messages(prog: Program) -> Optional[List[AuditMessage]]:
    """Every audit message queued in :data:`AUDIT_QUEUES`, or ``None`` when the kernel has
    none of those queues (built without ``CONFIG_AUDIT``)."""
    found = False
    out = []
    for name in AUDIT_QUEUES:
        try:
            head = prog[name]
        except ObjectNotFoundError:
            continue
        found = True
        for skb in _queue_skbs(head):
            length = int(skb.len)
            data = prog.read(int(cast("unsigned long", skb.data)), length) if length else b""
            if len(data) < _NLMSGHDR.size:
                continue
            _nlen, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data)
            out.append(AuditMessage(name, int(skb), kind, data[_NLMSGHDR.size:].split(b"\0", 1)[0]))
    return out if found else None
