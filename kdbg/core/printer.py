"""drgn's C-like printing of objects: ``str(obj)`` and ``obj.format_(**options)``.

The output is drgn's, character for character (the tests compare against drgn itself;
members are indented with tabs)::

    *(struct list_head *)0xffffffff8261aa40 = {
        .next = (struct list_head *)0xffff888003c4e8c0,
        .prev = (struct list_head *)0xffff888003c4e8c0,
    }
    (char [16])"swapper/0"
    (pid_t)1

A pointer shows its symbol where kallsyms knows the address (``init_task+0x0 = 0x...``)
and, at the top level, what it points to; members and elements are never dereferenced.
A pointer whose target cannot be read prints as the pointer alone. Arrays drop trailing
zero elements, fit several elements on a line when ``columns`` allows, and break
initializers over lines the way drgn does.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable, Iterable, List, Optional, Tuple

from kdbg.btf.types import Array, Composite, Enum, Pointer, Type, TypeMember
from kdbg.core.object import Object, install_printer, reference_object
from kdbg.core.object_access import member_object, object_image, object_info, object_scalar
from kdbg.core.typeinfo import (
    K_ARRAY,
    K_BOOL,
    K_COMPOUND,
    K_ENUM,
    K_FLOAT,
    K_FUNC,
    K_INCOMPLETE,
    K_INT,
    K_PTR,
    K_VOID,
    type_info,
)
from kdbg.core.value import read_c_string
from kdbg.errors import FaultError, KdbgError, ObjectTypeError, OutOfBoundsError

__all__ = ["format_object", "FORMAT_OPTIONS", "quote_string", "escape_ascii_character"]

# Format flags, one bit per drgn option.
TYPE_NAME = 1 << 0
DEREFERENCE = 1 << 1
SYMBOLIZE = 1 << 2
STRING = 1 << 3
CHAR = 1 << 4
MEMBER_TYPE_NAMES = 1 << 5
ELEMENT_TYPE_NAMES = 1 << 6
MEMBERS_SAME_LINE = 1 << 7
ELEMENTS_SAME_LINE = 1 << 8
MEMBER_NAMES = 1 << 9
ELEMENT_INDICES = 1 << 10
IMPLICIT_MEMBERS = 1 << 11
IMPLICIT_ELEMENTS = 1 << 12

#: ``format_()`` keyword -> (flag, default), as drgn documents them.
FORMAT_OPTIONS = {
    "dereference": (DEREFERENCE, True),
    "symbolize": (SYMBOLIZE, True),
    "string": (STRING, True),
    "char": (CHAR, False),
    "type_name": (TYPE_NAME, True),
    "member_type_names": (MEMBER_TYPE_NAMES, True),
    "element_type_names": (ELEMENT_TYPE_NAMES, False),
    "members_same_line": (MEMBERS_SAME_LINE, False),
    "elements_same_line": (ELEMENTS_SAME_LINE, True),
    "member_names": (MEMBER_NAMES, True),
    "element_indices": (ELEMENT_INDICES, False),
    "implicit_members": (IMPLICIT_MEMBERS, True),
    "implicit_elements": (IMPLICIT_ELEMENTS, False),
}
DEFAULT_FLAGS = sum(flag for flag, default in FORMAT_OPTIONS.values() if default)
NO_LIMIT = sys.maxsize


class _Wrap(Exception):
    """Raised when text must stay on one line and does not fit."""


class _Context:
    __slots__ = ("prog", "base", "_symbolize")

    def __init__(self, prog: Any, base: int) -> None:
        self.prog = prog
        self.base = base
        self._symbolize: Optional[Callable[[int], Optional[Tuple[str, int]]]] = prog.symbolize_address

    def symbol(self, address: int) -> Optional[Tuple[str, int]]:
        fn = self._symbolize
        if fn is None or address == 0:
            return None
        try:
            return fn(address)
        except KdbgError:
            return None


def _member_flags(flags: int) -> int:
    f = flags & ~(TYPE_NAME | DEREFERENCE)
    return f | TYPE_NAME if flags & MEMBER_TYPE_NAMES else f


def _element_flags(flags: int) -> int:
    f = flags & ~(TYPE_NAME | DEREFERENCE)
    return f | TYPE_NAME if flags & ELEMENT_TYPE_NAMES else f


def _passthrough_flags(flags: int) -> int:
    return flags & ~(TYPE_NAME | DEREFERENCE)


def format_object(obj: Object, columns: Optional[int] = None, integer_base: Optional[int] = None,
                  **options: Optional[bool]) -> str:
    """``obj`` in C syntax. Options and defaults are drgn's: ``columns`` (no limit),
    ``integer_base`` (10; 8 and 16 too), and the flags of :data:`FORMAT_OPTIONS`
    (``dereference``, ``symbolize``, ``string``, ``char``, ``type_name``,
    ``member_type_names``, ``element_type_names``, ``members_same_line``,
    ``elements_same_line``, ``member_names``, ``element_indices``, ``implicit_members``,
    ``implicit_elements``)."""
    flags = DEFAULT_FLAGS
    for key, value in options.items():
        spec = FORMAT_OPTIONS.get(key)
        if spec is None:
            raise TypeError(f"format_() got an unexpected keyword argument {key!r}")
        if value is None:
            continue
        flags = flags | spec[0] if value else flags & ~spec[0]
    base = 10 if integer_base is None else int(integer_base)
    if base not in (8, 10, 16):
        raise ValueError("integer_base must be 8, 10, or 16")
    cols = NO_LIMIT if columns is None else max(int(columns), 0)
    ctx = _Context(obj.prog_, base)
    return _format(obj, 0, cols, max(cols, 1), flags, ctx)


# ---------------------------------------------------------------------- scalars
_ESCAPES = {0: "\\0", 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r"}


def escape_ascii_character(c: int, escape_single_quote: bool = False, escape_double_quote: bool = False,
                           escape_backslash: bool = False) -> str:
    """Byte ``c`` as a C character: non-printable bytes escaped (``\\n``, ``\\x7f``),
    quotes and backslashes only when asked (drgn's
    ``drgn.helpers.common.format.escape_ascii_character``, which
    :mod:`kdbg.helpers.format` names; the printer's characters and strings use it)."""
    esc = _ESCAPES.get(c)
    if esc is not None:
        return esc
    if c == 0x27 and escape_single_quote:
        return "\\'"
    if c == 0x22 and escape_double_quote:
        return '\\"'
    if c == 0x5C and escape_backslash:
        return "\\\\"
    if 0x20 <= c <= 0x7E:
        return chr(c)
    return f"\\x{c:02x}"


def quote_string(data: Iterable[int]) -> str:
    """``data`` as a double-quoted C string literal, escaped as drgn escapes it (drgn's
    ``double_quote_ascii_string``)."""
    return '"' + "".join(escape_ascii_character(c, False, True, True) for c in data) + '"'


def _integer(value: int, base: int) -> str:
    if base == 10:
        return str(value)
    sign = "-" if value < 0 else ""
    v = -value if value < 0 else value
    if base == 16:
        return f"{sign}0x{v:x}"
    return f"{sign}0{v:o}" if v else "0"


def _float(value: float) -> str:
    if math.isinf(value) or (math.isfinite(value) and value.is_integer()):
        return f"{value:.1f}"
    return f"{value:.17g}"


def _enum_text(value: int, under: Enum) -> str:
    for e in under.enumerators:
        if e.value == value:
            return e.name
    return str(value)


# ---------------------------------------------------------------------- objects
def _format(obj: Object, indent: int, one: int, multi: int, flags: int, ctx: _Context) -> str:
    info = object_info(obj)
    kind = info.kind
    if obj.absent_:
        return ("(" + obj.type_.type_name() + ")" if flags & TYPE_NAME else "") + "<absent>"
    if kind == K_VOID:
        raise ObjectTypeError("cannot format void object")
    if kind == K_PTR:
        return _format_pointer(obj, indent, one, multi, flags, ctx)
    prefix = ""
    if flags & TYPE_NAME:
        prefix = "(" + obj.type_.type_name() + ")"
        one = max(one - len(prefix), 0)
    if kind in (K_INT, K_BOOL):
        v = object_scalar(obj)
        if flags & CHAR and info.is_char:
            return prefix + "'" + escape_ascii_character(int(v) & 0xFF, True, False, True) + "'"
        return prefix + _integer(int(v), ctx.base)
    if kind == K_ENUM:
        return prefix + _enum_text(object_scalar(obj), info.under)  # type: ignore[arg-type]
    if kind == K_FLOAT:
        return prefix + _float(object_scalar(obj))
    if kind == K_COMPOUND:
        return prefix + _format_compound(obj, indent, one, multi, flags, ctx)
    if kind == K_ARRAY:
        return prefix + _format_array(obj, indent, one, multi, flags, ctx)
    if kind == K_FUNC:
        return prefix + f"{obj.address_:#x}"
    under = info.under
    keyword = getattr(under, "keyword", "")
    raise ObjectTypeError(f"cannot format incomplete {keyword} object".replace("  ", " ")
                          if kind == K_INCOMPLETE else f"cannot format {obj.type_.type_name()!r} object")


def _derefable(t: Type) -> bool:
    kind = type_info(t).kind
    return kind not in (K_VOID, K_FUNC, K_INCOMPLETE) and type_info(t).size is not None


def _format_pointer(obj: Object, indent: int, one: int, multi: int, flags: int, ctx: _Context) -> str:
    under = object_info(obj).under
    assert isinstance(under, Pointer)
    target = under.type
    c_string = bool(flags & STRING) and type_info(target).is_char
    dereference = bool(flags & DEREFERENCE) and not c_string
    tname = "(" + obj.type_.type_name() + ")" if flags & TYPE_NAME else ""
    value = object_scalar(obj)
    sym = ctx.symbol(value) if flags & SYMBOLIZE else None
    symtext = f"{sym[0]}+{sym[1]:#x} = " if sym is not None else ""
    plain = f"{tname}{symtext}{value:#x}"
    if c_string:
        try:
            text = read_c_string(ctx.prog, value)
        except (FaultError, KdbgError):
            return plain
        return plain + " = " + quote_string(text)
    if not dereference or not _derefable(target):
        return plain
    head = f"*{tname}({symtext}{value:#x}) = " if sym is not None else f"*{tname}{value:#x} = "
    pointee = reference_object(ctx.prog, target, value)
    try:
        return head + _format(pointee, indent, max(one - len(head), 0), multi, _passthrough_flags(flags), ctx)
    except (FaultError, OutOfBoundsError):
        return plain
    except KdbgError as e:  # memory unavailable on a files-only program
        if isinstance(e, ObjectTypeError):
            raise
        return plain


def _is_zero(obj: Object) -> bool:
    info = object_info(obj)
    kind = info.kind
    if kind in (K_INT, K_BOOL, K_ENUM, K_PTR, K_FLOAT):
        return object_scalar(obj) == 0
    if kind == K_COMPOUND:
        if not any(object_image(obj)):
            return True
        under = info.under
        assert isinstance(under, Composite)
        return all(_is_zero(member_object(obj, m)) for m in under.members)
    if kind == K_ARRAY:
        if not info.size or not any(object_image(obj)):
            return True
        return all(_is_zero(e) for e in obj)
    return False


def _compound_items(obj: Object, flags: int) -> List[Tuple[str, Object]]:
    under = object_info(obj).under
    assert isinstance(under, Composite)
    names = bool(flags & MEMBER_NAMES)
    skip_zero = names and not flags & IMPLICIT_MEMBERS
    out: List[Tuple[str, Object]] = []

    def walk(members: Tuple[TypeMember, ...], base: int) -> None:
        for m in members:
            inner = m.type.unqualified()
            if not m.btf_name and names and isinstance(inner, Composite):
                walk(inner.members, base + m.bit_offset)
                continue
            sub = member_object(obj, m, base)
            if skip_zero and _is_zero(sub):
                continue
            out.append((f".{m.btf_name} = " if names and m.btf_name else "", sub))

    members = under.members
    if not names and not flags & IMPLICIT_MEMBERS:
        end = len(members)
        while end and _is_zero(member_object(obj, members[end - 1])):
            end -= 1
        members = members[:end]
    walk(members, 0)
    return out


def _format_compound(obj: Object, indent: int, one: int, multi: int, flags: int, ctx: _Context) -> str:
    info = object_info(obj)
    if info.size is None:  # pragma: no cover - BTF structs always have a size
        raise ObjectTypeError(f"cannot format incomplete {info.under.type_name()} object")
    if obj.address_ is not None:
        object_image(obj)  # one read; members slice it
    items = _compound_items(obj, flags)
    return _initializer(items, _member_flags(flags), indent, one, multi, bool(flags & MEMBERS_SAME_LINE), ctx)


def _format_array(obj: Object, indent: int, one: int, multi: int, flags: int, ctx: _Context) -> str:
    under = object_info(obj).under
    assert isinstance(under, Array)
    elem = under.type
    length = under.length or 0
    einfo = type_info(elem)
    if flags & STRING and length and einfo.is_char:
        data = object_image(obj)
        end = data.find(b"\0")
        return quote_string(data if end < 0 else data[:end])
    if einfo.size is None:
        raise ObjectTypeError(f"cannot get size of {elem.type_name()!r}")
    if obj.address_ is not None and length and einfo.size:
        object_image(obj)
    indices = bool(flags & ELEMENT_INDICES)
    implicit = bool(flags & IMPLICIT_ELEMENTS)
    if not indices and not implicit:
        while length and _is_zero(obj[length - 1]):
            length -= 1
    items: List[Tuple[str, Object]] = []
    for i in range(length):
        e = obj[i]
        if indices and not implicit and _is_zero(e):
            continue
        items.append((f"[{i}] = " if indices else "", e))
    return _initializer(items, _element_flags(flags), indent, one, multi, bool(flags & ELEMENTS_SAME_LINE), ctx)


def _initializer(items: List[Tuple[str, Object]], item_flags: int, indent: int, one: int, multi: int,
                 same_line: bool, ctx: _Context) -> str:
    """``{ a, b }`` if it fits in ``one`` columns (and ``same_line``), else one item per
    line (several per line when ``same_line`` and they fit in ``multi`` columns)."""
    if not items:
        return "{}"
    if same_line:
        parts = ["{"]
        remaining = max(one - 1, 0)
        fits = True
        for n, (designation, sub) in enumerate(items):
            if n == 0:
                if remaining < 3:
                    fits = False
                    break
                parts.append(" ")
                remaining -= 1
            else:
                if remaining < 4:
                    fits = False
                    break
                parts.append(", ")
                remaining -= 2
            if designation:
                if remaining < len(designation):
                    fits = False
                    break
                parts.append(designation)
                remaining -= len(designation)
            try:
                text = _format(sub, indent + 1, remaining - 2, 0, item_flags, ctx)
            except _Wrap:
                fits = False
                break
            if remaining < len(text):
                fits = False
                break
            parts.append(text)
            remaining -= len(text)
        if fits and remaining >= 2:
            parts.append(" }")
            return "".join(parts)
    if multi == 0:
        raise _Wrap()
    start_columns = max(multi - 8 * (indent + 1), 0)
    remaining = 0
    tabs = "\t" * (indent + 1)
    out = ["{"]
    for designation, sub in items:
        line_columns = max(start_columns - len(designation), 0)
        if line_columns > 1:
            line: Optional[str]
            try:
                line = _format(sub, 0, line_columns - 1, 0, item_flags, ctx)
            except _Wrap:
                line = None
            if line is not None:
                entry = designation + line
                if same_line and len(entry) + 2 <= remaining:
                    out.append(" " + entry + ",")
                    remaining -= len(entry) + 2
                    continue
                if len(entry) < start_columns:
                    out.append("\n" + tabs + entry + ",")
                    remaining = start_columns - len(entry) - 1
                    continue
        text = _format(sub, indent + 1, 0, multi, item_flags, ctx)
        out.append("\n" + tabs + designation + text + ",")
        remaining = 0
    out.append("\n" + "\t" * indent + "}")
    return "".join(out)


install_printer(format_object)
