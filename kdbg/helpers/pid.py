"""PIDs and finding tasks: drgn's ``drgn.helpers.linux.pid``.

Each takes a program, a ``struct pid_namespace *`` or neither (the default program), as
drgn's do; with a program or neither, the namespace is the initial one (``init_pid_ns``).
PIDs live in the namespace's IDR; a PID's tasks hang off
``pid->tasks[type]`` through ``task_struct.pid_links[type]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Optional, SupportsIndex, Union

from kdbg.core.default import takes_object_or_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object, value_object
from kdbg.errors import KdbgError, ObjectNotFoundError, ObjectTypeError
from kdbg.helpers.common import deref_if_pointer, global_object, is_struct, pointer_to, program_cache
from kdbg.helpers.cpumask import for_each_possible_cpu, for_each_present_cpu
from kdbg.helpers.idr import idr_find, idr_for_each
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.sched import cpu_curr, idle_task
from kdbg.symbols.address import parse_address

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

#: drgn's names only (kdbg.helpers exports exactly drgn's helpers); resolve_task and
#: PID_MAX_LIMIT are kdbg's own, imported by name.
__all__ = ["find_pid", "find_task", "for_each_pid", "for_each_task", "for_each_task_in_group", "pid_task"]

#: include/linux/threads.h: no PID exceeds this on a 64-bit kernel (4M); a larger number
#: names a task by its address.
PID_MAX_LIMIT = 4 * 1024 * 1024


def _ns(prog: Program, ns: Optional[Object]) -> Object:
    """``*ns``, or the initial namespace (``init_pid_ns``) when ``ns`` is ``None``."""
    if ns is not None:
        return deref_if_pointer(ns)
    return global_object(prog, "init_pid_ns", "struct pid_namespace")


class _Links:
    """Offsets for ``pid_task``: ``pid->tasks[type].first`` and
    ``task_struct.pid_links[type]``, per pid type."""

    def __init__(self, prog: Program) -> None:
        self.pid = prog.type("struct pid").strip_typedefs()
        self.task = prog.type("struct task_struct").strip_typedefs()
        self.task_p: Type = pointer_to(prog, "struct task_struct")
        self.pid_p: Type = pointer_to(prog, "struct pid")
        first = prog.type("struct hlist_head").strip_typedefs().offsetof("first")  # type: ignore[attr-defined]
        self._first = first
        self.by_type: dict = {}

    def offsets(self, pid_type: int) -> tuple:
        hit = self.by_type.get(pid_type)
        if hit is None:
            hit = self.by_type[pid_type] = (
                self.pid.offsetof(f"tasks[{pid_type}]") + self._first,  # type: ignore[attr-defined]
                self.task.offsetof(f"pid_links[{pid_type}]"),  # type: ignore[attr-defined]
            )
        return hit


def _links(prog: Program) -> _Links:
    return program_cache(prog, "pid_links", lambda: _Links(prog))


def _pid_task_address(prog: Program, pid: int, pid_type: int) -> int:
    if not pid:
        return 0
    first_off, link_off = _links(prog).offsets(pid_type)
    first = prog.read_word(pid + first_off)
    return first - link_off if first else 0


def pid_task(pid: Object, pid_type: IntegerLike) -> Object:
    """The first task of ``pid`` (``struct pid *``) for ``pid_type`` (``PIDTYPE_PID``
    and so on), as ``struct task_struct *``; ``NULL`` if none."""
    prog = pid.prog_
    addr = _pid_task_address(prog, int(pid), integer_value(pid_type))
    return value_object(prog, _links(prog).task_p, addr)


@takes_object_or_program_or_default
def find_pid(prog: Program, ns: Optional[Object], pid: SupportsIndex) -> Object:
    """The ``struct pid *`` of number ``pid`` in ``ns`` (``struct pid_namespace *``;
    ``None``: the initial one), ``NULL`` if none: drgn's ``find_pid([prog | ns,] pid)``."""
    entry = idr_find(_ns(prog, ns).idr, pid)
    return value_object(prog, _links(prog).pid_p, int(entry))


@takes_object_or_program_or_default
def for_each_pid(prog: Program, ns: Optional[Object]) -> Iterator[Object]:
    """Every ``struct pid *`` of ``ns`` (``None``: the initial namespace), by number."""
    pid_p = _links(prog).pid_p
    for _nr, entry in idr_for_each(_ns(prog, ns).idr):
        yield value_object(prog, pid_p, int(entry))


