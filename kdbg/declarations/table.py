"""The shipped declaration table: global name -> candidate C declarations of it.

Kernel BTF describes per-CPU variables only; every other global has a kallsyms address
and no type. :class:`DeclarationTable` maps a global's name to C declarations of it
(``struct task_struct init_task;``), generated offline from Debian's DWARF debug packages
of several kernels by ``python3 -m tools.gen_declarations`` and shipped in
``kdbg/data/declarations.kdt`` (:mod:`kdbg.declarations.tableformat`); hand-written
entries in ``kdbg/data/declarations-overrides.txt`` come first.
:func:`lookup_declared_type` picks the first candidate that parses against the target's
BTF (:mod:`kdbg.btf.cparse`) and fits a size when one is known. A module's globals are
keyed ``module:name``.
"""

from __future__ import annotations

import lzma
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from kdbg.btf.cparse import declared_name, parse_declaration
from kdbg.btf.resolve import BTFResolver
from kdbg.declarations.tableformat import Blocks
from kdbg.errors import DeclarationTableError, ExpressionError, KdbgError

if TYPE_CHECKING:
    from kdbg.btf.index import BTF
    from kdbg.btf.types import Type

__all__ = [
    "DeclarationTable", "lookup_declared_type", "module_key", "DATA_DIR", "TABLE_FILE", "OVERRIDES_FILE",
    "MODULE_SEPARATOR", "MODULE_RULE", "MODULE_COMMON", "DeclarationTableError",
]

#: Where the shipped table lives.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
#: The generated table: lines ``name<TAB>declaration[<TAB>declaration...]`` sorted by
#: name, in the block format of :func:`encode_table`.
TABLE_FILE = DATA_DIR / "declarations.kdt"
#: Between a module's name and a variable's in the table's keys of module globals
#: (``qemu_fw_cfg:fw_cfg_rev``): a module's entries sort together, one block holds them.
MODULE_SEPARATOR = ":"
#: Hand-written declarations, one a line (``#`` comments); for a name they list, they come
#: before the generated ones (so they win where a candidate fits).
OVERRIDES_FILE = DATA_DIR / "declarations-overrides.txt"


