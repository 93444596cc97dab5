"""Who holds a lock: drgn's ``drgn.helpers.linux.locking`` (mutexes and read-write
semaphores).

``mutex->owner`` is an ``atomic_long_t`` holding a ``struct task_struct *`` whose low 3
bits are flags since Linux 4.10 (a plain pointer before). ``rw_semaphore->owner`` became an
``atomic_long_t`` in Linux 5.3, with the same tagging, and ``count`` bit 0
(``RWSEM_WRITER_LOCKED``) tells a writer from readers since then; before, only the owner
could tell. Each form is recognised from BTF.
"""

from __future__ import annotations

import enum

from kdbg.core.object import Object
from kdbg.core.typeinfo import K_PTR, type_info
from kdbg.helpers.common import deref_if_pointer, pointer_to, program_cache

__all__ = ["RwsemLocked", "mutex_owner", "rwsem_locked", "rwsem_owner"]

#: ``MUTEX_FLAGS`` and ``RWSEM_OWNER_FLAGS_MASK``: the flag bits under the owner pointer.
_OWNER_FLAGS = 0x7


class RwsemLocked(enum.Enum):
    """Whether a read-write semaphore is unlocked, read-locked or write-locked (true
    unless unlocked)."""

    UNLOCKED = enum.auto()
    READ_LOCKED = enum.auto()
    WRITE_LOCKED = enum.auto()

    def __bool__(self) -> bool:
        return self is not RwsemLocked.UNLOCKED


def _owner_value(lock: Object) -> int:
    """The raw owner word of a mutex or rwsem: ``owner.counter``, or the pointer itself."""
    owner = lock.owner
    if type_info(owner.type_).kind == K_PTR:
        return int(owner)
    return int(owner.counter)


def _task(lock: Object, value: int) -> Object:
    return Object(lock.prog_, pointer_to(lock.prog_, "struct task_struct"), value & ~_OWNER_FLAGS)


def mutex_owner(lock: Object) -> Object:
    """The task holding ``lock`` (``struct mutex *``), ``struct task_struct *``
    (``NULL`` if none). Before Linux 4.10 the owner is a plain pointer, returned as is."""
    m = deref_if_pointer(lock)
    owner = m.owner
    if type_info(owner.type_).kind == K_PTR:
        return owner.read_()
    return _task(m, int(owner.counter))


def _new_scheme(sem: Object) -> bool:
    prog = sem.prog_
    return program_cache(prog, "locking.rwsem_atomic_owner",
                         lambda: type_info(prog.type("struct rw_semaphore").strip_typedefs()
                                           .member("owner").type).kind != K_PTR)


def rwsem_locked(sem: Object) -> RwsemLocked:
    """Whether ``sem`` (``struct rw_semaphore *``) is unlocked, read-locked or
    write-locked. Before Linux 5.3 the owner word decides between readers and a writer
    (``RWSEM_READER_OWNED``)."""
    s = deref_if_pointer(sem)
    count = int(s.count.counter)
    if not count:
        return RwsemLocked.UNLOCKED
    if _new_scheme(s):
        return RwsemLocked.WRITE_LOCKED if count & 1 else RwsemLocked.READ_LOCKED
    owner = _owner_value(s)
    # Linux 4.20 to 5.2 tag the last reader's task pointer with bit 0; before, the owner
    # of a read-locked semaphore is exactly RWSEM_READER_OWNED (1).
    reader = owner & 1 if "__rwsem_set_reader_owned" in s.prog_ else owner == 1
    return RwsemLocked.READ_LOCKED if reader else RwsemLocked.WRITE_LOCKED


def rwsem_owner(sem: Object) -> Object:
    """The task that holds ``sem`` (``struct task_struct *``): reliable when write-locked;
    otherwise maybe ``NULL`` or the last reader, as the kernel leaves it."""
    s = deref_if_pointer(sem)
    return _task(s, _owner_value(s))
