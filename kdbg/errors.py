"""Exception hierarchy shared by every kdbg layer.

Every error kdbg raises on purpose subclasses :class:`KdbgError`, so the command line can
print one line for it and exit with the right status.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

__all__ = [
    "UnsupportedOperation",
    "NoCrashedThreadError",
    "LiveKernelError",
    "DeclarationTableError",
    "KdbgError",
    "BTFError",
    "CoreError",
    "FaultError",
    "NotFoundError",
    "ObjectNotFoundError",
    "TypeNotFoundError",
    "AmbiguousTypeError",
    "SymbolNotFoundError",
    "ExpressionError",
    "ObjectTypeError",
    "OutOfBoundsError",
    "MemberNotFoundError",
    "MemberAttributeError",
    "TypeNameSyntaxError",
    "UntypedSymbolError",
    "ValidationError",
    "UnwindError",
    "InvalidAddressError",
]


class KdbgError(Exception):
    """Base class of every error kdbg raises deliberately."""


class BTFError(KdbgError):
    """Malformed or unusable BTF data; the message names what is wrong and where."""


class CoreError(KdbgError):
    """A memory source (vmcore, kcore, kallsyms table) is malformed or unusable."""


class FaultError(KdbgError):
    """An address could not be read: unmapped, excluded from the dump, or past its end."""

    def __init__(self, message: str, address: int, physical: bool = False) -> None:
        super().__init__(message, address)  # drgn's args, so repr() is drgn's too
        #: The address that could not be read.
        self.address = address
        #: Whether :attr:`address` is a physical address.
        self.physical = physical

    @property
    def message(self) -> str:
        """What went wrong, without the address (drgn's ``FaultError.message``)."""
        return str(self.args[0])

    def __str__(self) -> str:
        return f"{self.args[0]}: {self.address:#x}"  # drgn's "%s: %#x"


class NotFoundError(KdbgError, LookupError):
    """Something looked up by name or address is not there: the base of kdbg's lookup
    errors, and where drgn raises a plain ``LookupError`` (a type, a symbol, a member
    through ``member_()``), kdbg raises one of these, so ``except LookupError`` is the
    same test under both and no ``except KeyError`` catches what drgn's would not."""


class ObjectNotFoundError(NotFoundError, KeyError):
    """A name (variable, function, constant) is not known to the program.

    A ``KeyError`` as drgn's is (``try: prog["x"] except KeyError``), whose message reads
    as a sentence rather than ``KeyError``'s quoted repr."""

    def __init__(self, *args: object, name: Optional[str] = None) -> None:
        super().__init__(*args)
        #: The name that was looked up (drgn's ``ObjectNotFoundError.name``).
        self.name = name

    def __str__(self) -> str:
        return Exception.__str__(self)


class TypeNotFoundError(NotFoundError):
    """A type name is not found in BTF (drgn's plain ``LookupError``)."""

    def __init__(self, name: str, hint: Optional[str] = None) -> None:
        msg = f"could not find {name!r}"  # drgn's words
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
        self.name = name
        self.hint = hint


class TypeNameSyntaxError(TypeNotFoundError, SyntaxError):
    """Text given as a type name is no C type name: a ``SyntaxError`` as drgn's parser
    raises, and a :class:`TypeNotFoundError` as kdbg's callers expect."""


class AmbiguousTypeError(NotFoundError):
    """A type name names several different types (BTF keeps every definition of a name
    that differs, e.g. a driver's private ``struct dma_chan``); none is picked silently.

    ``candidates`` lists ``(type id, kind name, size or None)`` of each; the message says
    how to pick one (``struct dma_chan#<id>``).
    """

    def __init__(self, name: str, candidates: Sequence[Tuple[int, str, Optional[int]]]) -> None:
        self.name = name
        self.candidates: List[Tuple[int, str, Optional[int]]] = list(candidates)
        listed = ", ".join(
            f"#{tid} ({'incomplete' if size is None else f'{size} byte' + ('s' if size != 1 else '')})"
            for tid, _kind, size in self.candidates
        )
        super().__init__(
            f"ambiguous type {name!r}: {len(self.candidates)} different definitions "
            f"{listed}; pick one with '{name}#ID'"
        )


class SymbolNotFoundError(NotFoundError):
    """A symbol name or address is not in the symbol table (drgn's plain ``LookupError``)."""


class ExpressionError(KdbgError):
    """A user expression or command line could not be understood."""


class ObjectTypeError(KdbgError, TypeError):
    """An operation is not valid for an object's type (``[i]`` on an int, a member of a
    pointer to void, arithmetic on a struct); drgn raises ``TypeError`` for these."""


class ObjectAbsentError(KdbgError):
    """The object has no value (drgn's absent object: ``Object(prog, "int")``)."""


class OutOfBoundsError(KdbgError, IndexError):
    """An index or slice falls outside a value object's bytes."""


class MemberNotFoundError(NotFoundError):
    """A struct or union has no member of that name: drgn's plain ``LookupError`` of
    ``obj.member_()``, ``Type.member()`` and ``offsetof()``."""


class MemberAttributeError(AttributeError, MemberNotFoundError):
    """``obj.name`` of a member ``obj`` lacks: drgn's ``AttributeError`` (so
    ``getattr(obj, name, default)`` and ``hasattr`` work), and a
    :class:`MemberNotFoundError` as kdbg's callers expect."""


class UntypedSymbolError(ObjectNotFoundError):
    """A symbol exists (kallsyms has its address) but nothing gives it a type; the message
    says how to declare one."""


class ValidationError(KdbgError):
    """A kernel data structure is inconsistent (a cyclic or corrupt list, a tree whose
    links disagree); the message names the structure and where it went wrong (drgn's
    ``drgn.helpers.ValidationError``)."""


class DeclarationTableError(KdbgError):
    """A declaration table file (the shipped one, or one a user gives) that is not in the
    block format or is damaged; the message names the file and what is wrong."""


class UnwindError(KdbgError):
    """A stack trace cannot be made at all (no ORC in the kernel, a task running on a
    live kernel, an exited task whose stack is freed, no such task); the message says why
    in one line. (A trace that starts but cannot go on ends in a frame marked with the
    reason instead.)"""


class NoCrashedThreadError(UnwindError, LookupError):
    """The kernel did not panic before the dump (``panic_cpu`` is not set): no thread
    crashed (drgn's ``LookupError``)."""


class InvalidAddressError(KdbgError, ValueError):
    """An address, physical address or pfn outside what a memory-map helper converts (not
    in the direct map, beyond ``max_pfn``, not a ``struct page`` of the memory map); the
    one-line message names it and the valid range."""


class UnsupportedError(KdbgError, NotImplementedError):
    """An API of drgn's that kdbg does not implement (one line naming it, and why)."""


class UnsupportedOperation(KdbgError, ValueError):
    """The operation is not defined for this program (drgn's ``UnsupportedOperation``, a
    ``ValueError``): a main thread of the kernel, a crashed thread of a live one."""


class LiveKernelError(UnwindError, UnsupportedOperation):
    """What only a core dump has (its crashed thread) was asked of a live kernel (drgn's
    ``UnsupportedOperation``)."""


class UnsupportedAttributeError(UnsupportedError, AttributeError):
    """An attribute of a drgn class that kdbg does not have: ``hasattr()`` is ``False`` for
    it, as feature tests expect, and reaching it is one line naming it."""


def unsupported(name: str, why: str = "") -> UnsupportedError:
    """The error for drgn API ``name`` (``drgn.Program.add_memory_segment``)."""
    return UnsupportedError(f"{name} is not supported by kdbg" + (f": {why}" if why else ""))
