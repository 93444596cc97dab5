"""Users: drgn's ``drgn.helpers.linux.user``.

Every ``struct user_struct`` is on the kernel's ``uidhash_table``, hashed by UID as
``kernel/user.c``'s ``__uidhashfn()`` does: ``((uid >> UIDHASH_BITS) + uid) & UIDHASH_MASK``
with the table's length ``1 << UIDHASH_BITS``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Union

from kdbg.core.conversions import NULL
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.core.typeinfo import K_INT, type_info
from kdbg.helpers.list import hlist_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["find_user", "for_each_user", "kuid_val"]

Uid = Union[Object, IntegerLike]


def kuid_val(uid: Uid) -> int:
    """The UID of a ``kuid_t`` (an integer is returned as is)."""
    if isinstance(uid, Object) and type_info(uid.type_).kind != K_INT:
        uid = uid.val
    return integer_value(uid)


@takes_program_or_default
def find_user(prog: Program, uid: Uid) -> Object:
    """The ``struct user_struct *`` of UID ``uid`` (a ``kuid_t`` or an integer; ``NULL``
    if the kernel has none)."""
    table = prog["uidhash_table"]
    size = len(table)
    bits = size.bit_length() - 1
    value = kuid_val(uid)
    bucket = ((value >> bits) + value) & (size - 1)
    for user in hlist_for_each_entry("struct user_struct", table[bucket].address_of_(), "uidhash_node"):
        if int(user.uid.val) == value:
            return user
    return NULL(prog, "struct user_struct *")


@takes_program_or_default
def for_each_user(prog: Program) -> Iterator[Object]:
    """Every ``struct user_struct *`` of the kernel, bucket by bucket."""
    for head in prog["uidhash_table"]:
        yield from hlist_for_each_entry("struct user_struct", head.address_of_(), "uidhash_node")
