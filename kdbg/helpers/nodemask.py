"""NUMA node masks: drgn's ``drgn.helpers.linux.nodemask``.

The kernel keeps one ``nodemask_t`` per ``enum node_states`` in ``node_states[]``
(``N_POSSIBLE``, ``N_ONLINE``, ``N_NORMAL_MEMORY``, ...); a mask is a bitmap of
``unsigned long`` bounded by ``nr_node_ids`` (1 on a kernel built without NUMA, where the
variable does not exist).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, SupportsIndex

from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.errors import NotFoundError, ObjectTypeError, ValidationError
from kdbg.helpers.common import deref_if_pointer, global_object, symbols_complete, unknown_global

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "for_each_node",
    "for_each_node_mask",
    "for_each_node_state",
    "for_each_online_node",
    "node_state",
    "nr_node_ids",
]

#: ``MAX_NUMNODES`` is ``1 << CONFIG_NODES_SHIFT``, at most 1 << 10 on every architecture.
_MAX_NUMNODES = 1 << 10


@takes_program_or_default
def nr_node_ids(prog: Program) -> int:
    """The upper bound of NUMA node ids (``nr_node_ids``; 1 without ``CONFIG_NUMA``)."""
    try:
        n = int(global_object(prog, "nr_node_ids", "unsigned int"))
    except NotFoundError:
        if not symbols_complete(prog):
            raise unknown_global(prog, "nr_node_ids", "the number of NUMA node ids") from None
        return 1
    if not 0 < n <= _MAX_NUMNODES:
        raise ValidationError(f"nr_node_ids {n} is implausible")
    return n


def _bits(mask: Object) -> int:
    """The bits of a ``nodemask_t`` (or pointer to one) as one integer."""
    m = deref_if_pointer(mask)
    return int.from_bytes(m.bits.to_bytes_(), "little")


def for_each_node_mask(mask: Object) -> Iterator[int]:
    """The node ids set in ``mask`` (``nodemask_t`` or a pointer to one), ascending,
    below ``nr_node_ids``."""
    bits = _bits(mask) & ((1 << nr_node_ids(mask.prog_)) - 1)
    node = 0
    while bits:
        if bits & 1:
            yield node
        bits >>= 1
        node += 1


def _state_mask(prog: Program, state: IntegerLike) -> Object:
    index = integer_value(state)
    states = global_object(prog, "node_states", "nodemask_t [6]")
    length = states.type_.unaliased().length  # type: ignore[attr-defined]
    if not 0 <= index < (length or 0):
        raise ObjectTypeError(f"node state {index} is not an enum node_states value (0 to {length})")
    return states[index]


@takes_program_or_default
def for_each_node_state(prog: Program, state: IntegerLike) -> Iterator[int]:
    """The nodes in ``state`` (an ``enum node_states`` value: ``prog["N_NORMAL_MEMORY"]``)."""
    return for_each_node_mask(_state_mask(prog, state))


@takes_program_or_default
def for_each_node(prog: Program) -> Iterator[int]:
    """Every possible NUMA node."""
    return for_each_node_state(prog, prog.constant("N_POSSIBLE"))


@takes_program_or_default
def for_each_online_node(prog: Program) -> Iterator[int]:
    """Every online NUMA node."""
    return for_each_node_state(prog, prog.constant("N_ONLINE"))


def node_state(node: SupportsIndex, state: Object) -> bool:
    """Whether NUMA node ``node`` is in ``state`` (an ``enum node_states`` object)."""
    if not isinstance(state, Object):
        raise ObjectTypeError(f"node_state() takes the state as an enum node_states Object, not "
                              f"{type(state).__name__}")
    n = integer_value(node)
    return n >= 0 and bool(_bits(_state_mask(state.prog_, state)) >> n & 1)
