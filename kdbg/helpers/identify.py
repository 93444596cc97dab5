"""What an address is: drgn's ``drgn.helpers.common.memory`` (``identify_address``,
``identify_address_all``, ``print_annotated_memory``) and ``drgn.helpers.common.stack``'s
``print_annotated_stack``.

An address is recognised, most specific first, as:

* a symbol (``function symbol: schedule+0x5``, ``object symbol: jiffies+0x0``), where
  ``init_task`` is first a task and ``init_stack`` first a task stack; a symbol in a module
  (the vmalloc area) is also its vmap area;
* outside the direct map: a ``struct page`` of the memory map (``page: pfn N +0x8``), else a
  vmap area with its ``vm_struct`` (``vmap: START-END caller FUNC+0x..``), preceded by the
  task whose stack it is when kernel stacks are vmap'ed (``task stack: PID (COMM) +0x..``);
* in the direct map: a slab object (``slab object: CACHE+0x..``, ``free slab object``, or
  ``corrupted slab object`` when the freelist cannot be walked), preceded by the task when
  the object is an allocated ``task_struct`` (``task: PID (COMM) +0x..``) or by the task
  stack when stacks come from a slab cache; a direct-map address outside any slab is a
  task stack when stacks come from the page allocator.

Kernel stacks are aligned to ``THREAD_SIZE``, so the stack holding an address starts at the
address rounded down to it; every task's and every CPU's idle task's stack is a candidate.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional, Protocol, Tuple, Union

from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.errors import FaultError, NotFoundError
from kdbg.helpers.common import has_member, program_cache
from kdbg.helpers.cpumask import for_each_online_cpu
from kdbg.helpers.format import escape_ascii_string
from kdbg.helpers.mm import in_direct_map
from kdbg.helpers.mmzone import for_each_valid_page_range
from kdbg.helpers.pid import find_task, for_each_task
from kdbg.helpers.sched import idle_task, task_cpu, thread_size
from kdbg.helpers.slab import SlabObjectInfo, slab_object_info
from kdbg.helpers.vmalloc import find_vmap_area

if TYPE_CHECKING:
    from kdbg.core.program import Program
    from kdbg.symbols.table import Symbol

__all__ = [
    "IdentifiedPage",
    "IdentifiedSlabObject",
    "IdentifiedSymbol",
    "IdentifiedTaskStack",
    "IdentifiedTaskStruct",
    "IdentifiedVmap",
    "identify_address",
    "identify_address_all",
    "print_annotated_memory",
    "print_annotated_stack",
]

_MASK = (1 << 64) - 1
#: A stack trace's frames are one stack while each frame's sp is at most this far above
#: the previous one's (kernel stacks are KiBs, user stacks MiBs).
_MAX_FRAME_GAP = 128 << 20


def _comm(task: Object) -> str:
    return task.comm.string_().decode(sys.getfilesystemencoding(), "surrogateescape")


@dataclasses.dataclass
class IdentifiedSymbol:
    """An address inside a symbol."""

    address: int
    symbol: Symbol
    """The symbol holding the address."""

    def __str__(self) -> str:
        kind = getattr(self.symbol.kind, "name", "")
        what = {"FUNC": "function symbol", "OBJECT": "object symbol"}.get(kind, "symbol")
        return f"{what}: {self.symbol.name}+{hex(self.address - self.symbol.address)}"


@dataclasses.dataclass
class IdentifiedTaskStruct:
    """An address inside a ``struct task_struct``."""

    address: int
    task: Object
    """The task (``struct task_struct *``)."""

    def __str__(self) -> str:
        start = int(self.task)
        offset = f" +{hex(self.address - start)}" if self.address > start else ""
        return f"task: {int(self.task.pid)} ({_comm(self.task)}){offset}"


@dataclasses.dataclass
class IdentifiedTaskStack:
    """An address inside a task's kernel stack."""

    address: int
    task: Object
    """The task whose stack it is (``struct task_struct *``)."""

    def __str__(self) -> str:
        return f"task stack: {int(self.task.pid)} ({_comm(self.task)}) +{hex(self.address - int(self.task.stack))}"


@dataclasses.dataclass
class IdentifiedSlabObject:
    """An address inside an object of a slab cache."""

    address: int
    slab_object_info: SlabObjectInfo
    """The object and its cache."""

    def __str__(self) -> str:
        info = self.slab_object_info
        name = escape_ascii_string(info.slab_cache.name.string_(), escape_backslash=True)
        state = {True: "", None: "corrupted "}.get(info.allocated, "free ")
        return f"{state}slab object: {name}+{hex(self.address - info.address)}"


@dataclasses.dataclass
class IdentifiedVmap:
    """An address inside a vmap area (vmalloc, vmap, ioremap, module memory)."""

    address: int
    vmap_area: Object
    """The ``struct vmap_area *``."""
    vm_struct: Object
    """Its ``struct vm_struct *``."""

    def __str__(self) -> str:
        caller = int(self.vm_struct.caller) & _MASK
        try:
            sym = self.vm_struct.prog_.symbol(caller)
        except LookupError:
            by = ""
        else:
            by = f" caller {sym.name}+{hex(caller - sym.address)}"
        return f"vmap: {hex(int(self.vmap_area.va_start))}-{hex(int(self.vmap_area.va_end))}{by}"


