"""Process address spaces: drgn's ``drgn.helpers.linux.mm`` helpers that read through a
``struct mm_struct`` (page-table walks, reading process memory, command lines and
environments, VMAs, RSS and size).

Translation walks the process's own page tables from ``mm->pgd`` with the architecture's
walker (:meth:`kdbg.arch.Translator.walk_root`; x86-64: 4 or 5 levels, 1 GiB and 2 MiB
pages; arm64: its granule and levels, blocks). A page that is not present (never touched, swapped out, or left out of a
filtered dump) raises :class:`~kdbg.errors.FaultError` naming the address, as drgn's do.

VMAs: since Linux 6.1 ``mm->mm_mt`` is a maple tree whose leaves map each VMA's range to
the ``struct vm_area_struct *``; before, ``mm->mmap`` lists them and ``mm->mm_rb`` is a
red-black tree of them. The maple-tree walk here is the minimal one VMAs need (leaves in
index order, and a lookup), bounded like every walk (:class:`~kdbg.helpers.common.Walk`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator, List, NamedTuple, Optional, Tuple

from kdbg.arch import PageTableLeaf, Translator, translator_for
from kdbg.core.conversions import cast
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object, value_object
from kdbg.core.platform import machine_of
from kdbg.errors import CoreError, ObjectTypeError, ValidationError
from kdbg.helpers.common import Walk, deref_if_pointer, describe_address, has_member, program_cache
from kdbg.helpers.fs import d_path
from kdbg.helpers.mm import memory_map, phys_to_page, virt_to_phys
from kdbg.helpers.percpu import percpu_counter_sum
from kdbg.helpers.pid import for_each_task_in_group
from kdbg.helpers.rbtree import rb_find

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "TaskRss",
    "access_process_vm",
    "access_remote_vm",
    "cmdline",
    "environ",
    "follow_page",
    "follow_pfn",
    "follow_phys",
    "for_each_vma",
    "mm_cmdline",
    "mm_environ",
    "page_table_leaf",
    "page_table_walk",
    "task_rss",
    "task_vsize",
    "vma_find",
    "vma_name",
]

_MASK = (1 << 64) - 1
#: The most bytes one access_remote_vm() call reads (a command line is at most a few MiB).
_MAX_READ = 1 << 30


def _int(value: IntegerLike) -> int:
    """An address argument as an unsigned 64-bit int."""
    return integer_value(value) & _MASK


def _mm(mm: Object, what: str) -> Object:
    if not isinstance(mm, Object):
        raise ObjectTypeError(f"{what}: expected a struct mm_struct *, not {type(mm).__name__}")
    return deref_if_pointer(mm)


# ------------------------------------------------------------------------ translation
def _walker(prog: Program) -> Translator:
    """The machine's page-table walker over the target's physical memory."""

    def make() -> Translator:
        mem = prog.memory
        if mem is None:
            raise CoreError("process address spaces need the target's memory (types and symbols only)")
        try:
            arch = getattr(mem, "arch", None)  # a vmcore's own translator
        except CoreError:
            arch = None
        if arch is not None and hasattr(arch, "walk_root"):
            return arch
        if mem.vmcoreinfo is None:
            raise CoreError("walking a process's page tables needs VMCOREINFO (phys_base, paging depth)")
        return translator_for(lambda address, size: mem.read(address, size, physical=True), mem.vmcoreinfo,
                              None, None, machine_of(prog))

    return program_cache(prog, "addrspace.walker", make)


def page_table_walk(prog: Program, address: IntegerLike,
                    mm: Optional[Object] = None) -> Tuple[int, List[Tuple[int, int, int]]]:
    """The page-table walk of ``address`` level by level (kdbg's addition, for ``vtop`` and
    ``vm -p``): ``(virtual address of the top-level table, [(shift, physical address of the
    entry, entry), ...])`` in the kernel's page tables, or ``mm``'s; the list ends at the
    leaf or at the first entry that is not present (the architecture's ``walk_entries``;
    :func:`page_table_leaf` reads the last one)."""
    walker = _walker(prog)
    if mm is None:
        return walker.pgd_va, walker.walk_entries(_int(address))
    m = _mm(mm, "page_table_walk")
    return int(m.pgd), walker.walk_entries(_int(address), _root(m))


def page_table_leaf(prog: Program, shift: int, entry: int) -> PageTableLeaf:
    """What the last entry ``(shift, _, entry)`` of a :func:`page_table_walk` maps, by the
    target machine's rules (:class:`kdbg.arch.PageTableLeaf`: the frame, or a swap entry's
    type and offset, or nothing, and the span of its level)."""
    return _walker(prog).leaf(shift, entry)


def _root(mm: Object) -> int:
    """The physical address of the address space's top-level page table."""
    return int(virt_to_phys(mm.prog_, int(mm.pgd)))


