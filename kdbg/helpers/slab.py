"""The slab allocator: drgn's ``drgn.helpers.linux.slab`` names and signatures, for SLUB.

Slab caches (``struct kmem_cache``) are on the kernel's ``slab_caches`` list. Which page
holds a slab and which cache it belongs to is in its ``struct page``: since Linux 5.17 the
page is read as a ``struct slab`` (same memory, its own BTF type), before that as the
``struct page`` itself; the helpers pick by whether BTF has ``struct slab``. Whether a page
is a slab page is ``PG_slab`` in ``page->flags`` up to Linux 6.9 and the page type
``PGTY_slab`` in the top byte of ``page_type`` since 6.12 (6.10 and 6.11: the ``PG_slab``
bit of ``page_type``, inverted), each found by its enumerator in BTF.

What can be enumerated without DWARF — everything the allocator itself can, because every
structure involved is in BTF: :func:`slab_cache_for_each_allocated_object` visits every
slab page of the memory map (``vmemmap``, up to ``max_pfn``), so full slabs (on no list
unless ``SLUB_DEBUG`` tracks them), per-node partial slabs, per-CPU partial slabs and the
per-CPU active slabs are all found; an object is free when it is on its slab's
``freelist`` or on a CPU's lockless ``kmem_cache_cpu.freelist``, both decoded with the
cache's ``random`` (``CONFIG_SLAB_FREELIST_HARDENED``, the byte-swapped form of Linux 5.7
and the stable kernels). The limits, as for drgn: only SLUB (SLAB, gone in 6.8, and SLOB
are refused with a clear error); a KFENCE object is reported at the start of its page, not
where KFENCE put it; per-CPU "sheaves" (Linux 6.18) are not read; on a live kernel the
lists change while they are read. A freelist that cycles, leaves its slab or is longer
than the slab raises :class:`~kdbg.errors.ValidationError` naming the cache and slab.
:func:`slab_cache_usage` counts as ``/proc/slabinfo`` does (per-node counters, partial
slabs, CPU freelists); it needs ``CONFIG_SLUB_DEBUG`` (Debian has it).

Beware of slab merging: a cache created with the size and flags of an existing one is that
cache (``refcount > 1``), so its name is not found and its objects are mixed with others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, FrozenSet, Iterator, NamedTuple, Optional, Set, Tuple, Union

from kdbg.btf.types import Type
from kdbg.core.conversions import NULL, cast, container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object, value_object
from kdbg.errors import FaultError, NotFoundError, ObjectNotFoundError, ObjectTypeError, ValidationError
from kdbg.helpers.common import program_cache
from kdbg.helpers.cpumask import for_each_online_cpu
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.mm import memory_map, page_type_test
from kdbg.helpers.nodemask import nr_node_ids
from kdbg.helpers.percpu import per_cpu_ptr
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry
from kdbg.helpers.vmstat import global_node_page_state

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "SlabCacheUsage",
    "SlabObjectInfo",
    "SlabState",
    "SlabTotalUsage",
    "find_containing_slab_cache",
    "find_slab_cache",
    "for_each_slab_cache",
    "get_slab_cache_aliases",
    "print_slab_caches",
    "slab_cache_for_each_allocated_object",
    "slab_cache_is_merged",
    "slab_cache_objects_per_slab",
    "slab_cache_order",
    "slab_cache_pages_per_slab",
    "slab_cache_usage",
    "slab_object_info",
    "slab_state",
    "slab_total_usage",
]

_OO_SHIFT = 16
_OO_MASK = (1 << _OO_SHIFT) - 1
_MASK = (1 << 64) - 1
#: struct page/slab ``objects`` is ``unsigned objects:15`` (unchanged since 2.6.27).
_OBJECTS_BITS = 15
#: How many ``struct page`` to read at once while scanning the memory map.
_CHUNK = 64


@takes_program_or_default
def for_each_slab_cache(prog: Program) -> Iterator[Object]:
    """Every slab cache, as ``struct kmem_cache *``, in ``slab_caches`` order (newest
    last, as ``/proc/slabinfo`` lists them)."""
    return list_for_each_entry("struct kmem_cache", prog["slab_caches"].address_of_(), "list")


@takes_program_or_default
def find_slab_cache(prog: Program, name: Union[str, bytes]) -> Optional[Object]:
    """The slab cache called ``name`` (``struct kmem_cache *``), or ``None``."""
    want = name.encode() if isinstance(name, str) else name
    for s in for_each_slab_cache(prog):
        if s.name.string_() == want:
            return s
    return None


@takes_program_or_default
def print_slab_caches(prog: Program) -> None:
    """Print each slab cache's name and ``(struct kmem_cache *)ADDRESS``."""
    for s in for_each_slab_cache(prog):
        print(f"{s.name.string_().decode(errors='replace')} ({s.type_.type_name()}){int(s):#x}")


