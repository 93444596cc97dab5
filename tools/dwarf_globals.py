"""Every top-level variable with an address in a DWARF ``vmlinux``, typed as DWARF says.

This is the ground truth of the declaration table (:mod:`tools.gen_declarations`) and of
its coverage check (:mod:`tools.declaration_coverage`); it reads DWARF with pyelftools and
knows nothing of kdbg. ``pglobal -v`` (dwarves) was measured first and falls short: on
Debian's 6.1 it lists 4,118 names (external ones, deduplicated, no statics, no addresses,
some with an empty name or ``const const``), where DWARF has about 45,000 variables with an
address.

A variable's type is kept as a small tree of tuples (:data:`tools.dwarf_types.DType`, which
renders it as C, compares and sizes it). A module's variables (relocatable ``.ko`` files)
are read by :mod:`tools.dwarf_modules` with this module's DIE scan and cache entries.

pyelftools is run with ``relocate_dwarf_sections=False``: a linked vmlinux already holds
final values, and applying its 10 million ``.rela.debug_info`` entries in Python takes
ten minutes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import lzma
import os
import sys
from pathlib import Path
from typing import Any, Callable, Collection, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from tools.dwarf_types import DType, c_declaration, dwarf_size
from vmcores.debian import cache_root

__all__ = ["DwarfVariable", "CACHE_VERSION", "ContainerVisitor", "iter_dwarf_variables", "variable_rows",
           "variables_of_rows", "file_cache_keys", "cached_entry"]


#: The version of what the kdbg cache keeps of a file (vmlinux variables, a module's rows).
CACHE_VERSION = 4
_QUAL_TAGS = {"DW_TAG_const_type": "const", "DW_TAG_volatile_type": "volatile", "DW_TAG_restrict_type": "restrict"}
_TRANSPARENT = ("DW_TAG_atomic_type", "DW_TAG_immutable_type")
_NAMED = {
    "DW_TAG_base_type": "base",
    "DW_TAG_typedef": "typedef",
    "DW_TAG_structure_type": "struct",
    "DW_TAG_union_type": "union",
    "DW_TAG_enumeration_type": "enum",
}


@dataclasses.dataclass(frozen=True)
class DwarfVariable:
    """One variable DIE with an address: where it was defined and its type."""

    name: str
    #: ``None`` for a declaration (``extern``) only.
    address: Optional[int]
    type: DType
    cu: str

    @property
    def declaration(self) -> Optional[str]:
        """Its C declaration (an anonymous struct, union or enum spelled with its members:
        ``union { struct bpf_raw_event_map event; btf_trace_x handler; } y;``), or
        ``None`` when C cannot spell the type."""
        return c_declaration(self.type, self.name)


# --------------------------------------------------------------------------- DWARF
class _TypeReader:
    """Turns type DIEs of one CU into :data:`DType` trees (cached by DIE offset)."""

    def __init__(self, cu: Any) -> None:
        self.cu = cu
        self.cache: Dict[int, DType] = {}

    def ref(self, die: Any, attr: str = "DW_AT_type") -> Optional[Any]:
        a = die.attributes.get(attr)
        if a is None:
            return None
        off = a.value
        if a.form in ("DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata"):
            off += self.cu.cu_offset
        return self.cu.dwarfinfo.get_DIE_from_refaddr(off, self.cu)

    def type_of(self, die: Any, depth: int = 0) -> DType:
        t = self.ref(die)
        return ("void",) if t is None else self.dtype(t, depth + 1)

    def _typedef_size(self, die: Any, depth: int) -> Optional[int]:
        """Size of the type a typedef names (through typedefs, qualifiers, arrays)."""
        return dwarf_size(self.type_of(die, depth))

    def dtype(self, die: Any, depth: int = 0) -> DType:
        hit = self.cache.get(die.offset)
        if hit is not None:
            return hit
        if depth > 200:
            raise ValueError(f"type chain too deep at DIE {die.offset:#x}")
        tag = die.tag
        attrs = die.attributes
        name_attr = attrs.get("DW_AT_name")
        name = name_attr.value.decode(errors="replace") if name_attr is not None else ""
        t: DType
        if tag in _NAMED:
            kind = _NAMED[tag]
            size_attr = attrs.get("DW_AT_byte_size")
            if kind == "typedef":
                size = self._typedef_size(die, depth)
            else:
                size = size_attr.value if size_attr is not None else None
                if "DW_AT_declaration" in attrs:
                    size = None
            t = (kind, name, size)
            if not name and kind in ("struct", "union") and "DW_AT_declaration" not in attrs:
                members = []
                for c in die.iter_children():
                    if c.tag != "DW_TAG_member":
                        continue
                    ca = c.attributes
                    mname = ca["DW_AT_name"].value.decode(errors="replace") if "DW_AT_name" in ca else ""
                    bits = int(ca["DW_AT_bit_size"].value) if "DW_AT_bit_size" in ca else 0
                    members.append((mname, self.type_of(c, depth), bits))
                t = (kind, name, size, tuple(members))
            elif not name and kind == "enum":
                names = tuple(
                    c.attributes["DW_AT_name"].value.decode(errors="replace")
                    for c in die.iter_children()
                    if c.tag == "DW_TAG_enumerator"
                )
                t = (kind, name, size, names)
        elif tag == "DW_TAG_pointer_type":
            t = ("ptr", self.type_of(die, depth))
        elif tag in _QUAL_TAGS:
            t = (_QUAL_TAGS[tag], self.type_of(die, depth))
        elif tag in _TRANSPARENT:
            t = self.type_of(die, depth)
        elif tag == "DW_TAG_array_type":
            t = self.type_of(die, depth)
            dims: List[Optional[int]] = []
            for c in die.iter_children():
                if c.tag != "DW_TAG_subrange_type":
                    continue
                ca = c.attributes
                if "DW_AT_count" in ca:
                    dims.append(int(ca["DW_AT_count"].value))
                elif "DW_AT_upper_bound" in ca and isinstance(ca["DW_AT_upper_bound"].value, int):
                    dims.append(int(ca["DW_AT_upper_bound"].value) + 1)
                else:
                    dims.append(None)
            for d in reversed(dims or [None]):
                t = ("array", d, t)
        elif tag == "DW_TAG_subroutine_type":
            ret = self.type_of(die, depth)
            params: List[DType] = []
            variadic = False
            for c in die.iter_children():
                if c.tag == "DW_TAG_formal_parameter":
                    params.append(self.type_of(c, depth))
                elif c.tag == "DW_TAG_unspecified_parameters":
                    variadic = True
            t = ("func", ret, tuple(params), variadic)
        elif tag == "DW_TAG_unspecified_type":
            t = ("void",)
        else:
            raise ValueError(f"unexpected type DIE {tag} at {die.offset:#x}")
        self.cache[die.offset] = t
        return t


def die_address(die: Any) -> Optional[int]:
    loc = die.attributes.get("DW_AT_location")
    if loc is None or not isinstance(loc.value, list) or len(loc.value) < 9 or loc.value[0] != 0x03:
        return None  # DW_OP_addr <8 bytes> (maybe followed by more ops)
    return int.from_bytes(bytes(loc.value[1:9]), "little")


#: Bytes of the DWARF forms of a fixed size (the others, whose size depends on the CU or
#: on the value, are :meth:`_DieSkipper._skip_form`'s own cases; ``DW_FORM_indirect``,
#: which gcc does not write, is refused there).
_FORM_SIZE: Dict[str, int] = {
    "DW_FORM_data1": 1, "DW_FORM_ref1": 1, "DW_FORM_flag": 1, "DW_FORM_strx1": 1, "DW_FORM_addrx1": 1,
    "DW_FORM_data2": 2, "DW_FORM_ref2": 2, "DW_FORM_strx2": 2, "DW_FORM_addrx2": 2,
    "DW_FORM_strx3": 3, "DW_FORM_addrx3": 3,
    "DW_FORM_data4": 4, "DW_FORM_ref4": 4, "DW_FORM_strx4": 4, "DW_FORM_addrx4": 4, "DW_FORM_ref_sup4": 4,
    "DW_FORM_data8": 8, "DW_FORM_ref8": 8, "DW_FORM_ref_sig8": 8, "DW_FORM_ref_sup8": 8,
    "DW_FORM_data16": 16, "DW_FORM_flag_present": 0, "DW_FORM_implicit_const": 0,
}  # fmt: skip
_FORM_OFFSET = frozenset(("DW_FORM_strp", "DW_FORM_line_strp", "DW_FORM_sec_offset", "DW_FORM_strp_sup",
                          "DW_FORM_GNU_strp_alt", "DW_FORM_GNU_ref_alt"))
_FORM_LEB = frozenset(("DW_FORM_udata", "DW_FORM_sdata", "DW_FORM_ref_udata", "DW_FORM_strx", "DW_FORM_addrx",
                       "DW_FORM_rnglistx", "DW_FORM_loclistx", "DW_FORM_GNU_addr_index", "DW_FORM_GNU_str_index"))
_FORM_REF_CU = frozenset(("DW_FORM_ref1", "DW_FORM_ref2", "DW_FORM_ref4", "DW_FORM_ref8", "DW_FORM_ref_udata"))


def _uleb(data: Any, at: int) -> Tuple[int, int]:
    """``(value, offset after it)`` of the ULEB128 at ``data[at]``."""
    value = shift = 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, at
        shift += 7


class _DieSkipper:
    """Walks one CU's DIEs in ``.debug_info`` by their abbreviations alone, decoding only
    the lengths of attribute values (and ``DW_AT_sibling``), so that the top-level
    variables are found without pyelftools parsing every DIE of the CU (a module's CU has
    thousands of top-level type and function DIEs for a handful of variables)."""

    def __init__(self, data: Any, cu: Any) -> None:
        self.data = data
        self.cu = cu
        self.cu_offset = cu.cu_offset
        self.addr = cu["address_size"]
        self.offset_size = 8 if cu.structs.dwarf_format == 64 else 4
        self.ref_addr = self.addr if cu["version"] == 2 else self.offset_size
        self.abbrevs = cu.get_abbrev_table()
        #: abbreviation code -> (tag, has children, [(attribute, form)])
        self.decls: Dict[int, Tuple[str, bool, List[Tuple[str, str]]]] = {}

    def _decl(self, code: int) -> Tuple[str, bool, List[Tuple[str, str]]]:
        d = self.decls.get(code)
        if d is None:
            a = self.abbrevs.get_abbrev(code)
            d = (a["tag"], a.has_children(), list(a.iter_attr_specs()))
            self.decls[code] = d
        return d

    def _skip_form(self, form: str, at: int) -> int:
        data = self.data
        n = _FORM_SIZE.get(form)
        if n is not None:
            return at + n
        if form in _FORM_OFFSET:
            return at + self.offset_size
        if form in _FORM_LEB:
            return _uleb(data, at)[1]
        if form == "DW_FORM_addr":
            return at + self.addr
        if form == "DW_FORM_ref_addr":
            return at + self.ref_addr
        if form == "DW_FORM_string":
            return data.index(0, at) + 1
        if form in ("DW_FORM_block", "DW_FORM_exprloc"):
            n, at = _uleb(data, at)
            return at + n
        if form == "DW_FORM_block1":
            return at + 1 + data[at]
        if form == "DW_FORM_block2":
            return at + 2 + int.from_bytes(data[at : at + 2], "little")
        if form == "DW_FORM_block4":
            return at + 4 + int.from_bytes(data[at : at + 4], "little")
        raise ValueError(f"DIE at {at:#x}: DWARF form {form} not known to the skipper")

    def _ref(self, form: str, at: int) -> int:
        """The DIE offset a reference attribute of ``form`` at ``at`` names."""
        if form == "DW_FORM_ref_udata":
            return _uleb(self.data, at)[0] + self.cu_offset
        n = self.ref_addr if form == "DW_FORM_ref_addr" else _FORM_SIZE[form]
        v = int.from_bytes(self.data[at : at + n], "little")
        return v + self.cu_offset if form in _FORM_REF_CU else v

    def skip(self, at: int) -> Tuple[Optional[str], int]:
        """``(tag, offset of the next sibling)`` of the DIE at ``at`` (``None`` and the
        offset after it for the null entry that ends a list of children)."""
        code, at = _uleb(self.data, at)
        if code == 0:
            return None, at
        tag, children, specs = self._decl(code)
        sibling = None
        for name, form in specs:
            if name == "DW_AT_sibling" and children:
                sibling = self._ref(form, at)
            at = self._skip_form(form, at)
        if not children:
            return tag, at
        if sibling is not None:
            return tag, sibling
        while True:  # no DW_AT_sibling: walk the children up to their null entry
            child, at = self.skip(at)
            if child is None:
                return tag, at

    def name_of(self, at: int, strings: Optional[bytes]) -> Optional[Tuple[str, bool]]:
        """``(DW_AT_name or "", whether it has DW_AT_declaration)`` of the DIE at ``at``,
        read from its bytes (*strings*: ``.debug_str``), or ``None`` where its name has a
        form this does not read (pyelftools then parses the DIE)."""
        data = self.data
        code, at = _uleb(data, at)
        _tag, _children, specs = self._decl(code)
        name = ""
        declaration = False
        for attr, form in specs:
            if attr == "DW_AT_name":
                if form == "DW_FORM_string":
                    name = bytes(data[at : data.index(0, at)]).decode(errors="replace")
                elif form == "DW_FORM_strp" and strings is not None:
                    off = int.from_bytes(data[at : at + self.offset_size], "little")
                    name = strings[off : strings.index(0, off)].decode(errors="replace")
                else:
                    return None
            elif attr == "DW_AT_declaration":
                declaration = True
            at = self._skip_form(form, at)
        return name, declaration

    def top_children(self, top: Any, tags: Collection[str]) -> Iterator[Tuple[str, int]]:
        """``(tag, offset)`` of the children of the CU's top DIE ``top`` whose tag is one
        of *tags*, in order."""
        if not top.has_children:
            return
        at = top.offset + top.size
        while True:
            tag, after = self.skip(at)
            if tag is None:
                return
            if tag in tags:
                yield tag, at
            at = after


#: A function given each top-level struct and union DIE of a CU (and the CU's reader) by
#: :func:`iter_dwarf_variables`, in DIE order, as the pass over the CU meets it.
ContainerVisitor = Callable[[_TypeReader, Any], None]
_CONTAINER_TAGS = ("DW_TAG_structure_type", "DW_TAG_union_type")


def top_variables(dwarf: Any, containers: Optional[ContainerVisitor] = None) -> Iterator[Tuple[str, _TypeReader, Any]]:
    """``(cu_name, reader, die)`` of every top-level ``DW_TAG_variable`` DIE, CU by CU,
    in DIE order (found by :class:`_DieSkipper`; only those DIEs and the types they
    reach are parsed by pyelftools); a CU's parsed DIEs are dropped once it is done
    (pyelftools keeps every DIE it parsed for as long as the file is open: 6 GB over a
    kernel). *containers*, if given, is called on the way with the top-level struct and
    union DIEs (:data:`ContainerVisitor`), so that one pass serves both: every one but
    declarations, nameless ones and those of a name (``struct x`` or ``union x``) it was
    given before, which the skipper tells from the DIE's bytes (each of a kernel's 3,000
    CUs defines again the structs of the headers it includes)."""
    data = dwarf.debug_info_sec.stream.getvalue()
    strings = dwarf.debug_str_sec.stream.getvalue() if dwarf.debug_str_sec is not None else None
    tags = ("DW_TAG_variable",) + (_CONTAINER_TAGS if containers is not None else ())
    given: Set[Tuple[str, str]] = set()
    for cu in dwarf.iter_CUs():
        top = cu.get_top_DIE()
        cu_name_attr = top.attributes.get("DW_AT_name")
        cu_name = cu_name_attr.value.decode(errors="replace") if cu_name_attr is not None else ""
        reader = _TypeReader(cu)
        skipper = _DieSkipper(data, cu)
        for tag, at in list(skipper.top_children(top, tags)):
            if tag == "DW_TAG_variable":
                yield cu_name, reader, dwarf.get_DIE_from_refaddr(at, cu)
            elif containers is not None:
                named = skipper.name_of(at, strings)
                if named is not None:
                    if named[1] or not named[0] or (tag, named[0]) in given:
                        continue
                    given.add((tag, named[0]))
                containers(reader, dwarf.get_DIE_from_refaddr(at, cu))
        cu._dielist = []
        cu._diemap = []


def variable_definition(reader: _TypeReader, die: Any) -> Optional[Tuple[str, Any]]:
    """``(name, DIE holding its type)`` of a variable definition; one that refers to its
    declaration (``DW_AT_specification``, ``DW_AT_abstract_origin``) takes the
    declaration's name and type. ``None`` for a nameless one."""
    spec = reader.ref(die, "DW_AT_specification") or reader.ref(die, "DW_AT_abstract_origin")
    named = spec if spec is not None and "DW_AT_name" not in die.attributes else die
    if "DW_AT_name" not in named.attributes:
        return None
    typed = die if "DW_AT_type" in die.attributes else (spec if spec is not None else die)
    return named.attributes["DW_AT_name"].value.decode(errors="replace"), typed


