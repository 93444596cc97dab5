"""``drgn.helpers``, inside kdbg."""

from kdbg.errors import ValidationError

__all__ = ["ValidationError"]
