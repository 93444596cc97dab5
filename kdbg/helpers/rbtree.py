"""Red-black trees (``struct rb_root``, ``struct rb_node``): drgn's
``drgn.helpers.linux.rbtree``.

``root`` may be a ``struct rb_root``, a ``struct rb_root_cached`` or a pointer to either.
Walks are bounded: a red-black tree of ``n`` nodes is at most ``2*log2(n+1)`` deep, so a
path deeper than :data:`MAX_DEPTH` (or a walk past the memory-size node limit) is a
corrupt tree and raises :class:`~kdbg.errors.ValidationError` naming the root.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Generator, Iterator, List, Tuple, TypeVar, Union

from kdbg.core.conversions import NULL
from kdbg.core.object import Object, value_object
from kdbg.errors import ObjectTypeError, ValidationError
from kdbg.helpers.common import Walk, deref_if_pointer, describe_address, entry_info, is_struct, program_cache

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "RB_EMPTY_NODE",
    "RB_EMPTY_ROOT",
    "rb_find",
    "rb_first",
    "rb_last",
    "rb_next",
    "rb_parent",
    "rb_prev",
    "rbtree_inorder_for_each",
    "rbtree_inorder_for_each_entry",
    "rbtree_preorder_for_each",
    "rbtree_preorder_for_each_entry",
    "validate_rbtree",
    "validate_rbtree_inorder_for_each_entry",
]

KeyType = TypeVar("KeyType")
#: Deepest path a red-black tree of 2**63 nodes can have (2*log2(n+1)), plus slack.
MAX_DEPTH = 130


class _Layout:
    __slots__ = ("parent", "left", "right", "node_p")

    def __init__(self, prog: Program) -> None:
        node = prog.type("struct rb_node").strip_typedefs()
        self.parent: int = node.offsetof("__rb_parent_color")  # type: ignore[attr-defined]
        self.left: int = node.offsetof("rb_left")  # type: ignore[attr-defined]
        self.right: int = node.offsetof("rb_right")  # type: ignore[attr-defined]
        self.node_p: Type = prog.type("struct rb_node *")


def _layout(prog: Program) -> _Layout:
    return program_cache(prog, "rbtree", lambda: _Layout(prog))


def _root_node(root: Object) -> int:
    """The address of the top node of ``root`` (0 if the tree is empty)."""
    r = deref_if_pointer(root)
    if is_struct(r.type_, "struct rb_root_cached"):
        r = r.rb_root
    elif not is_struct(r.type_, "struct rb_root"):
        raise ObjectTypeError(f"expected struct rb_root or struct rb_root_cached (or a pointer), "
                              f"not '{root.type_.type_name()}'")
    return int(r.rb_node)


def _what(root: Object) -> str:
    r = deref_if_pointer(root)
    return f"rb_root at {describe_address(root.prog_, r.address_)}" if r.address_ is not None else "rb_root"


def _node(prog: Program, address: int) -> Object:
    return value_object(prog, _layout(prog).node_p, address)


def RB_EMPTY_ROOT(root: Object) -> bool:  # noqa: N802 - the kernel's name
    """Whether the tree is empty."""
    return _root_node(root) == 0


def RB_EMPTY_NODE(node: Object) -> bool:  # noqa: N802 - the kernel's name
    """Whether ``node`` (``struct rb_node *``) is not in a tree (its parent is itself)."""
    prog = node.prog_
    return prog.read_word(int(node) + _layout(prog).parent) == int(node)


def _parent(prog: Program, node: int) -> int:
    return prog.read_word(node + _layout(prog).parent) & ~3


def rb_parent(node: Object) -> Object:
    """The parent of ``node`` (``NULL`` at the root)."""
    return _node(node.prog_, _parent(node.prog_, int(node)))


def _extreme(prog: Program, node: int, off: int, what: str) -> int:
    depth = 0
    while node:
        child = prog.read_word(node + off)
        if not child:
            return node
        node = child
        depth += 1
        if depth > MAX_DEPTH:
            raise ValidationError(f"{what}: deeper than {MAX_DEPTH} levels at {node:#x}: not a red-black tree")
    return 0


def rb_first(root: Object) -> Object:
    """The leftmost (smallest) node, or ``NULL`` if the tree is empty."""
    prog = root.prog_
    return _node(prog, _extreme(prog, _root_node(root), _layout(prog).left, _what(root)))


def rb_last(root: Object) -> Object:
    """The rightmost (largest) node, or ``NULL``."""
    prog = root.prog_
    return _node(prog, _extreme(prog, _root_node(root), _layout(prog).right, _what(root)))


def _step(prog: Program, node: int, forward: bool) -> int:
    lay = _layout(prog)
    down, up_from = (lay.right, lay.right) if forward else (lay.left, lay.left)
    first = lay.left if forward else lay.right
    what = f"rb_node at {node:#x}"
    child = prog.read_word(node + down)
    if child:
        return _extreme(prog, child, first, what)
    depth = 0
    while True:
        parent = _parent(prog, node)
        if not parent or prog.read_word(parent + up_from) != node:
            return parent
        node = parent
        depth += 1
        if depth > MAX_DEPTH:
            raise ValidationError(f"{what}: more than {MAX_DEPTH} ancestors: not a red-black tree")


def rb_next(node: Object) -> Object:
    """The node after ``node`` in order, or ``NULL``."""
    return _node(node.prog_, _step(node.prog_, int(node), True))


def rb_prev(node: Object) -> Object:
    """The node before ``node`` in order, or ``NULL``."""
    return _node(node.prog_, _step(node.prog_, int(node), False))


def _inorder(root: Object) -> Iterator[int]:
    prog = root.prog_
    lay = _layout(prog)
    what = _what(root)
    walk = Walk(prog, what)
    read = prog.read_word
    stack: List[int] = []
    node = _root_node(root)
    while stack or node:
        while node:
            stack.append(node)
            if len(stack) > MAX_DEPTH:
                raise ValidationError(f"{what}: deeper than {MAX_DEPTH} levels at {node:#x}: not a red-black tree")
            node = read(node + lay.left)
        node = stack.pop()
        walk.step(node)
        yield node
        node = read(node + lay.right)


def _preorder(root: Object) -> Iterator[int]:
    prog = root.prog_
    lay = _layout(prog)
    what = _what(root)
    walk = Walk(prog, what)
    read = prog.read_word
    top = _root_node(root)
    stack: List[tuple] = [(top, 0)] if top else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError(f"{what}: deeper than {MAX_DEPTH} levels at {node:#x}: not a red-black tree")
        walk.step(node)
        yield node
        right, left = read(node + lay.right), read(node + lay.left)
        if right:
            stack.append((right, depth + 1))
        if left:
            stack.append((left, depth + 1))


def rbtree_inorder_for_each(root: Object) -> Iterator[Object]:
    """Each node in order (smallest first), as ``struct rb_node *``."""
    prog = root.prog_
    for n in _inorder(root):
        yield _node(prog, n)


def rbtree_inorder_for_each_entry(type: Union[str, Type], root: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry in order, as ``type *`` (``member`` is its ``struct rb_node``)."""
    prog = root.prog_
    ptr_t, off = entry_info(prog, type, member)
    for n in _inorder(root):
        yield value_object(prog, ptr_t, n - off)