def iter_dwarf_variables(vmlinux: Path, containers: Optional[ContainerVisitor] = None) -> Iterator[DwarfVariable]:
    """Every top-level ``DW_TAG_variable`` with a ``DW_OP_addr`` location, in DIE order
    (address 0 only where the ELF symbol table has the name there: per-CPU variables; a
    definition that refers to its declaration by ``DW_AT_specification`` takes the
    declaration's name and type); then, with ``address`` ``None``, each distinct
    ``extern`` declaration (``DW_AT_declaration``), which is all DWARF says of symbols the
    linker script defines (``jiffies``, ``_text``). *containers* is given every top-level
    struct and union DIE on the way (:func:`top_variables`)."""

    with open(vmlinux, "rb") as fh:
        elf = ELFFile(fh)
        symtab = elf.get_section_by_name(".symtab")
        # DWARF gives address 0 to variables in discarded sections (__exitcall_*, the
        # __UNIQUE_ID___addressable_* of init code); only the per-CPU ones there are real
        at_zero = ({s.name for s in symtab.iter_symbols() if s["st_value"] == 0}
                   if isinstance(symtab, SymbolTableSection) else set())
        dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        declared: Dict[Tuple[str, DType], str] = {}
        for cu_name, reader, die in top_variables(dwarf, containers):
            addr = die_address(die)
            if addr is None:
                if "DW_AT_declaration" in die.attributes and "DW_AT_name" in die.attributes:
                    name = die.attributes["DW_AT_name"].value.decode(errors="replace")
                    if "DW_AT_type" in die.attributes:
                        declared.setdefault((name, reader.type_of(die)), cu_name)
                continue
            found = variable_definition(reader, die)
            if found is None:
                continue
            name, typed = found
            if addr == 0 and name not in at_zero:
                continue
            yield DwarfVariable(name, addr, reader.type_of(typed), cu_name)
    for (name, t), cu_name in declared.items():
        yield DwarfVariable(name, None, t, cu_name)