@takes_object_or_program_or_default
def find_task(prog: Program, ns: Optional[Object], pid: SupportsIndex) -> Object:
    """The task (thread) whose PID is ``pid`` in ``ns`` (``None``: the initial
    namespace), as ``struct task_struct *``; ``NULL`` if none."""
    entry = idr_find(_ns(prog, ns).idr, pid)
    pid_type = int(prog.constant("PIDTYPE_PID"))
    return value_object(prog, _links(prog).task_p, _pid_task_address(prog, int(entry), pid_type))


@takes_object_or_program_or_default
def for_each_task(prog: Program, ns: Optional[Object], *, idle: bool = False) -> Iterator[Object]:
    """Every task (thread) visible in ``ns`` (``None``: the initial namespace), by PID,
    as ``struct task_struct *``; with ``idle``, each present CPU's idle task (PID 0)
    first, as crash lists them: present, not online, because a panic takes the other
    CPUs offline and a dump still holds what they were doing."""
    if idle:
        for cpu in for_each_present_cpu(prog):
            idle_p = idle_task(prog, cpu)
            if int(idle_p):
                yield idle_p
    pid_type = int(prog.constant("PIDTYPE_PID"))
    task_p = _links(prog).task_p
    for _nr, entry in idr_for_each(_ns(prog, ns).idr):
        task = _pid_task_address(prog, int(entry), pid_type)
        if task:
            yield value_object(prog, task_p, task)


def for_each_task_in_group(task: Object, include_self: bool = False) -> Iterator[Object]:
    """The other threads of ``task``'s thread group (and ``task`` with
    ``include_self``), through ``signal->thread_head``."""
    t = deref_if_pointer(task)
    me = t.address_
    for thread in list_for_each_entry("struct task_struct", t.signal.thread_head.address_of_(), "thread_node"):
        if include_self or int(thread) != me:
            yield thread


def _is_task(prog: Program, address: int) -> bool:
    """Whether a task of the kernel lives at ``address``: the one the PID table finds for
    the PID read there, or a CPU's idle or running task (a task that exited and was
    released may still be running its last schedule)."""
    task_p = _links(prog).task_p
    try:
        pid = int(value_object(prog, task_p, address).pid)
        if pid > 0 and int(find_task(prog, pid)) == address:
            return True
        for cpu in for_each_possible_cpu(prog):
            if address in (int(idle_task(prog, cpu)), int(cpu_curr(prog, cpu))):
                return True
    except KdbgError:  # nothing readable there, or a CPU without a runqueue
        return False
    return False


def resolve_task(prog: Program, spec: Union[Object, int, str]) -> Object:
    """The task named by ``spec``, as ``struct task_struct *``, checked against the kernel:

    - a ``struct task_struct`` Object or a pointer to one;
    - an ``int``: a PID up to :data:`PID_MAX_LIMIT`, else a task's address;
    - a ``str``: decimal digits are a PID, anything else an address in
      :func:`kdbg.symbols.address.parse_address`'s syntax (``ffff8880...``, ``SYMBOL+OFF``).

    An address (an Object's too) counts only when a task of the kernel is there: the task
    its PID finds in the PID table, or a CPU's idle or running task; anything else raises
    :class:`~kdbg.errors.ObjectNotFoundError` saying it is not a task. An unknown PID
    raises it too (``no task with PID N``), a non-task Object
    :class:`~kdbg.errors.ObjectTypeError`.
    """
    task_p = _links(prog).task_p
    if isinstance(spec, Object):
        t = deref_if_pointer(spec)
        if not is_struct(t.type_, "struct task_struct"):
            raise ObjectTypeError(f"not a task: a struct task_struct is needed, not {spec.type_.type_name()!r}")
        address = t.address_
        if address is None:
            raise ObjectTypeError("not a task: a struct task_struct value that is not in memory")
    elif isinstance(spec, str):
        word = spec.strip()
        if word.isdigit():
            return _task_of_pid(prog, int(word))
        try:
            address = parse_address(word, lambda: prog.symbol_table)
        except KdbgError as e:
            raise ObjectNotFoundError(f"{word!r} is neither a PID nor a task address: {e}") from None
    elif isinstance(spec, int) and not isinstance(spec, bool):
        if 0 <= spec <= PID_MAX_LIMIT:
            return _task_of_pid(prog, spec)
        address = spec
    else:
        raise ObjectTypeError(f"not a task: a PID, a task address or a task is needed, not {type(spec).__name__}")
    if not _is_task(prog, address):
        raise ObjectNotFoundError(f"{address:#x} is not a task: the kernel's PID table and CPUs have no task there")
    return value_object(prog, task_p, address)


def _task_of_pid(prog: Program, pid: int) -> Object:
    task = find_task(prog, pid)
    if not int(task):
        raise ObjectNotFoundError(f"no task with PID {pid}")
    return task