def slab_cache_is_merged(slab_cache: Object) -> bool:
    """Whether other caches were merged into this one (``refcount > 1``)."""
    return int(slab_cache.refcount) > 1


def _oo(slab_cache: Object) -> int:
    try:
        return int(slab_cache.oo.x)
    except AttributeError:
        raise ObjectTypeError("only the SLUB allocator is supported (struct kmem_cache has no 'oo')") from None


def slab_cache_objects_per_slab(slab_cache: Object) -> int:
    """Objects in each slab of the cache (SLUB's ``oo``)."""
    return _oo(slab_cache) & _OO_MASK


def slab_cache_order(slab_cache: Object) -> int:
    """The page order of each slab of the cache."""
    return _oo(slab_cache) >> _OO_SHIFT


def slab_cache_pages_per_slab(slab_cache: Object) -> int:
    """Pages in each slab of the cache."""
    return 1 << slab_cache_order(slab_cache)


# ------------------------------------------------------------------------- the memory map
class _PageMap:
    """How to tell a slab page in the memory map and read its slab fields (the memory
    map and the slab-page test are :mod:`kdbg.helpers.mm`'s)."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        mm = memory_map(prog)
        self.vmemmap = mm.vmemmap
        self.direct = mm.page_offset_base
        self.page_size = mm.sizeof_page
        self.max_pfn = mm.max_pfn
        self.page_shift = mm.page_shift
        self._is_slab = page_type_test(prog, "slab")
        page = prog.type("struct page").strip_typedefs()
        try:
            slab: Type = prog.type("struct slab")
            self.slab_type = "struct slab"
        except NotFoundError:
            slab = page
            self.slab_type = "struct page"
        st = slab.strip_typedefs()
        self.slab_cache = st.offsetof("slab_cache")  # type: ignore[attr-defined]
        self.freelist = st.offsetof("freelist")  # type: ignore[attr-defined]
        self.objects_bit = st.offsetof_bits("objects")[0]  # type: ignore[attr-defined]
        self.compound_head = page.offsetof("compound_head")  # type: ignore[attr-defined]

    def is_slab(self, buf: bytes, off: int) -> bool:
        """Whether the ``struct page`` at ``off`` of ``buf`` is a slab page."""
        return self._is_slab(buf[off:off + self.page_size])

    def fields(self, buf: bytes, off: int) -> Tuple[int, int, int]:
        """``(slab_cache, freelist, objects)`` of the slab whose page is at ``off``."""
        def u64(at: int) -> int:
            return int.from_bytes(buf[off + at:off + at + 8], "little")

        bit = self.objects_bit
        raw = int.from_bytes(buf[off + bit // 8:off + bit // 8 + 4], "little")
        return u64(self.slab_cache), u64(self.freelist), (raw >> (bit % 8)) & ((1 << _OBJECTS_BITS) - 1)

    def slabs(self) -> Iterator[Tuple[int, int, int, int]]:
        """``(pfn, slab_cache, freelist, objects)`` of every slab (head) page."""
        ps = self.page_size
        read = self.prog.read
        for start in range(0, self.max_pfn, _CHUNK):
            n = min(_CHUNK, self.max_pfn - start)
            try:
                buf = read(self.vmemmap + start * ps, n * ps)
            except FaultError:
                continue  # a hole in the memory map
            for i in range(n):
                off = i * ps
                if self.is_slab(buf, off):
                    yield (start + i, *self.fields(buf, off))

    def page_of(self, address: int) -> Optional[int]:
        """The pfn of the head page of the slab page holding ``address``, or ``None``."""
        pfn = (address - self.direct) >> self.page_shift
        if not 0 <= pfn < self.max_pfn:
            return None
        ps = self.page_size
        try:
            buf = self.prog.read(self.vmemmap + pfn * ps, ps)
            head = int.from_bytes(buf[self.compound_head:self.compound_head + 8], "little")
            if head & 1:
                pfn = ((head - 1) - self.vmemmap) // ps
                buf = self.prog.read(self.vmemmap + pfn * ps, ps)
        except FaultError:
            return None
        return pfn if self.is_slab(buf, 0) else None


def _page_map(prog: Program) -> _PageMap:
    return program_cache(prog, "slab.page_map", lambda: _PageMap(prog))


# ------------------------------------------------------------------------- SLUB
class _Slub:
    """One SLUB cache: its geometry and freelist decoding."""

    def __init__(self, slab_cache: Object) -> None:
        prog = self.prog = slab_cache.prog_
        self.address = int(slab_cache)
        cache = slab_cache[0].read_()
        if not cache.type_.strip_typedefs().has_member("cpu_slab"):
            raise ObjectTypeError("only the SLUB allocator is supported (struct kmem_cache has no 'cpu_slab')")
        self.cache = cache
        self.name = cache.name.string_().decode(errors="replace")
        self.size = int(cache.size)
        self.offset = int(cache.offset)
        self.red_left_pad = int(cache.red_left_pad) if cache.type_.strip_typedefs().has_member("red_left_pad") else 0
        try:
            self.random: Optional[int] = int(cache.random) & _MASK
        except AttributeError:
            self.random = None
        if self.size <= 0 or self.offset < 0 or self.offset + 8 > self.size:
            raise ValidationError(f"slab cache {self.name!r} at {self.address:#x}: implausible size "
                                  f"{self.size} or freelist offset {self.offset}")
        self.map = _page_map(prog)

    def base(self, pfn: int) -> int:
        return self.map.direct + (pfn << self.map.page_shift) + self.red_left_pad

    def next_free(self, ptr: int) -> int:
        at = ptr + self.offset
        word = self.prog.read_word(at)
        if self.random is None:
            return word
        return word ^ self.random ^ int.from_bytes(at.to_bytes(8, "little"), "big")

    def freelist(self, head: int, base: int, objects: int, what: str) -> Set[int]:
        """The free objects on the freelist starting at ``head`` of the slab at ``base``."""
        out: Set[int] = set()
        end = base + objects * self.size
        ptr = head
        while ptr:
            if not base <= ptr < end or (ptr - base) % self.size:
                raise ValidationError(f"slab cache {self.name!r}: {what} freelist reaches {ptr:#x}, "
                                      f"not an object of its slab {base:#x}")
            if ptr in out:
                raise ValidationError(f"slab cache {self.name!r}: {what} freelist cycles at {ptr:#x}")
            out.add(ptr)
            ptr = self.next_free(ptr)
        return out

    def cpu_free(self) -> Set[int]:
        """Objects on the CPUs' lockless freelists of their active slabs of this cache."""

        out: Set[int] = set()
        cpu_slab = self.cache.cpu_slab
        for cpu in for_each_online_cpu(self.prog):
            c = per_cpu_ptr(cpu_slab, cpu)[0].read_()
            slab = c.slab if c.type_.strip_typedefs().has_member("slab") else c.page
            if not int(slab) or int(slab.slab_cache) != self.address:
                continue
            pfn = (int(slab) - self.map.vmemmap) // self.map.page_size
            objects = int(slab.objects)
            out |= self.freelist(int(c.freelist), self.base(pfn), objects, f"cpu {cpu}")
        return out

    def allocated(self, pointer_type: Type) -> Iterator[Object]:
        cpu_free = self.cpu_free()
        size = self.size
        for pfn, cache, freelist, objects in self.map.slabs():
            if cache != self.address:
                continue
            base = self.base(pfn)
            free = self.freelist(freelist, base, objects, f"slab of page {pfn:#x}")
            for i in range(objects):
                addr = base + i * size
                if addr not in free and addr not in cpu_free:
                    yield value_object(self.prog, pointer_type, addr)