def _to_json(t: DType) -> Any:
    return [_to_json(x) if isinstance(x, tuple) else x for x in t]


def _from_json(v: Any) -> DType:
    return tuple(_from_json(x) if isinstance(x, list) else x for x in v)


def file_cache_keys(path: Path, version: int, extra: str = "") -> List[str]:
    """Cache keys of what is read from the file *path* (a ``-dbg`` package's file under
    the kdbg cache), best first: of its path inside the cache, its size and mtime (so a
    copy of the cache, ``cp -al``, keeps its entries), then the older key of its absolute
    path, still looked up so that entries made before are not made again."""
    st = path.stat()
    full = path.resolve()
    try:
        where = str(full.relative_to(cache_root().resolve()))
    except ValueError:
        where = str(full)
    tail = f"{st.st_size}:{st.st_mtime_ns}{extra}"
    keys = [f"{version}:cache:{where}:{tail}", f"{version}:{full}:{tail}"]
    return [hashlib.sha1(k.encode()).hexdigest()[:20] for k in keys]


def cached_entry(paths: Sequence[Path]) -> Optional[Any]:
    """The JSON of the first of *paths* (one cache entry under each of its
    :func:`file_cache_keys`, best first) that holds a readable xz-compressed entry, else
    ``None``; an entry found under an older key is linked under the best one too."""
    for i, path in enumerate(paths):
        try:
            value = json.loads(lzma.decompress(path.read_bytes()))
        except (OSError, ValueError, lzma.LZMAError):
            continue
        if i:
            with contextlib.suppress(OSError):
                os.link(path, paths[0])
        return value
    return None


def variable_rows(variables: Sequence[DwarfVariable]) -> List[List[Any]]:
    """*variables* as the JSON rows the kdbg cache keeps (:func:`variables_of_rows`)."""
    return [[v.name, v.address, _to_json(v.type), v.cu] for v in variables]


def variables_of_rows(rows: Sequence[Sequence[Any]]) -> List[DwarfVariable]:
    """The variables of cached rows (:func:`variable_rows`)."""
    return [DwarfVariable(n, a, _from_json(t), c) for n, a, t, c in rows]


if __name__ == "__main__":  # pragma: no cover - a debugging aid
    for v in iter_dwarf_variables(Path(sys.argv[1])):
        print(f"{v.address:#018x} {v.declaration or '<anonymous> ' + v.name}")