def rbtree_preorder_for_each(root: Object) -> Iterator[Object]:
    """Each node in pre-order (a node before its children), as ``struct rb_node *``."""
    prog = root.prog_
    for n in _preorder(root):
        yield _node(prog, n)


def rbtree_preorder_for_each_entry(type: Union[str, Type], root: Object, member: str) -> Iterator[Object]:  # noqa: A002
    """Each entry in pre-order, as ``type *``."""
    prog = root.prog_
    ptr_t, off = entry_info(prog, type, member)
    for n in _preorder(root):
        yield value_object(prog, ptr_t, n - off)


def rb_find(type: Union[str, Type], root: Object, member: str, key: KeyType,  # noqa: A002
            cmp: Callable[[KeyType, Object], int]) -> Object:
    """The entry for which ``cmp(key, entry)`` is 0 (``type *``), or ``NULL``: ``cmp``
    returns < 0 to go left, > 0 to go right, as the kernel's ``rb_find``."""
    prog = root.prog_
    lay = _layout(prog)
    ptr_t, off = entry_info(prog, type, member)
    node = _root_node(root)
    depth = 0
    while node:
        entry = value_object(prog, ptr_t, node - off)
        c = cmp(key, entry)
        if c == 0:
            return entry
        node = prog.read_word(node + (lay.left if c < 0 else lay.right))
        depth += 1
        if depth > MAX_DEPTH:
            raise ValidationError(f"{_what(root)}: deeper than {MAX_DEPTH} levels: not a red-black tree")
    return NULL(prog, ptr_t)