class DeclarationTable:
    """Global name -> candidate C declarations of it, in the order to try them.

    A name several kernels (or several same-named statics of one kernel) declare
    differently has several candidates; :func:`lookup_declared_type` takes the first that
    parses against the target's BTF and fits.

    A table read from text answers its first lookups by searching the text (a program
    that types a handful of globals never builds the whole index); the index is built
    once more names are asked for. A table read from the block format (the shipped one)
    answers a lookup from the one block that can hold the name, decompressed once;
    iterating it (:meth:`names`, ``len``) decompresses every block.
    """

    _shipped: Optional[DeclarationTable] = None
    #: Lookups answered by searching the text before the index is built.
    SEARCHES_BEFORE_INDEX = 64

    def __init__(self, entries: Optional[Mapping[str, Sequence[str]]] = None, comments: Sequence[str] = ()) -> None:
        self._entries: Dict[str, List[str]] = {k: list(v) for k, v in (entries or {}).items()}
        self._front: Dict[str, List[str]] = {}  # prepended (overrides): tried first
        self._text: Optional[str] = None  # "\n" + text not yet indexed into _entries
        self._blocks: Optional[Blocks] = None  # block-format text not yet indexed
        self._searches = 0
        #: The ``#`` lines of the text the table was read from (the generator names its
        #: source packages there).
        self.comments: List[str] = list(comments)
        #: ``(prefix, template)`` of the module rules (longest prefix first): a module
        #: global with no entry of its own whose name starts with ``prefix`` is declared
        #: by ``template`` with its name for ``@`` (see :data:`MODULE_RULE`).
        self.module_rules: List[Tuple[str, str]] = _module_rules(self.comments)
        #: name -> declarations every module with no entry of its own of that name gets
        #: (``__this_module``; see :data:`MODULE_COMMON`).
        self.module_common: Dict[str, List[str]] = _module_common(self.comments)

    # --- construction ------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str) -> DeclarationTable:
        """A table from its text form (lines ``name<TAB>decl<TAB>decl...``; ``#`` lines
        are comments)."""
        table = cls(comments=_comment_lines(text))
        table._text = "\n" + text
        return table

    @classmethod
    def from_blocks(cls, data: bytes, origin: str = "declaration table") -> DeclarationTable:
        """A table from the block format (:func:`encode_table`); ``origin`` names it in
        errors. Raises :class:`DeclarationTableError` on a damaged header or index (a
        damaged block, when a lookup first needs it)."""
        blocks = Blocks(data, origin)
        table = cls(comments=blocks.comments)
        table._blocks = blocks
        return table

    @classmethod
    def load(cls, path: Path) -> DeclarationTable:
        """A table from a file: the block format when it ends in ``.kdt``, else the text
        form, compressed when it ends in ``.zlib`` or ``.xz``."""
        data = path.read_bytes()
        if path.suffix == ".kdt":
            return cls.from_blocks(data, str(path))
        if path.suffix == ".xz":
            data = lzma.decompress(data)
        elif path.suffix == ".zlib":
            data = zlib.decompress(data)
        return cls.from_text(data.decode())

    @classmethod
    def shipped(cls) -> DeclarationTable:
        """The table shipped with kdbg, hand-written overrides first; loaded once."""
        if cls._shipped is None:
            table = cls.load(TABLE_FILE) if TABLE_FILE.exists() else cls()
            if OVERRIDES_FILE.exists():
                table.prepend(OVERRIDES_FILE.read_text())
            cls._shipped = table
        return cls._shipped

    def prepend(self, text: str) -> None:
        """Put the declarations of ``text`` (one a line, ``#`` comments) first for the
        names they declare. Raises :class:`ExpressionError` naming a line that declares
        no name."""
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            name = declared_name(line)
            if name is None:
                raise ExpressionError(f"declaration overrides line {n}: no name declared in {line!r}")
            front = self._front.setdefault(name, [])
            if line not in front:
                front.append(line)

    def add(self, name: str, declaration: str) -> None:
        """Append a candidate declaration of ``name`` (last to be tried)."""
        self._index()
        lst = self._entries.setdefault(name, [])
        if declaration not in lst:
            lst.append(declaration)

    # --- the index -----------------------------------------------------------------
    def _index(self) -> Dict[str, List[str]]:
        """Every entry of the text in :attr:`_entries` (once)."""
        if self._blocks is not None:
            text = self._blocks.whole()
            self._blocks = None
            self._text = "\n" + text if self._text is None else self._text + "\n" + text
        if self._text is not None:
            entries = self._entries
            for line in self._text.split("\n"):
                if not line or line[0] == "#":
                    continue
                name, _, rest = line.partition("\t")
                if rest:
                    lst = entries.setdefault(name, [])
                    lst.extend(d for d in rest.split("\t") if d not in lst)
            self._text = None
        return self._entries

    def _base(self, name: str) -> List[str]:
        if self._blocks is not None:
            i = self._blocks.block_of(name)
            found: List[str] = list(self._entries.get(name, ()))
            if i is not None:
                _search(self._blocks.text(i), name, found)
            return found
        if self._text is not None and self._searches < self.SEARCHES_BEFORE_INDEX:
            self._searches += 1
            found = list(self._entries.get(name, ()))
            _search(self._text, name, found)
            return found
        return self._index().get(name, [])

    # --- queries -----------------------------------------------------------------
    def get(self, name: str) -> Optional[List[str]]:
        """Candidate declaration texts for global ``name`` (``module:name`` for a module's
        global: its entries, else the module-common ones of its name, else the first
        module rule its name matches), or ``None``."""
        front = self._front.get(name, [])
        out = front + [d for d in self._base(name) if d not in front]
        if not out and (self.module_rules or self.module_common) and MODULE_SEPARATOR in name:
            bare = name.partition(MODULE_SEPARATOR)[2]
            common = self.module_common.get(bare)
            if common:
                return list(common)
            for prefix, template in self.module_rules:
                if bare.startswith(prefix) and len(bare) > len(prefix):
                    rest = bare[len(prefix) :]
                    return [template.replace("@", bare).replace("$", rest).replace("#", str(len(rest) + 1))]
        return out or None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return len(set(self._index()) | set(self._front))

    def names(self) -> Iterator[str]:
        """Every name in the table."""
        return iter(sorted(set(self._index()) | set(self._front)))

    def to_text(self) -> str:
        """The text form (:meth:`from_text` reads it back), sorted by name."""
        lines = []
        for name in self.names():
            decls = self.get(name)
            if decls:
                lines.append(f"{name}\t{chr(9).join(decls)}\n")
        return "".join(lines)


