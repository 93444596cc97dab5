"""``ipcs``: System V shared memory, semaphores and message queues, as crash's ``ipcs``.

``ipcs`` prints three tables (``-m`` shared memory, ``-s`` semaphore arrays, ``-q``
message queues; any of them alone with its option), with crash's columns: the object's
address (``SHMID_KERNEL``, ``SEM_ARRAY``, ``MSG_QUEUE``), the key and the identifier, the
owner's uid, the permission bits in octal, then the segment's bytes, attaches and status
(``dest``, ``locked``), the array's semaphore count, or the queue's bytes and messages.
``-n PID|TASK``: the IPC namespace of that task (default: ``init_ipc_ns``).  ``ID``: only
the objects with that identifier.  ``--json``: the same as data.  The objects come from
:mod:`kdbg.helpers.ipc` (the namespace's IDRs).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.ipc import for_each_sysv_msg_queue, for_each_sysv_sem_array, for_each_sysv_shm
from kdbg.helpers.pid import resolve_task
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["ipcs_cmd", "ipcs_rows"]

#: crash's headers (``ipcs.c``), by table.
HEADERS = {
    "shm": "SHMID_KERNEL     KEY      SHMID      UID   PERMS BYTES      NATTCH STATUS",
    "sem": "SEM_ARRAY        KEY      SEMID      UID   PERMS NSEMS     ",
    "msg": "MSG_QUEUE        KEY      MSQID      UID   PERMS USED-BYTES   MESSAGES",
}
#: ``SHM_DEST`` and ``SHM_LOCKED`` in ``shm_perm.mode`` (ABI), as crash's ``STATUS`` names them.
SHM_STATUS = ((0o1000, "dest"), (0o2000, "locked"))


def _perm(obj: Any, member: str) -> Dict[str, Any]:
    perm = obj.member_(member)
    return {"address": int(obj.address_of_()), "key": int(perm.key) & 0xFFFFFFFF, "id": int(perm.id),
            "uid": int(perm.uid.val), "perms": int(perm.mode) & 0o777, "mode": int(perm.mode)}


def ipcs_rows(prog: Any, ns: Optional[Any] = None) -> Dict[str, List[Dict[str, Any]]]:
    """The System V IPC objects of *ns* (``struct ipc_namespace *``; ``None``: the initial
    namespace) by table: ``shm``, ``sem``, ``msg``."""
    where = prog if ns is None else ns
    shm = [{**_perm(s, "shm_perm"), "bytes": int(s.shm_segsz), "nattch": int(s.shm_nattch),
            "status": " ".join(name for bit, name in SHM_STATUS if int(s.shm_perm.mode) & bit)}
           for s in (deref_if_pointer(x) for x in for_each_sysv_shm(where))]
    sem = [{**_perm(s, "sem_perm"), "nsems": int(s.sem_nsems)}
           for s in (deref_if_pointer(x) for x in for_each_sysv_sem_array(where))]
    msg = [{**_perm(q, "q_perm"), "used_bytes": int(q.q_cbytes), "messages": int(q.q_qnum)}
           for q in (deref_if_pointer(x) for x in for_each_sysv_msg_queue(where))]
    return {"shm": shm, "sem": sem, "msg": msg}


def _line(table: str, r: Dict[str, Any]) -> str:
    head = f"{r['address']:016x} {r['key']:08x} {r['id']:<10d} {r['uid']:<5d} {r['perms']:<5o} "
    if table == "shm":
        return head + f"{r['bytes']:<10d} {r['nattch']:<7d} {r['status']}"
    if table == "sem":
        return head + f"{r['nsems']:<10d}"
    return head + f"{r['used_bytes']:<12d} {r['messages']}"


@command("ipcs", "System V IPC facilities, as crash's ipcs", arguments=[
    argument("-m", dest="shm", action="store_true", help="shared memory segments"),
    argument("-s", dest="sem", action="store_true", help="semaphore arrays"),
    argument("-q", dest="msg", action="store_true", help="message queues"),
    argument("-n", dest="task", metavar="PID|TASK", help="the IPC namespace of this task"),
    argument("id", nargs="?", metavar="ID", help="only the objects with this identifier"),
    argument("--json", action="store_true", help="the objects as JSON"),
])
def ipcs_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the System V IPC objects."""
    try:
        wanted = int(args.id, 0) if args.id is not None else None
    except ValueError:
        raise ExpressionError(f"ipcs: {args.id!r} is not an IPC identifier") from None
    tables = [t for t in ("shm", "sem", "msg") if getattr(args, t)] or ["shm", "sem", "msg"]
    ns = deref_if_pointer(resolve_task(prog, args.task)).nsproxy.ipc_ns if args.task is not None else None
    rows = ipcs_rows(prog, ns)
    shown = {t: [r for r in rows[t] if wanted is None or r["id"] == wanted] for t in tables}
    if wanted is not None and not any(shown.values()):
        raise ExpressionError(f"ipcs: no IPC object with identifier {args.id}")
    if ctx.json or args.json:
        ctx.out.write(json.dumps(shown) + "\n")
        return
    blocks = ["\n".join([HEADERS[t], *(_line(t, r) for r in shown[t])]) for t in tables
              if wanted is None or shown[t]]
    ctx.out.write("\n\n".join(blocks) + "\n")