def _pointer(prog: Program, type: Union[str, Type]) -> Type:  # noqa: A002 - drgn's name
    t = prog.type(type) if isinstance(type, str) else type
    return (t.btf if t.btf is not None else prog.btf).pointer_to(t)


def slab_cache_for_each_allocated_object(slab_cache: Object, type: Union[str, Type]) -> Iterator[Object]:  # noqa: A002
    """Every allocated object of a SLUB cache, as a ``type *`` (see the module
    documentation for what is found and the limits)."""
    helper = _Slub(slab_cache)
    return helper.allocated(_pointer(slab_cache.prog_, type))


class SlabCacheUsage(NamedTuple):
    """How many slabs and objects a cache has (:func:`slab_cache_usage`)."""

    num_slabs: int
    """Slabs allocated for the cache."""
    num_objs: int
    """Objects in those slabs, free and allocated."""
    free_objs: int
    """Free objects."""

    @property
    def active_objs(self) -> int:
        """Allocated objects."""
        return self.num_objs - self.free_objs


def slab_cache_usage(slab_cache: Object) -> SlabCacheUsage:
    """Slabs and objects of a SLUB cache, as ``/proc/slabinfo`` counts them: slabs and
    objects from the per-node counters (``CONFIG_SLUB_DEBUG``, as Debian builds), free
    objects from the per-node and per-CPU partial slabs and the CPUs' lockless freelists
    (the active slab's ``inuse`` counts all its objects)."""
    helper = _Slub(slab_cache)
    prog = helper.prog
    free = len(helper.cpu_free())
    cpu_slab = helper.cache.cpu_slab

    for cpu in for_each_online_cpu(prog):
        c = per_cpu_ptr(cpu_slab, cpu)[0]
        if not c.type_.strip_typedefs().has_member("partial"):
            break  # CONFIG_SLUB_CPU_PARTIAL=n
        partial = c.partial.read_()
        for _ in range(1 << 20):
            if not int(partial):
                break
            free += int(partial.objects) - int(partial.inuse)
            partial = partial.next.read_()
        else:
            raise ValidationError(f"slab cache {helper.name!r}: cpu {cpu} partial list does not end")
    slab_t = prog.type(helper.map.slab_type)
    member = "slab_list" if slab_t.strip_typedefs().has_member("slab_list") else "lru"
    num_slabs = num_objs = 0
    nodes = helper.cache.node
    for nid in range(nr_node_ids(prog)):
        node = nodes[nid].read_()
        if not int(node):
            continue
        if not node.type_.strip_typedefs().type.has_member("nr_slabs"):  # type: ignore[attr-defined]
            raise ObjectTypeError("slab_cache_usage() needs CONFIG_SLUB_DEBUG (kmem_cache_node.nr_slabs)")
        num_slabs += int(node.nr_slabs.counter)
        num_objs += int(node.total_objects.counter)
        for slab in list_for_each_entry(slab_t, node.partial.address_of_(), member):
            free += int(slab.objects) - int(slab.inuse)
    return SlabCacheUsage(num_slabs=num_slabs, num_objs=num_objs, free_objs=free)