def _search(text: str, name: str, found: List[str]) -> None:
    """Append to ``found`` the declarations of ``name``'s lines in ``text`` (newline in
    front) that it lacks."""
    key = f"\n{name}\t"
    at = text.find(key)
    while at >= 0:
        end = text.find("\n", at + 1)
        found.extend(d for d in text[at + len(key) : end if end >= 0 else len(text)].split("\t")
                     if d not in found)  # fmt: skip
        at = text.find(key, at + 1)


#: The ``#`` line of a module rule: ``module-rule<TAB>prefix<TAB>template`` (the template
#: a C declaration with ``@`` for the name, ``$`` for the rest of it after the prefix,
#: ``#`` for that rest's length plus one: ``struct tracepoint @;``,
#: ``union { ...; btf_trace_$ handler; } @;``, ``const char @[#];``). The generator
#: writes one for a prefix of machine-made names (the tracepoint and trace event
#: boilerplate of every module) instead of an entry per variable that the rule gives.
MODULE_RULE = "module-rule"


#: The ``#`` line of a module-common name: ``module-common<TAB>name<TAB>declaration...``:
#: what a name that many modules declare alike (``__this_module``) is, for any module.
MODULE_COMMON = "module-common"


def _module_common(comments: Sequence[str]) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for c in comments:
        parts = c.split("\t")
        if len(parts) >= 3 and parts[0] == MODULE_COMMON:
            out[parts[1]] = parts[2:]
    return out


def _module_rules(comments: Sequence[str]) -> List[Tuple[str, str]]:
    rules = []
    for c in comments:
        parts = c.split("\t")
        if len(parts) == 3 and parts[0] == MODULE_RULE and "@" in parts[2]:
            rules.append((parts[1], parts[2]))
    return sorted(rules, key=lambda r: (-len(r[0]), r[0]))


def _comment_lines(text: str) -> List[str]:
    """The ``#`` lines of ``text`` without the ``#``, stripped; found with ``str.find``
    (splitting the whole table into lines cost more than searching it)."""
    out: List[str] = []
    pos = 0 if text.startswith("#") else text.find("\n#") + 1 or -1
    while pos >= 0:
        end = text.find("\n", pos)
        out.append(text[pos + 1 : end if end >= 0 else len(text)].strip())
        if end < 0:
            break
        pos = text.find("\n#", end) + 1 or -1
    return out


def module_key(module: str, name: str) -> str:
    """The table's key of global ``name`` of ``module``: ``qemu_fw_cfg:fw_cfg_rev``."""
    return f"{module}{MODULE_SEPARATOR}{name}"


def lookup_declared_type(
    table: DeclarationTable,
    name: str,
    btfs: Sequence[BTF],
    size_hint: Optional[int] = None,
    module: Optional[str] = None,
) -> Optional[Type]:
    """The type of global ``name`` from the first of its candidate declarations in
    ``table`` that parses against ``btfs`` (and, when ``size_hint`` is given, whose size
    equals it); ``None`` when no candidate fits. With ``module``, the candidates are that
    module's entries only (keyed ``module:name``): same-named statics of two modules, or
    of a module and vmlinux, never mix."""
    decls = table.get(name if module is None else module_key(module, name))
    if not decls:
        return None
    resolver = BTFResolver(btfs)
    for text in decls:
        try:
            pairs = parse_declaration(text, resolver, size_hint=size_hint)
        except KdbgError:
            continue
        for n, t in pairs:
            if n != name:
                continue
            if size_hint is not None and _size(t) != size_hint:
                break
            return t
    return None


def _size(t: Type) -> Optional[int]:
    try:
        return t.size
    except KdbgError:
        return None