def _translate(prog: Program, root: int, address: int) -> Tuple[int, int]:
    """``(pa, bytes left in its page)`` of ``address`` in the address space at ``root``."""
    pa, size = _walker(prog).walk_root(root, address)
    return pa, size - (address & (size - 1))


def follow_phys(mm: Object, addr: IntegerLike) -> Object:
    """The physical address ``addr`` maps to in address space ``mm``
    (``struct mm_struct *``), ``phys_addr_t``; :class:`~kdbg.errors.FaultError` when it
    is not mapped."""
    m = _mm(mm, "follow_phys")
    return Object(m.prog_, "phys_addr_t", _translate(m.prog_, _root(m), _int(addr))[0])


def follow_pfn(mm: Object, addr: IntegerLike) -> Object:
    """The page frame ``addr`` maps to in ``mm`` (``unsigned long``)."""
    prog = mm.prog_
    return Object(prog, "unsigned long", int(follow_phys(mm, addr)) >> memory_map(prog).page_shift)


def follow_page(mm: Object, addr: IntegerLike) -> Object:
    """The page ``addr`` maps to in ``mm`` (``struct page *``)."""
    return phys_to_page(mm.prog_, follow_phys(mm, addr))


def access_remote_vm(mm: Object, address: IntegerLike, size: IntegerLike) -> bytes:
    """``size`` bytes at ``address`` of address space ``mm`` (``struct mm_struct *``);
    :class:`~kdbg.errors.FaultError` at the first byte that is not mapped."""
    m = _mm(mm, "access_remote_vm")
    prog = m.prog_
    start, n = _int(address), integer_value(size)
    if not 0 <= n <= _MAX_READ:
        raise ValueError(f"access_remote_vm: size {n} is not between 0 and {_MAX_READ}")
    root = _root(m) if n else 0
    out: List[bytes] = []
    at, end = start, start + n
    while at < end:
        pa, left = _translate(prog, root, at)
        chunk = min(left, end - at)
        out.append(prog.read(pa, chunk, physical=True))
        at += chunk
    return b"".join(out)


def access_process_vm(task: Object, address: IntegerLike, size: IntegerLike) -> bytes:
    """``size`` bytes at ``address`` of the task's address space (``struct task_struct *``)."""
    return access_remote_vm(deref_if_pointer(task).mm.read_(), address, size)


def _strings(mm: Object, start: str, end: str) -> List[bytes]:
    m = _mm(mm, "mm_cmdline")
    first, last = int(m.member_(start)), int(m.member_(end))
    return access_remote_vm(m.address_of_(), first, max(last - first, 0)).split(b"\0")[:-1]


def mm_cmdline(mm: Object) -> List[bytes]:
    """The command line of address space ``mm`` (``struct mm_struct *``, not NULL), one
    ``bytes`` per argument."""
    return _strings(mm, "arg_start", "arg_end")


def mm_environ(mm: Object) -> List[bytes]:
    """The environment of address space ``mm`` (not NULL), one ``bytes`` per variable."""
    return _strings(mm, "env_start", "env_end")


def cmdline(task: Object) -> Optional[List[bytes]]:
    """The task's command line (``[b'sleep', b'1000']``), ``None`` for a kernel thread."""
    mm = deref_if_pointer(task).mm.read_()
    return mm_cmdline(mm) if int(mm) else None


def environ(task: Object) -> Optional[List[bytes]]:
    """The task's environment (``[b'HOME=/', ...]``), ``None`` for a kernel thread."""
    mm = deref_if_pointer(task).mm.read_()
    return mm_environ(mm) if int(mm) else None


# ------------------------------------------------------------------------- maple trees
#: Maple node encoding (include/linux/maple_tree.h): the node is 256-byte aligned, the type
#: in bits 3-6 of the encoded pointer; leaves are the types below maple_range_64.
_NODE_MASK = 0xFF
_TYPE_SHIFT, _TYPE_MASK = 3, 0xF
_LEAF_64, _RANGE_64, _ARANGE_64 = 1, 2, 3
#: xa_mk_internal(257): a reserved, empty slot.
_ZERO_ENTRY = (257 << 2) | 2


def _is_node(entry: int) -> bool:
    return entry & 3 == 2 and entry > 4096


