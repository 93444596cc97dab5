"""What every kernel-structure walk shares: how far a walk may go, how it notices a cycle,
and how its error names the place.

Every helper that follows pointers in kernel memory (lists, trees, xarrays) goes through a
:class:`Walk`: it counts the nodes visited against :func:`node_limit` (more nodes than the
machine has memory for means the links are garbage) and runs Brent's cycle detection,
which needs two saved addresses instead of a set of every node seen. A cycle or an
overrun raises :class:`~kdbg.errors.ValidationError` whose one line names the structure
(its address, symbolized when kallsyms knows it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional, Sequence, Tuple, TypeVar, Union

from kdbg.btf.kinds import TypeKind
from kdbg.core import arithmetic
from kdbg.core.conversions import NULL, container_of
from kdbg.core.object import Object
from kdbg.core.typeinfo import K_PTR, type_info
from kdbg.errors import KdbgError, NotFoundError, ObjectNotFoundError, ObjectTypeError, ValidationError
from kdbg.symbols.ksymtab import RECOVERED_SYMBOLS, RecoveredSymbols

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "Walk", "node_limit", "describe_address", "address_of_struct", "entry_info", "pointer_to", "is_pointer",
    "deref_if_pointer", "program_cache", "global_object", "has_member", "is_struct", "unknown_global",
    "first_global", "symbols_complete",
]

_T = TypeVar("_T")
MASK = 0xFFFFFFFFFFFFFFFF
#: Node limit when the machine's memory size is unknown (no ``max_pfn`` readable).
DEFAULT_NODE_LIMIT = 1 << 28

def node_limit(prog: Program) -> int:
    """The most distinct nodes any kernel structure of ``prog`` can hold: one per 16 bytes
    of the machine's memory (``max_pfn`` pages; the smallest node, a ``list_head``, is
    16 bytes). A walk longer than this is following garbage."""
    limit = prog.cache.get("kdbg.node_limit")
    if limit is None:
        limit = DEFAULT_NODE_LIMIT
        try:
            sym = prog.symbol_table.get("max_pfn")
            if sym is not None:
                pages = prog.read_u64(sym.address)
                page_size = getattr(prog.memory, "page_size", 4096)
                if 0 < pages < (1 << 40):
                    limit = max(1 << 16, pages * page_size // 16)
        except KdbgError:
            pass
        prog.cache["kdbg.node_limit"] = limit
    return limit


def describe_address(prog: Program, address: int) -> str:
    """``0xffffffff8261aa40 (init_task+0x4a8)``, or just the hex address."""
    hit = prog.symbolize_address(address)
    if hit is None:
        return f"{address:#x}"
    return f"{address:#x} ({hit[0]}+{hit[1]:#x})"


class Walk:
    """Bookkeeping of one walk: ``step(address)`` for every node reached (after the
    start); raises :class:`ValidationError` on a cycle or past the node limit.

    Brent's algorithm: remember the node at each power-of-two step count; meeting it again
    means a cycle (found within about twice the cycle length past its entry)."""

    __slots__ = ("what", "prog", "limit", "count", "_saved", "_power", "_lam")

    def __init__(self, prog: Program, what: str) -> None:
        self.prog = prog
        #: The structure walked, for messages: ``list_head at 0x... (init_task+0x4a8)``.
        self.what = what
        self.limit = node_limit(prog)
        self.count = 0
        self._saved = -1
        self._power = 1
        self._lam = 0

    def step(self, address: int) -> None:
        """Account for reaching the node at ``address``."""
        if address == self._saved:
            raise ValidationError(
                f"{self.what}: cycle through {address:#x} that does not return to the start "
                f"(after {self.count} nodes)")
        self.count += 1
        if self.count > self.limit:
            raise ValidationError(f"{self.what}: more than {self.limit} nodes, more than memory holds")
        self._lam += 1
        if self._lam == self._power:
            self._saved = address
            self._power <<= 1
            self._lam = 0


def address_of_struct(obj: Object, struct: str) -> int:
    """The address of the ``struct`` (``"struct list_head"``) that ``obj`` is, or points
    to: drgn's helpers take either ``struct list_head *`` or a ``struct list_head`` in
    memory. Anything else is an :class:`~kdbg.errors.ObjectTypeError`."""
    if not isinstance(obj, Object):
        raise ObjectTypeError(f"expected {struct} or {struct} *, not {type(obj).__name__}")
    t = obj.type_
    pointer = type_info(t).kind == K_PTR
    target = (t.strip_typedefs().type if pointer else t).strip_typedefs()  # type: ignore[attr-defined]
    if not is_struct(target, struct):
        raise ObjectTypeError(f"expected {struct} or {struct} *, not '{t.type_name()}'")
    if pointer:
        return int(obj) & MASK
    if obj.address_ is None:
        raise ObjectTypeError(f"expected {struct} in memory or {struct} *, not a value")
    return obj.address_


def entry_info(prog: Program, type: Union[str, Type], member: str) -> Tuple[Type, int]:  # noqa: A002
    """``(pointer to type, offset of member)``: what ``container_of`` needs, resolved once
    per walk through :func:`kdbg.core.object.container_of` itself."""
    probe = container_of(NULL(prog, "void *"), type, member)
    return probe.type_, (-int(probe)) & MASK


def pointer_to(prog: Program, type: Union[str, Type]) -> Type:  # noqa: A002
    """The type ``type *`` (``struct list_head *``)."""
    return arithmetic.pointer_to(prog, prog.type(type) if isinstance(type, str) else type)


def is_struct(t: Type, name: str) -> bool:
    """Whether type ``t`` (typedefs and qualifiers aside) is the struct or union ``name``
    (``"struct task_struct"``): the kind and tag compared, never a spelling."""
    keyword, _, tag = name.partition(" ")
    under = t.strip_typedefs()
    return under.kind in _TAG_KINDS.get(keyword, ()) and under.tag == tag  # type: ignore[attr-defined]


_TAG_KINDS = {"struct": (TypeKind.STRUCT, TypeKind.UNION), "union": (TypeKind.UNION,)}


def is_pointer(obj: Object) -> bool:
    """Whether ``obj`` is a pointer (typedefs and qualifiers aside)."""
    return type_info(obj.type_).kind == K_PTR


def deref_if_pointer(obj: Object) -> Object:
    """``*obj`` if ``obj`` is a pointer, else ``obj`` (helpers take either)."""
    if not isinstance(obj, Object):
        raise ObjectTypeError(f"expected an Object, not {type(obj).__name__}")
    return obj[0] if is_pointer(obj) else obj


def program_cache(prog: Program, key: str, factory: Callable[[], _T]) -> _T:
    """A per-program value computed once by ``factory`` (a layout read from BTF), kept in
    ``prog.cache``."""
    d = prog.cache
    if key not in d:
        d[key] = factory()
    return d[key]  # type: ignore[no-any-return, unused-ignore]


def global_object(prog: Program, name: str, type: str) -> Object:  # noqa: A002
    """The kernel global ``name``: as the program types it (BTF VAR, declaration table,
    ``declare``), or else as ``type`` at its kallsyms address, the type a helper knows
    the kernel gives it (``struct cpumask __cpu_online_mask``)."""
    try:
        return prog.variable(name)
    except NotFoundError:
        sym = prog.symbol_table.get(name)
        if sym is None:
            raise
    return Object(prog, type, address=sym.address)


def has_member(prog: Program, struct: str, member: str) -> bool:
    """Whether BTF's ``struct`` has ``member`` (directly or through anonymous members): how
    helpers tell kernel versions apart."""
    try:
        prog.type(struct).strip_typedefs().offsetof(member)  # type: ignore[attr-defined]
    except (KdbgError, LookupError, AttributeError, ValueError, KeyError):
        return False
    return True


def _recovered(prog: Program) -> Optional[RecoveredSymbols]:
    """What the recovery of data symbols found when kallsyms lists none (else ``None``)."""
    try:
        prog.symbol_table  # noqa: B018 - loading the symbols records what was recovered
    except KdbgError:
        return None
    found = prog.cache.get(RECOVERED_SYMBOLS)
    if isinstance(found, RecoveredSymbols) and (found.unresolved or any(found.sources.values())):
        return found
    return None


def symbols_complete(prog: Program) -> bool:
    """Whether a global ``prog``'s symbols lack is absent from the kernel: kallsyms lists
    its data symbols (``CONFIG_KALLSYMS_ALL``) and the dump is not a reduced one. Else a
    missing global may be one the kernel has but kdbg could not find."""
    return _recovered(prog) is None and not prog.symbol_table.why_missing()


def unknown_global(prog: Program, name: str, need: str, also: Sequence[str] = ()) -> ObjectNotFoundError:
    """The one-line error for a global the kernel has but ``prog`` cannot find, so that
    ``need`` (what was asked: "the HugeTLB pages") cannot be told: why the symbol is
    missing (a kallsyms without ``CONFIG_KALLSYMS_ALL`` whose recovery did not find it, and
    the reason :mod:`kdbg.symbols.coderefs` gave; a reduced dump), never an empty answer.
    ``also``: the names older kernels give it, not found either."""
    found = _recovered(prog)
    why = ""
    if found is not None:
        why = (f": kallsyms lists no data symbols and its code does not single it out ({found.unresolved[name]})"
               if name in found.unresolved else
               ": kallsyms lists no data symbols and neither VMCOREINFO, the exported symbols nor code give it")
    nor = "".join(f" (nor '{n}')" for n in also)
    return ObjectNotFoundError(
        f"cannot tell {need}: no symbol '{name}'{nor}{why or prog.symbol_table.why_missing()}", name=name)


def first_global(prog: Program, names: Sequence[str], need: str) -> Tuple[str, Object]:
    """``(name, object)`` of the first of ``names`` ``prog`` finds: one global under each
    kernel version's name, newest first (a kernel without one has the next). A symbol that
    is known but untyped raises its own lookup error; none found raises
    :func:`unknown_global`'s error for ``need``, never a guess of which kernel this is."""
    for name in names:
        try:
            return name, prog[name]
        except NotFoundError:
            if prog.symbol_table.get(name) is not None:
                raise
    raise unknown_global(prog, names[0], need, names[1:]) from None