@dataclasses.dataclass
class IdentifiedPage:
    """An address inside a ``struct page`` of the memory map."""

    address: int
    page: Object
    """The ``struct page *``."""
    pfn: int
    """Its page frame number."""

    def __str__(self) -> str:
        start = int(self.page)
        offset = f" +{hex(self.address - start)}" if self.address > start else ""
        return f"page: pfn {self.pfn}{offset}"


class _Trace(Protocol):
    """What :func:`print_annotated_stack` needs of a stack trace (``prog.stack_trace()``)."""

    prog: Program

    def __iter__(self) -> Iterator[Any]: ...


IdentifiedAddress = Union[IdentifiedSymbol, IdentifiedTaskStruct, IdentifiedTaskStack, IdentifiedSlabObject,
                          IdentifiedVmap, IdentifiedPage]


# ----------------------------------------------------------------------------- facts
def _stacks_from(prog: Program) -> Union[str, Object]:
    """Where kernel stacks come from: ``"vmap"``, ``"pages"``, or the slab cache
    ``thread_stack_cache`` (``struct kmem_cache *``)."""

    def find() -> Union[str, Object]:
        if has_member(prog, "struct task_struct", "stack_vm_area"):  # CONFIG_VMAP_STACK
            return "vmap"
        try:
            return prog["thread_stack_cache"].read_()
        except NotFoundError:
            return "pages"

    return program_cache(prog, "identify.stacks", find)


def _tasks_with_stacks(prog: Program) -> Iterator[Object]:
    """Every task, then the idle tasks of the CPUs after the first (CPU 0's is
    ``init_task``, whose stack is the symbol ``init_stack``)."""
    yield from for_each_task(prog)
    for cpu in for_each_online_cpu(prog):
        if cpu:
            yield idle_task(prog, cpu)


def _stack_owner(prog: Program, addr: int, cache: Optional[Dict[Any, Any]]) -> Optional[Object]:
    """The task whose kernel stack holds ``addr``, if any."""
    base = addr & ~(thread_size(prog) - 1)
    if cache is None:
        for task in _tasks_with_stacks(prog):
            try:
                if int(task.stack) & _MASK == base:
                    return task
            except FaultError:
                continue
        return None
    owners = cache.get("identify.stack_owner")
    if owners is None:
        owners = {}
        for task in _tasks_with_stacks(prog):
            try:
                owners[int(task.stack) & _MASK] = task
            except FaultError:
                continue
        cache["identify.stack_owner"] = owners
    return owners.get(base)


def _page_of(prog: Program, addr: int, cache: Optional[Dict[Any, Any]]) -> Optional[IdentifiedPage]:
    """The ``struct page`` of the memory map holding ``addr``."""
    ranges: Any = None if cache is None else cache.get("identify.page_ranges")
    if ranges is None:
        ranges = for_each_valid_page_range(prog)
        if cache is not None:
            ranges = cache["identify.page_ranges"] = list(ranges)
    for first, end, mem_map in ranges:
        size = mem_map.type_.type.sizeof()
        low, high = int(mem_map) + first * size, int(mem_map) + end * size
        if low <= addr < high:
            index = (addr - low) // size
            return IdentifiedPage(addr, Object(prog, mem_map.type_, low + index * size), first + index)
    return None


def _task_of_object(prog: Program, info: SlabObjectInfo) -> Optional[Object]:
    """The task whose ``task_struct`` the allocated slab object is, if it is one."""
    cachep = program_cache(prog, "identify.task_struct_cachep", lambda: prog["task_struct_cachep"].read_())
    if int(info.slab_cache) != int(cachep):
        return None
    task = Object(prog, "struct task_struct *", info.address)
    if int(cachep.refcount) > 1:  # a merged cache holds other objects too: check the task is one
        pid = int(task.pid)
        if pid:
            found = find_task(prog, pid)
            if not int(found) or int(found) != info.address:
                return None
        elif int(idle_task(prog, task_cpu(task))) != info.address:
            return None
    return task


def _init_task_ranges(prog: Program) -> Tuple[Object, Tuple[int, int], Tuple[int, int]]:
    """``init_task`` (a pointer), its bytes and its stack's bytes."""

    def find() -> Tuple[Object, Tuple[int, int], Tuple[int, int]]:
        task = prog["init_task"]
        start = task.address_ or 0
        stack = int(task.stack) & _MASK
        return task.address_of_(), (start, start + task.type_.sizeof()), (stack, stack + thread_size(prog))

    return program_cache(prog, "identify.init_task", find)