class _MapleLayout:
    """Offsets of ``struct maple_node``'s two node shapes, from BTF."""

    def __init__(self, prog: Program) -> None:
        node = prog.type("struct maple_node").unaliased()
        self.size = node.sizeof()
        self.shapes = {}
        for kind, member in ((_RANGE_64, "mr64"), (_ARANGE_64, "ma64")):
            pivots = node.offsetof(f"{member}.pivot")  # type: ignore[attr-defined]
            slots = node.offsetof(f"{member}.slot")  # type: ignore[attr-defined]
            end = node.offsetof(f"{member}.meta.end")  # type: ignore[attr-defined]
            self.shapes[kind] = (pivots, slots, end, (slots - pivots) // 8)  # pivot[] precedes slot[]


def _node(prog: Program, entry: int, high: int) -> Tuple[bool, List[int], List[int]]:
    """``(is_leaf, pivots, slots)`` of an encoded node whose range ends at ``high``, the
    pivots cut to the node's used slots (``len(slots) == len(pivots) + 1``)."""
    lay: _MapleLayout = program_cache(prog, "addrspace.maple", lambda: _MapleLayout(prog))
    kind = (entry >> _TYPE_SHIFT) & _TYPE_MASK
    if kind not in (_LEAF_64, _RANGE_64, _ARANGE_64):
        raise ValidationError(f"maple node {entry:#x} has unknown type {kind}")
    raw = prog.read(entry & ~_NODE_MASK, lay.size)
    pivots_at, slots_at, end_at, count = lay.shapes[_ARANGE_64 if kind == _ARANGE_64 else _RANGE_64]
    pivots = [int.from_bytes(raw[pivots_at + 8 * i:pivots_at + 8 * i + 8], "little") for i in range(count)]
    if kind == _ARANGE_64:
        end = raw[end_at]
    elif not pivots[-1]:
        end = raw[end_at]  # the last pivot slot holds the metadata
    elif pivots[-1] == high:
        end = count - 1
    else:
        end = count
    if end > count:
        raise ValidationError(f"maple node {entry:#x} claims {end} slots of {count + 1}")
    slots = [int.from_bytes(raw[slots_at + 8 * i:slots_at + 8 * i + 8], "little") for i in range(end + 1)]
    return kind == _LEAF_64, pivots[:end], slots


def _maple_entries(tree: Object) -> Iterator[Tuple[int, int, int]]:
    """``(first, last, entry)`` of every entry of a maple tree, in index order."""
    prog = tree.prog_
    root = int(tree.ma_root) & _MASK
    if not _is_node(root):
        if root:
            yield 0, 0, root
        return
    walk = Walk(prog, f"maple tree at {describe_address(prog, tree.address_ or 0)}")
    stack = [(root, 0, _MASK)]
    while stack:
        entry, low, high = stack.pop()
        walk.step(entry)
        leaf, pivots, slots = _node(prog, entry, high)
        bounds = [*pivots, high]
        firsts = [low, *(p + 1 for p in pivots)]
        if leaf:
            for i, slot in enumerate(slots):
                if slot and slot != _ZERO_ENTRY:
                    yield firsts[i], bounds[i], slot
        else:
            stack.extend((slots[i], firsts[i], bounds[i]) for i in reversed(range(len(slots))))


def _maple_load(tree: Object, index: int) -> int:
    """The entry of ``index`` in a maple tree (0 when none)."""
    prog = tree.prog_
    entry = int(tree.ma_root) & _MASK
    if not _is_node(entry):
        return entry if index == 0 else 0
    walk = Walk(prog, f"maple tree at {describe_address(prog, tree.address_ or 0)}")
    high = _MASK
    while True:
        walk.step(entry)
        leaf, pivots, slots = _node(prog, entry, high)
        offset = next((i for i, p in enumerate(pivots) if p >= index), len(pivots))
        if offset < len(pivots):
            high = pivots[offset]
        entry = slots[offset]
        if leaf:
            return 0 if entry == _ZERO_ENTRY else entry


# -------------------------------------------------------------------------------- VMAs
def for_each_vma(mm: Object) -> Iterator[Object]:
    """Every VMA of address space ``mm`` (``struct mm_struct *``), by address, as
    ``struct vm_area_struct *``."""
    m = _mm(mm, "for_each_vma")
    prog = m.prog_
    t = prog.type("struct vm_area_struct *")
    if has_member(prog, "struct mm_struct", "mm_mt"):  # 6.1 and later
        for _first, _last, entry in _maple_entries(m.mm_mt):
            yield value_object(prog, t, entry)
        return
    walk = Walk(prog, f"VMA list of mm {describe_address(prog, m.address_ or 0)}")
    vma = m.mmap.read_()
    while int(vma):
        walk.step(int(vma))
        yield vma
        vma = vma.vm_next.read_()


def vma_find(mm: Object, addr: IntegerLike) -> Object:
    """The VMA of ``mm`` holding ``addr`` (``struct vm_area_struct *``, ``NULL`` if none)."""
    m = _mm(mm, "vma_find")
    prog = m.prog_
    address = _int(addr)
    if has_member(prog, "struct mm_struct", "mm_mt"):
        return cast("struct vm_area_struct *", Object(prog, "void *", _maple_load(m.mm_mt, address)))

    def cmp(key: int, vma: Object) -> int:
        if key < int(vma.vm_start):
            return -1
        return 1 if key >= int(vma.vm_end) else 0

    return rb_find("struct vm_area_struct", m.mm_rb.address_of_(), "vm_rb", address, cmp)


def vma_name(vma: Object) -> bytes:
    """What ``/proc/PID/maps`` names the VMA (``struct vm_area_struct *``): its file's
    path, ``[heap]``, ``[stack]``, ``[vdso]`` and the other special mappings, ``[anon:NAME]``
    or ``[anon_shmem:NAME]`` for named anonymous memory, else ``b''``."""
    v = deref_if_pointer(vma)
    prog = v.prog_
    mm = v.vm_mm.read_()
    has_anon_name = v.type_.unaliased().has_member("anon_name")
    vm_file = v.vm_file.read_()
    if int(vm_file):
        # 6.2 and later: anon_name is its own member; 5.17 to 6.1 it shares a union with
        # vma->shared and only means something without a file.
        if int(mm) and has_anon_name and v.anon_name.address_ != v.shared.address_:
            anon = v.anon_name.read_()
            if int(anon):
                return b"[anon_shmem:" + anon.name.string_() + b"]"
        return d_path(vm_file.f_path)
    ops = v.vm_ops.read_()
    special = prog.symbol_table.get("special_mapping_name")
    if int(ops) and special is not None and int(ops.name) == special.address:
        return cast("struct vm_special_mapping *", v.vm_private_data).name.string_()
    if not int(mm):
        return b"[vdso]"
    start, end = int(v.vm_start), int(v.vm_end)
    brk, start_brk = int(mm.brk), int(mm.start_brk)
    if start_brk and brk and start <= brk and end >= start_brk:
        return b"[heap]"
    stack = int(mm.start_stack)
    if stack and start <= stack <= end:
        return b"[stack]"
    if has_anon_name:
        anon = v.anon_name.read_()
        if int(anon):
            return b"[anon:" + anon.name.string_() + b"]"
    return b""


# ------------------------------------------------------------------------ RSS and size
class TaskRss(NamedTuple):
    """A task's resident set in pages (:func:`task_rss`)."""

    file: int
    """Resident file pages."""
    anon: int
    """Resident anonymous pages."""
    shmem: int
    """Resident shared-memory pages."""
    swap: int
    """Swapped-out anonymous pages."""

    @property
    def total(self) -> int:
        """Resident pages in all (``file + anon + shmem``), ``/proc/PID/stat``'s rss."""
        return self.file + self.anon + self.shmem


@takes_program_or_default
def task_rss(prog: Program, task: Object) -> TaskRss:
    """The task's resident set in pages, by kind (all 0 for a kernel thread). Since Linux
    6.2 the counters are per-CPU counters of the mm; before, the mm's counts plus each
    thread's not yet folded cache (``task->rss_stat``)."""
    t = deref_if_pointer(task)
    mm = t.mm.read_()
    if not int(mm):
        return TaskRss(0, 0, 0, 0)
    index = {name: int(prog.constant(name)) for name in ("MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS")}
    with contextlib.suppress(LookupError):  # 4.5 and later
        index["MM_SHMEMPAGES"] = int(prog.constant("MM_SHMEMPAGES"))
    stat = mm.rss_stat
    counts = {}
    if stat.type_.unaliased().kind.name == "ARRAY":  # 6.2 and later: percpu_counter[]
        for name, i in index.items():
            counts[name] = percpu_counter_sum(stat[i])
    else:
        for name, i in index.items():
            counts[name] = int(stat.count[i].counter)
        if has_member(prog, "struct task_struct", "rss_stat"):  # SPLIT_RSS_COUNTING
            for thread in for_each_task_in_group(t, include_self=True):
                cache = thread.rss_stat.count
                for name, i in index.items():
                    counts[name] += int(cache[i])
    return TaskRss(counts["MM_FILEPAGES"], counts["MM_ANONPAGES"], counts.get("MM_SHMEMPAGES", 0),
                   counts["MM_SWAPENTS"])


def task_vsize(task: Object) -> int:
    """The task's virtual memory size in bytes (``/proc/PID/stat``'s vsize; 0 for a
    kernel thread)."""
    t = deref_if_pointer(task)
    mm = t.mm.read_()
    if not int(mm):
        return 0
    return int(mm.total_vm) << memory_map(t.prog_).page_shift