def validate_rbtree(type: Union[str, Type], root: Object, member: str,  # noqa: A002
                    cmp: Callable[[Object, Object], int], allow_equal: bool) -> None:
    """Check that ``root`` is a red-black tree of ``type`` entries ordered by ``cmp``
    (see :func:`validate_rbtree_inorder_for_each_entry`); a
    :class:`~kdbg.errors.ValidationError` names the first violation."""
    for _ in validate_rbtree_inorder_for_each_entry(type, root, member, cmp, allow_equal):
        pass


def validate_rbtree_inorder_for_each_entry(type: Union[str, Type], root: Object, member: str,  # noqa: A002
                                           cmp: Callable[[Object, Object], int],
                                           allow_equal: bool) -> Iterator[Object]:
    """Each entry in order, as :func:`rbtree_inorder_for_each_entry`, checking on the way
    that the tree is a search tree by ``cmp`` (``cmp(a, b)`` < 0 when entry ``a`` sorts
    before ``b``; equal entries only if ``allow_equal``), that each node's parent pointer
    names its parent, that the root is black, no red node has a red child and both
    subtrees of every node hold as many black nodes: a
    :class:`~kdbg.errors.ValidationError` when one does not hold, raised when the walk
    reaches it."""
    prog = root.prog_
    lay = _layout(prog)
    ptr_t, off = entry_info(prog, type, member)
    what = _what(root)
    read = prog.read_word

    def entry(node: int) -> Object:
        return value_object(prog, ptr_t, node - off)

    def color(node: int) -> Tuple[int, bool]:
        word = read(node + lay.parent)
        return word & ~3, bool(word & 1)

    def visit(node: int, parent: int, parent_entry: Object, parent_red: bool, left: bool,
              depth: int) -> Generator[Object, None, int]:
        if not node:
            return 0
        side = "left" if left else "right"
        if depth > MAX_DEPTH:
            raise ValidationError(f"{what}: deeper than {MAX_DEPTH} levels at {node:#x}: not a red-black tree")
        up, black = color(node)
        if up != parent:
            raise ValidationError(f"{what}: node {parent:#x}'s {side} child {node:#x} has parent {up:#x}")
        if parent_red and not black:
            raise ValidationError(f"{what}: red node {parent:#x} has a red child {node:#x}")
        e = entry(node)
        order = cmp(e, parent_entry)
        if order > 0 and left:
            raise ValidationError(f"{what}: entry {int(parent_entry):#x}'s left child {int(e):#x} "
                                  "compares greater than it")
        if order < 0 and not left:
            raise ValidationError(f"{what}: entry {int(parent_entry):#x}'s right child {int(e):#x} "
                                  "compares less than it")
        if order == 0 and not allow_equal:
            raise ValidationError(f"{what}: entry {int(parent_entry):#x}'s {side} child {int(e):#x} "
                                  "compares equal to it")
        return (yield from below(node, e, black, depth))

    def below(node: int, e: Object, black: bool, depth: int) -> Generator[Object, None, int]:
        left_height = yield from visit(read(node + lay.left), node, e, not black, True, depth + 1)
        yield e
        right_height = yield from visit(read(node + lay.right), node, e, not black, False, depth + 1)
        if left_height != right_height:
            raise ValidationError(f"{what}: the subtrees of node {node:#x} hold {left_height} and "
                                  f"{right_height} black nodes")
        return left_height + black

    top = _root_node(root)
    if not top:
        return
    up, black = color(top)
    if up:
        raise ValidationError(f"{what}: root node {top:#x} has parent {up:#x}")
    if not black:
        raise ValidationError(f"{what}: root node {top:#x} is red")
    yield from below(top, entry(top), black, 0)