def _vmap(prog: Program, addr: int, stacks: bool, cache: Optional[Dict[Any, Any]]) -> Iterator[IdentifiedAddress]:
    va = find_vmap_area(prog, addr)
    if not int(va):
        return
    vm = va.vm.read_()
    if not int(vm):
        return
    if stacks and _stacks_from(prog) == "vmap":
        task = _stack_owner(prog, addr, cache)
        if task is not None:
            yield IdentifiedTaskStack(addr, task)
    yield IdentifiedVmap(addr, va, vm)


def _direct_map(prog: Program, addr: int, cache: Optional[Dict[Any, Any]]) -> Iterator[IdentifiedAddress]:
    info = slab_object_info(prog, addr)
    stacks = _stacks_from(prog)
    if info is None:
        if isinstance(stacks, str) and stacks == "pages":
            task = _stack_owner(prog, addr, cache)
            if task is not None:
                yield IdentifiedTaskStack(addr, task)
        return
    if info.allocated:
        task = _task_of_object(prog, info)
        if task is not None:
            yield IdentifiedTaskStruct(addr, task)
        elif isinstance(stacks, Object) and int(info.slab_cache) == int(stacks):
            owner = _stack_owner(prog, addr, cache)
            if owner is not None:
                yield IdentifiedTaskStack(addr, owner)
    yield IdentifiedSlabObject(addr, info)


# ---------------------------------------------------------------------------- helpers
@takes_program_or_default
def identify_address_all(prog: Program, addr: IntegerLike, *,
                         cache: Optional[Dict[Any, Any]] = None) -> Iterator[IdentifiedAddress]:
    """Everything ``addr`` is, most specific first (see the module documentation); pass
    the same empty dict as ``cache`` to many calls made close together."""
    address = integer_value(addr) & _MASK
    try:
        symbol: Optional[Symbol] = prog.symbol(address)
    except LookupError:
        symbol = None
    if symbol is not None:
        task, in_task, in_stack = _init_task_ranges(prog)
        if in_task[0] <= address < in_task[1]:
            yield IdentifiedTaskStruct(address, task)
        elif in_stack[0] <= address < in_stack[1]:
            yield IdentifiedTaskStack(address, task)
        yield IdentifiedSymbol(address, symbol)
        yield from _vmap(prog, address, False, cache)  # module symbols are vmap'ed
        return
    if in_direct_map(prog, address):
        yield from _direct_map(prog, address, cache)
        return
    page = _page_of(prog, address, cache)  # x86-64's memory map is the vmemmap
    if page is not None:
        yield page
        return
    yield from _vmap(prog, address, True, cache)


@takes_program_or_default
def identify_address(prog: Program, addr: IntegerLike, *,
                     cache: Optional[Dict[Any, Any]] = None) -> Optional[str]:
    """What ``addr`` is, most specifically (``slab object: dentry+0x10``), or ``None``."""
    for found in identify_address_all(prog, addr, cache=cache):
        return str(found)
    return None


def _annotated(prog: Program, address: int, data: bytes, cache: Dict[Any, Any]) -> Iterator[Tuple[int, str]]:
    """``(address, line)`` of each word of ``data``, read at ``address``."""
    for offset in range(0, len(data), 8):
        value = int.from_bytes(data[offset:offset + 8], "little")  # a short last word as it is
        what = identify_address(prog, value, cache=cache)
        yield address + offset, f"{address + offset:016x}: {value:016x}{'' if what is None else f' [{what}]'}"


@takes_program_or_default
def print_annotated_memory(prog: Program, address: IntegerLike, size: IntegerLike,
                           physical: bool = False) -> None:
    """Print ``size`` bytes at ``address`` a word a line, each word followed by what it
    identifies as (:func:`identify_address`)."""
    start = integer_value(address) & _MASK
    data = prog.read(start, integer_value(size), physical)
    print("ADDRESS           VALUE")
    for _, line in _annotated(prog, start, data, {}):
        print(line)


def print_annotated_stack(trace: _Trace) -> None:
    """Print the stack memory of a stack trace a word a line, each word with what it
    identifies as and each frame at its stack pointer. The frames are cut into stacks
    where a frame was interrupted or its stack pointer is below, or far above, the
    previous frame's; a stack that cannot be read prints its frames alone."""
    prog = trace.prog
    print("STACK POINTER     VALUE")
    cache: Dict[Any, Any] = {}
    frames = list(trace)
    start = 0
    while start < len(frames):
        end = start + 1
        while (end < len(frames) and not frames[end].interrupted
               and 0 <= frames[end].sp - frames[end - 1].sp <= _MAX_FRAME_GAP):
            end += 1
        group = frames[start:end]
        start = end
        low = group[0].sp
        try:
            data = prog.read(low, group[-1].sp + 8 - low)
        except FaultError:
            for frame in group:
                print(f"[stack frame {frame}]")
            continue
        pending = 0
        for at, line in _annotated(prog, low, data, cache):
            while pending < len(group) and group[pending].sp == at:
                print(f"[stack frame {group[pending]}]")
                pending += 1
            print(line)