class SlabObjectInfo(NamedTuple):
    """What :func:`slab_object_info` finds about an address in a slab."""

    slab_cache: Object
    """``struct kmem_cache *`` of the slab."""
    slab: Object
    """The slab: ``struct slab *`` (5.17 and later) or ``struct page *``."""
    address: int
    """Start of the object holding the address."""
    allocated: Optional[bool]
    """Whether that object is allocated (``None`` when its freelists are corrupt)."""

    def __repr__(self) -> str:
        """drgn's: the address in hexadecimal."""
        return (f"SlabObjectInfo(slab_cache={self.slab_cache!r}, slab={self.slab!r}, "
                f"address={hex(self.address)}, allocated={self.allocated})")


@takes_program_or_default
def slab_object_info(prog: Program, addr: IntegerLike) -> Optional[SlabObjectInfo]:
    """The slab object holding ``addr``, or ``None`` when ``addr`` is not in a slab page."""
    m = _page_map(prog)
    address = integer_value(addr) & _MASK
    pfn = m.page_of(address)
    if pfn is None:
        return None
    slab = Object(prog, m.slab_type + " *", m.vmemmap + pfn * m.page_size)
    cache = slab.slab_cache.read_()
    helper = _Slub(cache)
    base = helper.base(pfn)
    objects = int(slab.objects)
    index = (address - base) // helper.size
    start = base + index * helper.size
    try:
        free = helper.freelist(int(slab.freelist), base, objects, f"slab of page {pfn:#x}") | helper.cpu_free()
        allocated: Optional[bool] = start not in free
    except (ValidationError, FaultError):
        allocated = None
    return SlabObjectInfo(cache, slab, start, allocated)


class SlabState(NamedTuple):
    """One SLUB slab as crash's ``kmem ADDR`` shows it (:func:`slab_state`)."""

    memory: int
    """The address of its first object's page (the direct map)."""
    objects: int
    """Its objects."""
    inuse: int
    """Its ``inuse`` count as crash reports it (see :func:`slab_state`)."""
    free: FrozenSet[int]
    """Its free objects: on its own freelist or, for a CPU's active slab, that CPU's."""
    cpu: Optional[int]
    """The CPU whose active slab it is, or ``None``."""
    size: int
    """The cache's object stride (``kmem_cache.size``)."""
    first: int
    """Its first object (after the cache's left red zone)."""


