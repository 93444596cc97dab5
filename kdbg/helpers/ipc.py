"""System V IPC: drgn's ``drgn.helpers.linux.ipc``.

An IPC namespace (``struct ipc_namespace``; ``init_ipc_ns`` by default) keeps three
``ids[]`` tables, semaphores, message queues and shared memory in that order
(``IPC_SEM_IDS``, ``IPC_MSG_IDS``, ``IPC_SHM_IDS``), each an IDR of the objects'
``struct kern_ipc_perm``. An identifier is ``seq << ipcmni_seq_shift | index``
(``ipc_mni_shift``, 15 unless ``ipcmni_extend``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, SupportsIndex

from kdbg.core.conversions import NULL, container_of
from kdbg.core.default import takes_object_or_program_or_default, takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.errors import NotFoundError
from kdbg.helpers.common import deref_if_pointer, global_object, pointer_to, symbols_complete, unknown_global
from kdbg.helpers.format import decode_flags
from kdbg.helpers.idr import idr_find, idr_for_each

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "decode_sysv_shm_flags",
    "decode_sysv_shm_mode_flags",
    "find_sysv_msg_queue",
    "find_sysv_sem_array",
    "find_sysv_shm",
    "for_each_sysv_msg_queue",
    "for_each_sysv_sem_array",
    "for_each_sysv_shm",
]

_SEM, _MSG, _SHM = 0, 1, 2
#: ``IPCMNI_SHIFT``: the identifier's index bits without ``ipcmni_extend``.
_IPCMNI_SHIFT = 15
#: ``SHM_DEST`` and ``SHM_LOCKED`` in ``shm_perm.mode`` (ABI).
_SHM_MODE_FLAGS = (("SHM_DEST", 0o1000), ("SHM_LOCKED", 0o2000))


def _ids(prog: Program, ns: Optional[Object], kind: int) -> Object:
    space = deref_if_pointer(ns) if ns is not None else global_object(prog, "init_ipc_ns", "struct ipc_namespace")
    return space.ids[kind].ipcs_idr.address_of_()


def _each(prog: Program, ns: Optional[Object], kind: int, type_name: str, member: str) -> Iterator[Object]:
    for _, entry in idr_for_each(_ids(prog, ns, kind)):
        yield container_of(entry, type_name, member)


def _find(prog: Program, ns: Optional[Object], ipc_id: SupportsIndex, kind: int, type_name: str,
          member: str) -> Object:
    try:
        shift = int(prog["ipc_mni_shift"])
    except NotFoundError:  # before 5.1: IPCMNI's shift
        if not symbols_complete(prog):
            raise unknown_global(prog, "ipc_mni_shift", "the IPC identifiers' index bits") from None
        shift = _IPCMNI_SHIFT
    value = integer_value(ipc_id)
    entry = idr_find(_ids(prog, ns, kind), value & ((1 << shift) - 1))
    if not int(entry):
        return NULL(prog, pointer_to(prog, type_name))
    obj = container_of(entry, type_name, member)
    if int(obj.member_(member).seq) != value >> shift:
        return NULL(prog, obj.type_)
    return obj


@takes_object_or_program_or_default
def for_each_sysv_msg_queue(prog: Program, ns: Optional[Object]) -> Iterator[Object]:
    """Every message queue of IPC namespace ``ns`` (``struct ipc_namespace *``; the
    initial one when given a program or nothing), as ``struct msg_queue *``."""
    return _each(prog, ns, _MSG, "struct msg_queue", "q_perm")


@takes_object_or_program_or_default
def find_sysv_msg_queue(prog: Program, ns: Optional[Object], id: SupportsIndex) -> Object:  # noqa: A002
    """The message queue of identifier ``id`` (``struct msg_queue *``, ``NULL`` if none)."""
    return _find(prog, ns, id, _MSG, "struct msg_queue", "q_perm")


@takes_object_or_program_or_default
def for_each_sysv_shm(prog: Program, ns: Optional[Object]) -> Iterator[Object]:
    """Every shared memory segment of ``ns``, as ``struct shmid_kernel *``."""
    return _each(prog, ns, _SHM, "struct shmid_kernel", "shm_perm")


@takes_object_or_program_or_default
def find_sysv_shm(prog: Program, ns: Optional[Object], id: SupportsIndex) -> Object:  # noqa: A002
    """The shared memory segment of identifier ``id`` (``struct shmid_kernel *``, ``NULL``
    if none)."""
    return _find(prog, ns, id, _SHM, "struct shmid_kernel", "shm_perm")


@takes_object_or_program_or_default
def for_each_sysv_sem_array(prog: Program, ns: Optional[Object]) -> Iterator[Object]:
    """Every semaphore array of ``ns``, as ``struct sem_array *``."""
    return _each(prog, ns, _SEM, "struct sem_array", "sem_perm")


@takes_object_or_program_or_default
def find_sysv_sem_array(prog: Program, ns: Optional[Object], id: SupportsIndex) -> Object:  # noqa: A002
    """The semaphore array of identifier ``id`` (``struct sem_array *``, ``NULL`` if none)."""
    return _find(prog, ns, id, _SEM, "struct sem_array", "sem_perm")


def decode_sysv_shm_flags(shm: Object) -> str:
    """The flags of a shared memory segment (``struct shmid_kernel *``) by name
    (``'SHM_LOCKED'``)."""
    return decode_sysv_shm_mode_flags(shm.prog_, int(deref_if_pointer(shm).shm_perm.mode))


@takes_program_or_default
def decode_sysv_shm_mode_flags(prog: Program, value: SupportsIndex) -> str:
    """The flags in a shared memory segment's ``mode`` by name (``0o2777`` is
    ``'SHM_LOCKED'``; the permission bits are left out)."""
    return decode_flags(integer_value(value) & ~0o777, _SHM_MODE_FLAGS, bit_numbers=False)
