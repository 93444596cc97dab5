"""One pass over a DWARF ``vmlinux`` for everything the tools read from it, cached.

The declaration table's generator and its coverage tool read a kernel's variables
(:func:`tools.dwarf_globals.iter_dwarf_variables`); the zero-length-array list, its
generator and ``tests/test_flexible_arrays.py`` read how each named struct and union
declares its zero-length array members (``T x[0]`` or ``T x[]``,
:mod:`tools.zero_length_arrays`). Each was a pass of its own with pyelftools over the same
DWARF (a minute or two a kernel), and two test workers that asked at once each made it.
Here one pass makes both (the variables' scan hands every top-level struct and union DIE to
:class:`_FirstDefinitions` on the way), under a lock per file, and keeps them in the kdbg
cache under the file's identity (:func:`tools.dwarf_globals.file_cache_keys`): the
variables' entry is the one :func:`dwarf_variables` always kept.
"""

from __future__ import annotations

import json
import lzma
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from kdbg.declarations import zero_length_container
from tools.dwarf_globals import (
    CACHE_VERSION,
    DwarfVariable,
    _TypeReader,
    cached_entry,
    file_cache_keys,
    iter_dwarf_variables,
    variable_rows,
    variables_of_rows,
)
from vmcores.debian import cache_root, file_lock

__all__ = ["dwarf_variables", "zero_length_declarations", "ZeroLengthDeclarations"]

#: The version of the zero-length entry (the variables' is :data:`tools.dwarf_globals.CACHE_VERSION`).
ZERO_LENGTH_VERSION = 1

#: ``(outer, {"CONTAINER.member": "[0]"|"[]"})`` for the first complete definition of each
#: named struct or union (``"struct xregs_state"``) that has zero-length array members
#: (its own or its anonymous members'), in DIE order.
ZeroLengthDeclarations = List[Tuple[str, Dict[str, str]]]

_QUALIFIERS = ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type",
               "DW_TAG_atomic_type")  # fmt: skip


def _strip(reader: _TypeReader, die: Any) -> Optional[Any]:
    """The DIE of a type through typedefs and qualifiers (``None``: void)."""
    for _ in range(64):
        if die is None or die.tag not in _QUALIFIERS:
            return die
        die = reader.ref(die)
    return None


def _declared_length(die: Any) -> Optional[str]:
    """``"[0]"`` or ``"[]"`` for an array DIE of zero or no length, else ``None``."""
    for c in die.iter_children():
        if c.tag != "DW_TAG_subrange_type":
            continue
        a = c.attributes
        if "DW_AT_count" in a:
            return "[0]" if a["DW_AT_count"].value == 0 else None
        if "DW_AT_upper_bound" in a:
            ub = a["DW_AT_upper_bound"].value
            return "[0]" if isinstance(ub, int) and ub in (-1, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF) else None
        return "[]"
    return "[]"


def _members(reader: _TypeReader, die: Any, out: Dict[str, str], depth: int = 0) -> None:
    """Each zero-length array member of the struct or union *die* and of its anonymous
    members, keyed as :func:`kdbg.declarations.zero_length_container` keys containers."""
    children = [c for c in die.iter_children() if c.tag == "DW_TAG_member"]
    names = [c.attributes["DW_AT_name"].value.decode(errors="replace") if "DW_AT_name" in c.attributes else ""
             for c in children]  # fmt: skip
    name_attr = die.attributes.get("DW_AT_name")
    keyword = "struct" if die.tag == "DW_TAG_structure_type" else "union"
    key = zero_length_container(keyword, name_attr.value.decode(errors="replace") if name_attr else "", names)
    for c, mname in zip(children, names, strict=True):
        t = _strip(reader, reader.ref(c))
        if t is None:
            continue
        if not mname and t.tag in ("DW_TAG_structure_type", "DW_TAG_union_type") and depth < 16:
            _members(reader, t, out, depth + 1)
        elif mname and t.tag == "DW_TAG_array_type":
            length = _declared_length(t)
            if length is not None:
                out.setdefault(f"{key}.{mname}", length)


class _FirstDefinitions:
    """The :data:`tools.dwarf_globals.ContainerVisitor` that collects
    :data:`ZeroLengthDeclarations`: of each name, the first definition (not a
    declaration) met."""

    def __init__(self) -> None:
        self.seen: Set[str] = set()
        self.found: ZeroLengthDeclarations = []

    def __call__(self, reader: _TypeReader, die: Any) -> None:
        if "DW_AT_declaration" in die.attributes or "DW_AT_name" not in die.attributes:
            return
        kw = "struct" if die.tag == "DW_TAG_structure_type" else "union"
        outer = f"{kw} {die.attributes['DW_AT_name'].value.decode(errors='replace')}"
        if outer in self.seen:
            return
        self.seen.add(outer)
        entries: Dict[str, str] = {}
        _members(reader, die, entries)
        if entries:
            self.found.append((outer, entries))


def _paths(vmlinux: Path) -> Tuple[List[Path], List[Path]]:
    top = cache_root() / "declarations"
    variables = [top / f"dwarf-vars-{key}.json.xz" for key in file_cache_keys(vmlinux, CACHE_VERSION)]
    zero = [top / f"zero-length-all-{key}.json.xz" for key in file_cache_keys(vmlinux, ZERO_LENGTH_VERSION)]
    return variables, zero


def _store(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(lzma.compress(json.dumps(value).encode()))
    os.replace(tmp, path)


def _pass(vmlinux: Path) -> Tuple[List[Any], ZeroLengthDeclarations]:
    """Both results of *vmlinux*, from the cache or from one pass that then fills it
    (under a lock per file: a second process asking meanwhile waits for the first)."""
    var_paths, zl_paths = _paths(vmlinux)
    rows, found = cached_entry(var_paths), cached_entry(zl_paths)
    if rows is not None and found is not None:
        return rows, [(o, e) for o, e in found]
    with file_lock(var_paths[0].with_name(f".pass-{var_paths[0].name}.lock")):
        rows, found = cached_entry(var_paths), cached_entry(zl_paths)
        if rows is None or found is None:
            visitor = _FirstDefinitions()
            made = variable_rows(list(iter_dwarf_variables(vmlinux, visitor)))
            if rows is None:
                rows = made
                _store(var_paths[0], rows)
            if found is None:
                found = visitor.found
                _store(zl_paths[0], found)
    return rows, [(o, e) for o, e in found]


def dwarf_variables(vmlinux: Path) -> List[DwarfVariable]:
    """:func:`tools.dwarf_globals.iter_dwarf_variables` of *vmlinux*, kept in the kdbg
    cache (a pass over a kernel's DWARF takes a minute or two; :func:`_pass`)."""
    rows = cached_entry(_paths(vmlinux)[0])
    return variables_of_rows(rows if rows is not None else _pass(vmlinux)[0])


def zero_length_declarations(vmlinux: Path, wanted: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """``"CONTAINER.member"`` -> ``"[0]"`` or ``"[]"`` as *vmlinux*'s DWARF declares each
    zero-length array member of the named structs and unions *wanted* (every one:
    ``None``) and of their anonymous members, from each one's first complete definition
    (a member keyed alike in two of them: the first, in DIE order)."""
    chosen = None if wanted is None else set(wanted)
    out: Dict[str, str] = {}
    for outer, entries in _pass(vmlinux)[1]:
        if chosen is None or outer in chosen:
            for k, v in entries.items():
                out.setdefault(k, v)
    return out