def slab_state(slab_cache: Object, slab: Object) -> SlabState:
    """A SLUB slab's objects and which are free. ``inuse`` is crash's: the slab's own
    ``inuse``, or for a CPU's active slab (whose ``inuse`` counts every object while the
    CPU owns it) its objects less those on the CPU's lockless freelist and, when its own
    freelist is not empty, less the objects the slab counts as free."""
    helper = _Slub(slab_cache)
    m = helper.map
    pfn = (int(slab) - m.vmemmap) // m.page_size
    base = helper.base(pfn)
    objects = int(slab.objects)
    inuse = int(slab.inuse)
    own = int(slab.freelist)
    free = set(helper.freelist(own, base, objects, f"slab of page {pfn:#x}"))
    owner = None
    for cpu in for_each_online_cpu(helper.prog):
        c = per_cpu_ptr(helper.cache.cpu_slab, cpu)[0].read_()
        active = c.slab if c.type_.strip_typedefs().has_member("slab") else c.page
        if int(active) == int(slab):
            owner = cpu
            cpu_free = helper.freelist(int(c.freelist), base, objects, f"cpu {cpu}")
            free |= cpu_free
            inuse = objects - len(cpu_free) - (objects - inuse if own else 0)
            break
    return SlabState(m.direct + (pfn << m.page_shift), objects, inuse, frozenset(free), owner, helper.size, base)


@takes_program_or_default
def find_containing_slab_cache(prog: Program, addr: IntegerLike) -> Object:
    """The ``struct kmem_cache *`` whose slab holds ``addr``, or a NULL one."""
    m = _page_map(prog)
    pfn = m.page_of(integer_value(addr) & _MASK)
    if pfn is None:
        return NULL(prog, "struct kmem_cache *")
    slab = Object(prog, m.slab_type + " *", m.vmemmap + pfn * m.page_size)
    return slab.slab_cache.read_()



class SlabTotalUsage(NamedTuple):
    """Slab memory of the whole kernel in pages (:func:`slab_total_usage`)."""

    reclaimable_pages: int
    """Pages of reclaimable slab caches (``SReclaimable``)."""
    unreclaimable_pages: int
    """Pages of the other slab caches (``SUnreclaim``)."""

    @property
    def total_pages(self) -> int:
        """All slab pages (``Slab``)."""
        return self.reclaimable_pages + self.unreclaimable_pages


@takes_program_or_default
def slab_total_usage(prog: Program) -> SlabTotalUsage:
    """The kernel's reclaimable and unreclaimable slab pages (``/proc/meminfo``'s
    ``SReclaimable`` and ``SUnreclaim``): the node statistics ``NR_SLAB_*_B`` (in pages
    despite the name; ``NR_SLAB_*`` before 5.9)."""
    for suffix in ("_B", ""):
        try:
            reclaimable = prog.constant("NR_SLAB_RECLAIMABLE" + suffix)
            unreclaimable = prog.constant("NR_SLAB_UNRECLAIMABLE" + suffix)
        except NotFoundError:
            continue
        return SlabTotalUsage(global_node_page_state(prog, reclaimable), global_node_page_state(prog, unreclaimable))
    raise ObjectNotFoundError("BTF's enum node_stat_item has no NR_SLAB_RECLAIMABLE(_B)")


@takes_program_or_default
def get_slab_cache_aliases(prog: Program) -> Dict[str, str]:
    """For each slab cache merged into a cache of another name, that name:
    ``{"dnotify_struct": "avc_xperms_data", ...}``. SLUB records a merged cache as a
    symbolic link in ``/sys/kernel/slab`` (the kernfs directory of ``slab_kset``) to the
    cache it became; a :class:`LookupError` without ``CONFIG_SYSFS`` (no ``slab_kset``)."""
    try:
        kset = prog["slab_kset"].read_()
    except NotFoundError:
        raise ObjectNotFoundError("get_slab_cache_aliases() needs SLUB's sysfs directory (slab_kset): the "
                                  "kernel has none (CONFIG_SLUB and CONFIG_SYSFS)") from None
    link = int(prog.constant("KERNFS_LINK"))
    aliases: Dict[str, str] = {}
    children = kset.kobj.sd.dir.children.address_of_()
    for child in rbtree_inorder_for_each_entry("struct kernfs_node", children, "rb"):
        if not int(child.flags) & link:
            continue
        target = container_of(cast("struct kobject *", child.symlink.target_kn.priv), "struct kmem_cache", "kobj")
        name = child.name.string_().decode(errors="surrogateescape")
        merged = target.name.string_().decode(errors="surrogateescape")
        if name != merged:
            aliases[name] = merged
    return aliases
