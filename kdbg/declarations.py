"""Types of globals that BTF has no VAR for: the shipped declaration table and a small C
declarator parser.

Kernel BTF describes per-CPU variables only; every other global has a kallsyms address
and no type. :class:`DeclarationTable` maps a global's name to C declarations of it
(``struct task_struct init_task;``), generated offline from Debian's DWARF debug packages
of several kernels by ``python3 -m tools.gen_declarations`` and shipped in
``kdbg/data/declarations.kdt`` (sorted by name, in independently zlib-compressed blocks
behind a small index: a lookup decompresses one block; see :func:`encode_table`);
hand-written entries in
``kdbg/data/declarations-overrides.txt`` come first. :func:`parse_declaration` turns a
declaration into ``(name, Type)`` pairs against the target's BTF, and
:func:`lookup_declared_type` picks the first candidate declaration that parses against
this kernel's BTF (and fits a size when one is known).

Derived types that BTF does not carry as such (a pointer to ``X``, an array of ``X``, a
function pointer) are the BTF's own where it has one of that shape (a PTR, CONST or
FUNC_PROTO), else made by its helpers (:meth:`BTF.pointer_to`, :meth:`BTF.array_of`,
:meth:`BTF.qualified`, :meth:`BTF.function_proto`). A variable of an anonymous type is
declared with the type's members (``enum { EMULATE, XONLY, NONE } vsyscall_mode;``) and
resolves to BTF's anonymous type with those members.
"""

from __future__ import annotations

import bisect
import lzma
import re
import struct
import weakref
import zlib
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.btf.index import BTF, type_shape
from kdbg.btf.types import Composite, Enum, Type, Void
from kdbg.errors import AmbiguousTypeError, DeclarationTableError, ExpressionError, KdbgError, TypeNotFoundError

__all__ = [
    "DeclarationTable",
    "parse_declaration",
    "parse_declarations",
    "lookup_declared_type",
    "DATA_DIR",
    "TABLE_FILE",
    "DeclarationTableError",
    "encode_table",
    "decode_table",
    "OVERRIDES_FILE",
    "MODULE_SEPARATOR",
    "module_key",
    "MODULE_RULE",
    "MODULE_COMMON",
    "ZERO_LENGTH_FILE",
    "btf_identity",
    "zero_length_container",
    "zero_length_exceptions",
]

#: Where the shipped table lives.
DATA_DIR = Path(__file__).resolve().parent / "data"
#: The generated table: lines ``name<TAB>declaration[<TAB>declaration...]`` sorted by
#: name, in the block format of :func:`encode_table`.
TABLE_FILE = DATA_DIR / "declarations.kdt"
#: Zero-length array members whose DWARF declaration (``[0]`` or ``[]``) the rule over
#: BTF gets wrong, per kernel build (:func:`zero_length_exceptions`).
ZERO_LENGTH_FILE = DATA_DIR / "zero-length-arrays.txt"
#: Between a module's name and a variable's in the table's keys of module globals
#: (``qemu_fw_cfg:fw_cfg_rev``): a module's entries sort together, one block holds them.
MODULE_SEPARATOR = ":"
#: Hand-written declarations, one a line (``#`` comments); for a name they list, they come
#: before the generated ones (so they win where a candidate fits).
OVERRIDES_FILE = DATA_DIR / "declarations-overrides.txt"


# ====================================================================== the block format
#: First bytes of a table in the block format.
TABLE_MAGIC = b"KDT1"
#: Uncompressed text per block the generator aims at: one block decompresses in well
#: under a millisecond.
BLOCK_SIZE = 48 * 1024
#: magic, index length, CRC-32 of the index.
_HEADER = struct.Struct("<4sII")


def encode_table(text: str, block_size: int = BLOCK_SIZE) -> bytes:
    """The block format of a table's text (``#`` lines, then ``name<TAB>decl...`` lines
    sorted by name).

    Layout: ``KDT1``, the index's length and CRC-32 (little-endian u32), the index, then
    the blocks. The index is UTF-8 text: the ``#`` lines as they are, then a line
    ``first_name<TAB>offset<TAB>compressed length<TAB>text length<TAB>CRC-32 of the
    compressed bytes`` a block (offsets from the end of the index). A block is
    ``zlib.compress(lines, 9)`` of about ``block_size`` bytes of whole lines; lines of
    one name are never split between blocks. Deterministic: same text, same bytes.
    """
    comments: List[str] = []
    lines: List[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            comments.append(line if line.endswith("\n") else line + "\n")
        elif line.strip():
            lines.append(line if line.endswith("\n") else line + "\n")
    names = [line.partition("\t")[0] for line in lines]
    if names != sorted(names):
        raise ValueError("a table's lines must be sorted by name to be written in blocks")
    blocks: List[Tuple[str, str]] = []
    chunk: List[str] = []
    size = 0
    for name, line in zip(names, lines):
        if size >= block_size and name != _last_name(chunk):
            blocks.append((chunk[0].partition("\t")[0], "".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line)
    if chunk:
        blocks.append((chunk[0].partition("\t")[0], "".join(chunk)))
    index = "".join(comments)
    body = bytearray()
    for first, block_text in blocks:
        raw = block_text.encode()
        data = zlib.compress(raw, 9)
        index += f"{first}\t{len(body)}\t{len(data)}\t{len(raw)}\t{zlib.crc32(data)}\n"
        body += data
    head = index.encode()
    return _HEADER.pack(TABLE_MAGIC, len(head), zlib.crc32(head)) + head + bytes(body)


def _last_name(chunk: Sequence[str]) -> Optional[str]:
    """The name of the last line of ``chunk``, or ``None`` when it is empty."""
    return chunk[-1].partition("\t")[0] if chunk else None


class _Blocks:
    """The index of a table in the block format and its blocks, decompressed on demand
    (each once)."""

    def __init__(self, data: bytes, origin: str) -> None:
        self.origin = origin
        if len(data) < _HEADER.size:
            raise DeclarationTableError(f"{origin}: not a declaration table (too short)")
        magic, index_len, index_crc = _HEADER.unpack_from(data)
        if magic != TABLE_MAGIC:
            raise DeclarationTableError(f"{origin}: not a declaration table (magic {magic!r})")
        index = data[_HEADER.size : _HEADER.size + index_len]
        if len(index) != index_len or zlib.crc32(index) != index_crc:
            raise DeclarationTableError(f"{origin}: damaged declaration table (index checksum)")
        self.comments: List[str] = []
        self.firsts: List[str] = []
        self.spans: List[Tuple[int, int, int, int]] = []
        base = _HEADER.size + index_len
        try:
            for line in index.decode().splitlines():
                if line.startswith("#"):
                    self.comments.append(line[1:].strip())
                    continue
                first, off, clen, tlen, crc = line.split("\t")
                self.firsts.append(first)
                self.spans.append((base + int(off), int(clen), int(tlen), int(crc)))
        except ValueError:
            raise DeclarationTableError(f"{origin}: damaged declaration table (index)") from None
        if self.spans and self.spans[-1][0] + self.spans[-1][1] != len(data):
            raise DeclarationTableError(f"{origin}: damaged declaration table (length {len(data)})")
        self.data = data
        self.texts: Dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.spans)

    def block_of(self, name: str) -> Optional[int]:
        """The block that holds ``name``'s lines if any does."""
        i = bisect.bisect_right(self.firsts, name) - 1
        return i if i >= 0 else None

    def text(self, i: int) -> str:
        """Block ``i``'s lines with a newline in front (decompressed once)."""
        got = self.texts.get(i)
        if got is None:
            off, clen, tlen, crc = self.spans[i]
            data = self.data[off : off + clen]
            try:
                if zlib.crc32(data) != crc:
                    raise zlib.error("checksum")
                raw = zlib.decompress(data)
                if len(raw) != tlen:
                    raise zlib.error("length")
                got = "\n" + raw.decode()
            except (zlib.error, UnicodeDecodeError):
                raise DeclarationTableError(
                    f"{self.origin}: damaged declaration table (block {i} of {len(self)})"
                ) from None
            self.texts[i] = got
        return got

    def whole(self) -> str:
        """Every block's lines, in order (no ``#`` lines)."""
        return "".join(self.text(i)[1:] for i in range(len(self)))


def decode_table(data: bytes, origin: str = "declaration table") -> str:
    """The text a table in the block format was made from (:func:`encode_table` of it
    gives ``data`` again). Raises :class:`DeclarationTableError` (one line) on a file
    that is not one or is damaged."""
    blocks = _Blocks(data, origin)
    index_len = _HEADER.unpack_from(data)[1]
    index = data[_HEADER.size : _HEADER.size + index_len].decode()
    comments = "".join(line + "\n" for line in index.splitlines() if line.startswith("#"))
    return comments + blocks.whole()


# ====================================================================== zero-length arrays
def btf_identity(data: bytes) -> str:
    """A kernel build's identity as the zero-length array list keys it: its vmlinux BTF's
    length and CRC-32 (``4111222:1a2b3c4d``)."""
    return f"{len(data)}:{zlib.crc32(data):08x}"


def zero_length_container(keyword: str, name: str, member_names: Sequence[str]) -> str:
    """How the zero-length array list names a struct or union: ``struct xregs_state``, an
    anonymous one by its member names (``struct {__empty_data,data}``)."""
    return f"{keyword} {name}" if name else f"{keyword} {{{','.join(member_names)}}}"


_ZERO_LENGTH: Optional[Dict[str, Dict[str, bool]]] = None
_ZERO_LENGTH_BY_BTF: weakref.WeakKeyDictionary[BTF, Dict[str, bool]] = weakref.WeakKeyDictionary()


def _zero_length_sections() -> Dict[str, Dict[str, bool]]:
    """identity (or ``*``) -> ``"CONTAINER.member"`` -> whether DWARF says ``[]``."""
    global _ZERO_LENGTH
    if _ZERO_LENGTH is None:
        out: Dict[str, Dict[str, bool]] = {}
        cur: Dict[str, bool] = {}
        try:
            text = ZERO_LENGTH_FILE.read_text()
        except OSError:
            text = ""
        for line in text.splitlines():
            if not line or line[0] == "#":
                continue
            if line.startswith("@ "):
                cur = out.setdefault(line.split(" ", 2)[1], {})
                continue
            said, _, key = line.partition(" ")
            cur[key] = said == "[]"
        _ZERO_LENGTH = out
    return _ZERO_LENGTH


def zero_length_exceptions(btf: BTF) -> Dict[str, bool]:
    """``"CONTAINER.member"`` -> whether DWARF declares it ``[]``, for the zero-length
    array members of ``btf``'s kernel (a split BTF: its base's) where the rule over BTF
    (:func:`kdbg.core.object.flexible_by_rule`) is wrong: the list made from that very build's
    DWARF by ``python3 -m tools.gen_declarations``, or, for a build it does not know,
    the members that are exceptions in every kernel it was made from."""
    base = btf
    while base.base is not None:
        base = base.base
    got = _ZERO_LENGTH_BY_BTF.get(base)
    if got is None:
        sections = _zero_length_sections()
        got = sections.get(btf_identity(base.data))
        if got is None:
            got = sections.get("*", {})
        _ZERO_LENGTH_BY_BTF[base] = got
    return got


# ====================================================================== the table
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
        self._blocks: Optional[_Blocks] = None  # block-format text not yet indexed
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
        blocks = _Blocks(data, origin)
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


# ====================================================================== the parser
_TOKEN = re.compile(
    r"\s*(?:(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(?P<p>\.\.\.|[*()\[\],;{}:=\-+]))"
)
_QUALS = {"const": "const", "volatile": "volatile", "restrict": "restrict", "__restrict": "restrict",
          "__restrict__": "restrict", "__const": "const", "__volatile__": "volatile"}  # fmt: skip
_BASE_WORDS = frozenset(
    ("void", "char", "short", "int", "long", "signed", "unsigned", "_Bool", "float", "double", "__int128",
     "__signed__", "__unsigned__")
)  # fmt: skip
#: Words a declaration may carry that do not change the type (storage classes, kernel
#: annotations that expand to attributes or nothing).
_IGNORED = frozenset(
    ("extern", "static", "inline", "__inline", "__inline__", "register", "auto", "__extension__", "_Atomic",
     "__rcu", "__user", "__iomem", "__percpu", "__force", "__kernel", "__safe", "__nocast", "__bitwise",
     "__read_mostly", "__ro_after_init", "__initdata", "__initconst", "__init", "__exit", "__exitdata",
     "__maybe_unused", "__used", "__weak", "__visible", "__cacheline_aligned", "__cacheline_aligned_in_smp",
     "__page_aligned_data", "__page_aligned_bss", "__aligned_largest", "__packed", "__must_check",
     "__private", "__data_racy", "__counted_by")
)  # fmt: skip
_ATTRIBUTE_WORDS = frozenset(("__attribute__", "__attribute", "__aligned", "__section", "__counted_by", "__asm__",
                              "asm", "__typeof__"))  # fmt: skip
_TAGS = ("struct", "union", "enum")

#: Deepest nesting of declarators (parentheses, parameter lists) accepted; real
#: declarations nest a few levels.
MAX_NESTING = 64

#: Most pointer levels, or array and function suffixes, one declarator takes; real
#: declarations use a few.
MAX_DERIVATIONS = 64

#: Longest declaration text an error message quotes whole.
_SHOWN = 100

#: One derivation step applied to a type: ("ptr", quals), ("array", n), ("func", params, variadic).
_Op = Tuple[object, ...]


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos


def _tokens(text: str) -> List[_Tok]:
    out: List[_Tok] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            rest = text[pos:]
            if not rest.strip():
                break
            at = pos + len(rest) - len(rest.lstrip())
            raise ExpressionError(f"bad declaration {text!r}: unexpected {text[at]!r} at position {at}")
        kind = m.lastgroup or "p"
        start = m.start(kind)
        out.append(_Tok(kind, m.group(kind), start))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


class _Specifiers:
    """The type specifiers of a declaration: ``const struct list_head``, ``unsigned long``."""

    def __init__(self) -> None:
        self.quals: List[str] = []
        self.words: List[str] = []  # base type keywords
        self.tag: Optional[Tuple[str, str]] = None
        self.typedef: Optional[str] = None
        #: The type of a ``struct { ... }`` / ``enum { ... }`` specifier, once found.
        self.anonymous: Optional[Type] = None
        self.pos = 0

    @property
    def empty(self) -> bool:
        return not self.words and self.tag is None and self.typedef is None

    def spelling(self) -> str:
        if self.tag is not None:
            return f"{self.tag[0]} {self.tag[1]}"
        if self.typedef is not None:
            return self.typedef
        return " ".join(self.words)


class _Parser:
    def __init__(self, text: str, btfs: Sequence[BTF], size_hint: Optional[int], syntax_only: bool = False) -> None:
        self.syntax_only = syntax_only
        if not btfs and not syntax_only:
            raise TypeNotFoundError(text, "no BTF to resolve the declaration's types in")
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.btfs = list(btfs)
        self.size_hint = size_hint
        self.depth = 0
        self.several = False

    # --- token helpers -------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def shown(self) -> str:
        """The declaration as an error message quotes it: whole, or its start and length."""
        if len(self.text) <= _SHOWN:
            return repr(self.text)
        return f"{self.text[:_SHOWN // 2]!r}... ({len(self.text)} characters)"

    def error(self, what: str, tok: Optional[_Tok] = None) -> ExpressionError:
        t = tok or self.tok
        found = f"{t.text[:_SHOWN // 2]!r}" if t.kind != "end" else "the end"
        return ExpressionError(f"bad declaration {self.shown()}: expected {what}, found {found} at position {t.pos}")

    def too_many(self, what: str) -> ExpressionError:
        """A declarator past :data:`MAX_DERIVATIONS`: refused while parsing."""
        return ExpressionError(f"bad declaration {self.shown()}: more than {MAX_DERIVATIONS} {what} in one "
                               f"declarator, at position {self.tok.pos}")

    def accept(self, text: str) -> bool:
        if self.tok.kind == "p" and self.tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise self.error(f"{text!r}")

    def skip_attribute(self) -> None:
        """Skip ``__attribute__((...))``-like words and their parenthesised arguments."""
        self.i += 1
        if self.tok.kind == "p" and self.tok.text == "(":
            depth = 0
            while True:
                t = self.tok
                if t.kind == "end":
                    raise self.error("')'")
                self.i += 1
                if t.text == "(":
                    depth += 1
                elif t.text == ")":
                    depth -= 1
                    if depth == 0:
                        return

    # --- grammar -------------------------------------------------------------------
    def declaration(self) -> List[Tuple[str, Type]]:
        spec = self.specifiers()
        if spec.empty:
            raise self.error("a type")
        decls: List[Tuple[str, List[_Op]]] = []
        while True:
            start = self.tok
            name, ops = self.declarator(abstract=False)
            if not name:
                raise self.error("a name to declare", start)
            decls.append((name, ops))
            if not self.accept(","):
                break
        if not self.accept(";") and self.tok.kind != "end":
            raise self.error("';' or the end")
        if not self.several and self.tok.kind != "end":
            raise self.error("the end (one declaration)")
        plain = len(decls) == 1 and not decls[0][1]
        base = self.resolve(spec, self.size_hint if plain else None, pick=not plain)
        return [(name, self.apply(base, ops, spec)) for name, ops in decls]

    def specifiers(self) -> _Specifiers:
        spec = _Specifiers()
        spec.pos = self.tok.pos
        while True:
            t = self.tok
            if t.kind != "id":
                return spec
            w = t.text
            if w in _QUALS:
                spec.quals.append(_QUALS[w])
                self.i += 1
            elif w in _IGNORED:
                self.i += 1
            elif w in _ATTRIBUTE_WORDS:
                self.skip_attribute()
            elif w in _TAGS:
                if not spec.empty:
                    raise self.error("one type", t)
                self.i += 1
                spec.pos = t.pos
                if self.tok.kind == "p" and self.tok.text == "{":
                    spec.anonymous = self.anonymous_body(w)
                    spec.tag = (w, "")
                    continue
                if self.tok.kind != "id":
                    raise self.error(f"a {w} tag name or '{{'")
                spec.tag = (w, self.tok.text)
                self.i += 1
                if self.tok.kind == "p" and self.tok.text == "{":
                    self.anonymous_body(w)  # a tagged definition: the tag names the type
            elif w in _BASE_WORDS:
                if spec.tag is not None or spec.typedef is not None:
                    raise self.error("one type", t)
                if not spec.words:
                    spec.pos = t.pos
                spec.words.append({"__signed__": "signed", "__unsigned__": "unsigned"}.get(w, w))
                self.i += 1
            elif spec.empty:
                spec.typedef = w
                spec.pos = t.pos
                self.i += 1
            else:
                return spec  # the declarator's name

    def anonymous_body(self, keyword: str) -> Type:
        """The ``{ ... }`` of a struct, union or enum specifier (at the cursor): the BTF's
        anonymous type of that kind with these member (enumerator) names, the one whose
        member types match where several do."""
        open_tok = self.tok
        self.expect("{")
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"at most {MAX_NESTING} nested declarators")
        try:
            if keyword == "enum":
                names: List[str] = []
                while not self.accept("}"):
                    if self.tok.kind != "id":
                        raise self.error("an enumerator name")
                    names.append(self.tok.text)
                    self.i += 1
                    if self.accept("="):
                        while self.tok.kind != "end" and self.tok.text not in (",", "}"):
                            self.i += 1
                    if not self.accept(","):
                        self.expect("}")
                        break
                members: List[Tuple[str, Optional[Type]]] = [(n, None) for n in names]
            else:
                members = []
                while not self.accept("}"):
                    mspec = self.specifiers()
                    if mspec.empty:
                        raise self.error("a member type")
                    if self.accept(";"):
                        members.append(("", self.resolve(mspec, pick=True)))
                        continue
                    while True:
                        mname, ops = self.declarator(abstract=True)
                        if self.accept(":"):
                            if self.tok.kind != "num":
                                raise self.error("a bitfield width")
                            self.i += 1
                        members.append((mname, self.apply(self.resolve(mspec, pick=not ops), ops, mspec)))
                        if not self.accept(","):
                            break
                    self.expect(";")
        finally:
            self.depth -= 1
        if self.syntax_only:
            return Void()
        found = _find_anonymous(self.btfs, keyword, members)
        if found is None:
            raise TypeNotFoundError(f"{keyword} {{...}}", f"no such anonymous {keyword} in BTF, in declaration "
                                    f"{self.text!r} at position {open_tok.pos}")  # fmt: skip
        return found

    def declarator(self, abstract: bool) -> Tuple[str, List[_Op]]:
        """``name`` and the derivation steps to apply to the base type, in order."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"at most {MAX_NESTING} nested declarators")
        try:
            return self._declarator(abstract)
        finally:
            self.depth -= 1

    def _declarator(self, abstract: bool) -> Tuple[str, List[_Op]]:
        ptrs: List[_Op] = []
        while self.accept("*"):
            if len(ptrs) == MAX_DERIVATIONS:
                raise self.too_many("pointer levels")
            quals: List[str] = []
            while self.tok.kind == "id" and (self.tok.text in _QUALS or self.tok.text in _IGNORED
                                             or self.tok.text in _ATTRIBUTE_WORDS):  # fmt: skip
                if self.tok.text in _QUALS:
                    quals.append(_QUALS[self.tok.text])
                    self.i += 1
                elif self.tok.text in _IGNORED:
                    self.i += 1
                else:
                    self.skip_attribute()
            ptrs.append(("ptr", tuple(quals)))
        name = ""
        inner: List[_Op] = []
        t = self.tok
        if t.kind == "id" and t.text in _ATTRIBUTE_WORDS:
            self.skip_attribute()
            t = self.tok
        if t.kind == "id":
            name = t.text
            self.i += 1
        elif t.kind == "p" and t.text == "(" and self._nested_declarator():
            self.i += 1
            name, inner = self.declarator(abstract)
            self.expect(")")
        elif not abstract:
            raise self.error("a name to declare")
        suffixes: List[_Op] = []
        while True:
            if len(suffixes) == MAX_DERIVATIONS and self.tok.kind == "p" and self.tok.text in ("[", "("):
                raise self.too_many("array or function suffixes")
            if self.accept("["):
                n = 0
                if self.tok.kind == "num":
                    n = int(self.tok.text, 0)
                    self.i += 1
                elif not (self.tok.kind == "p" and self.tok.text == "]"):
                    raise self.error("an array length or ']'")
                self.expect("]")
                suffixes.append(("array", n))
            elif self.tok.kind == "p" and self.tok.text == "(":
                self.i += 1
                params, variadic = self.parameters()
                suffixes.append(("func", params, variadic))
            else:
                break
        while self.tok.kind == "id" and (self.tok.text in _ATTRIBUTE_WORDS or self.tok.text in _IGNORED):
            if self.tok.text in _IGNORED:
                self.i += 1
            else:
                self.skip_attribute()
        return name, ptrs + list(reversed(suffixes)) + inner

    def _nested_declarator(self) -> bool:
        """Whether the ``(`` at the cursor opens a nested declarator (``(*fn)``) rather
        than a parameter list (``(int)``, ``(void)``, ``()``)."""
        nxt = self.toks[self.i + 1]
        if nxt.kind == "p":
            return nxt.text in ("*", "(", "[")
        if nxt.kind == "id":
            w = nxt.text
            if w in _QUALS or w in _BASE_WORDS or w in _TAGS or w in _IGNORED or w in _ATTRIBUTE_WORDS:
                return False
            return not self._names_type(w)
        return False

    def _names_type(self, word: str) -> bool:
        if self.syntax_only:
            return False
        kinds = (K.KIND_TYPEDEF, K.KIND_INT, K.KIND_FLOAT)
        return any(b.ids_by_name(word, kinds) for b in self.btfs)

    def parameters(self) -> Tuple[List[Type], bool]:
        """A parameter list after its ``(``, through its ``)``."""
        params: List[Type] = []
        variadic = False
        if self.accept(")"):
            return params, False
        while True:
            if self.accept("..."):
                variadic = True
                self.expect(")")
                return params, variadic
            spec = self.specifiers()
            if spec.empty:
                raise self.error("a parameter type")
            _name, ops = self.declarator(abstract=True)
            base = self.resolve(spec, pick=True)
            t = self.apply(base, ops, spec)
            if not ops and not params and t.kind == K.KIND_UNKN and self.tok.text == ")":
                self.i += 1
                return [], False  # (void)
            # a parameter of array or function type is a pointer (C's adjustment)
            if ops and ops[-1][0] in ("array", "func"):
                adjusted = ops[:-1] + [("ptr", ())] if ops[-1][0] == "array" else ops + [("ptr", ())]
                t = self.apply(base, adjusted, spec)
            params.append(t)
            if self.accept(","):
                continue
            self.expect(")")
            return params, variadic

    # --- types ---------------------------------------------------------------------
    def resolve(self, spec: _Specifiers, size: Optional[int] = None, pick: bool = True) -> Type:
        """The base type named by ``spec``: from the first of the BTFs (base, then split
        ones) that has it. A name several types share resolves by ``size`` (the BTF's
        rule); failing that, under a pointer (``pick``) the first definition is taken,
        else :class:`AmbiguousTypeError` is raised."""
        if self.syntax_only:
            return Void()
        if spec.anonymous is not None:
            return spec.anonymous
        spelling = spec.spelling()
        for btf in self.btfs:
            words = spec.words
            try:
                if words and any(w in ("float", "double", "__int128") for w in words):
                    if "__int128" in words:
                        name = "__int128 unsigned" if "unsigned" in words else "__int128"
                    else:
                        name = " ".join(w for w in words if w != "signed")
                    found = btf.find(name, (K.KIND_INT, K.KIND_FLOAT))
                    if found is not None:
                        return found
                    continue
                if words in (["signed"], ["unsigned"]):
                    spelling = f"{words[0]} int"
                return btf.lookup(spelling, size=size)
            except AmbiguousTypeError as e:
                if pick:
                    return btf.type(e.candidates[0][0])
                raise AmbiguousTypeError(e.name, e.candidates) from None
            except TypeNotFoundError:
                continue
        raise TypeNotFoundError(spelling, f"in declaration {self.text!r} at position {spec.pos}")

    def apply(self, base: Type, ops: Sequence[_Op], spec: _Specifiers) -> Type:
        """``base`` with the specifiers' qualifiers and then ``ops`` applied."""
        if self.syntax_only:
            return base
        t = base
        for q in dict.fromkeys(spec.quals):
            t = _qualified(self.btfs, t, q)
        for op in ops:
            owner = _owner(t, self.btfs)
            if op[0] == "ptr":
                t = owner.pointer_to(t)
                for q in dict.fromkeys(op[1]):  # type: ignore[call-overload]
                    t = _qualified(self.btfs, t, str(q))
            elif op[0] == "array":
                if t.kind == K.KIND_FUNC_PROTO:
                    raise ExpressionError(f"bad declaration {self.text!r}: array of functions")
                t = owner.array_of(t, int(op[1]))  # type: ignore[call-overload]
            else:
                params: List[Type] = list(op[1])  # type: ignore[call-overload]
                t = _function_proto(self.btfs, t, params, bool(op[2]))
        return t


def _owner(t: Type, btfs: Sequence[BTF]) -> BTF:
    """The BTF to make types derived from ``t`` in: its own, else (void) the base."""
    return t.btf if t.btf is not None else btfs[0]


_QUAL_KINDS = {"const": K.KIND_CONST, "volatile": K.KIND_VOLATILE, "restrict": K.KIND_RESTRICT}
_QUAL_INDEX: weakref.WeakKeyDictionary[BTF, Dict[Tuple[int, int], int]] = weakref.WeakKeyDictionary()


def _qualified(btfs: Sequence[BTF], t: Type, keyword: str) -> Type:
    """``t`` qualified by ``keyword``: the BTF's own CONST/VOLATILE/RESTRICT of ``t`` when
    it has one (so that prototypes built on it match the BTF's), else synthesized."""
    owner = _owner(t, btfs)
    idx = _QUAL_INDEX.get(owner)
    if idx is None:
        idx = {}
        for tid in owner.all_ids(tuple(_QUAL_KINDS.values())):
            q = owner.type(tid)
            idx.setdefault((q.kind, getattr(q, "type_id", 0)), tid)
        _QUAL_INDEX[owner] = idx
    hit = idx.get((_QUAL_KINDS[keyword], t.id))
    return owner.type(hit) if hit is not None else owner.qualified(t, keyword)


_ANON_INDEX: weakref.WeakKeyDictionary[BTF, Dict[Tuple[int, Tuple[str, ...]], List[int]]] = (
    weakref.WeakKeyDictionary()
)


def _anonymous_index(btf: BTF) -> Dict[Tuple[int, Tuple[str, ...]], List[int]]:
    """(kind, member or enumerator names) -> ids of this BTF's own anonymous structs,
    unions and enums."""
    idx = _ANON_INDEX.get(btf)
    if idx is None:
        idx = {}
        kinds = (K.KIND_STRUCT, K.KIND_UNION, K.KIND_ENUM, K.KIND_ENUM64)
        for tid in btf.ids(kinds):
            if btf.name_of(tid):
                continue
            t = btf.type(tid)
            kind = K.KIND_ENUM if t.kind == K.KIND_ENUM64 else t.kind
            if isinstance(t, Composite):
                names = tuple(m.name for m in t.members)
            else:
                assert isinstance(t, Enum)
                names = tuple(e.name for e in t.enumerators)
            idx.setdefault((kind, names), []).append(tid)
        _ANON_INDEX[btf] = idx
    return idx


_KEYWORD_KIND = {"struct": K.KIND_STRUCT, "union": K.KIND_UNION, "enum": K.KIND_ENUM}


def _find_anonymous(btfs: Sequence[BTF], keyword: str, members: Sequence[Tuple[str, Optional[Type]]]) -> Optional[Type]:
    """The first anonymous ``keyword`` type of ``btfs`` with these member names, one whose
    member types are the parsed ones (same type, or same shape) preferred."""
    key = (_KEYWORD_KIND[keyword], tuple(n for n, _ in members))
    first: Optional[Type] = None
    for btf in btfs:
        for tid in _anonymous_index(btf).get(key, ()):
            t = btf.type(tid)
            if first is None:
                first = t
            if not isinstance(t, Composite):
                return t
            if all(want is None or _same_type(want, m.type) for (_, want), m in zip(members, t.members)):
                return t
    return first


def _same_type(a: Type, b: Type) -> bool:
    return a.id == b.id and a.btf is b.btf or type_shape(a, exact=True) == type_shape(b, exact=True)


_PROTO_INDEX: weakref.WeakKeyDictionary[BTF, Dict[Tuple[int, Tuple[int, ...], bool], int]] = (
    weakref.WeakKeyDictionary()
)


class _Offsets:
    """A name map that gives the string offset itself (for :meth:`Records.params`)."""

    def __getitem__(self, off: int) -> int:
        return off

    def get(self, off: int, default: object = None) -> int:
        return off


def _proto_index(btf: BTF) -> Dict[Tuple[int, Tuple[int, ...], bool], int]:
    """(return id, parameter ids, variadic) -> the first FUNC_PROTO of that shape."""
    idx = _PROTO_INDEX.get(btf)
    if idx is None:
        idx = {}
        named: Dict[Tuple[int, Tuple[int, ...], bool], int] = {}
        records = btf.records
        offsets = _Offsets()
        for tid in btf.all_ids((K.KIND_FUNC_PROTO,)):
            # straight from the records (name offsets, not names): 40,000 prototypes
            ret = records.head(tid)[2]
            params = records.params(tid, offsets)
            variadic = bool(params) and params[-1] == (0, 0)
            if variadic:
                params = params[:-1]
            key = (ret, tuple(t for _, t in params), variadic)
            # a function pointer's prototype has unnamed parameters; a function's has names
            (named if any(a for a, _ in params) else idx).setdefault(key, tid)
        for key, tid in named.items():
            idx.setdefault(key, tid)
        _PROTO_INDEX[btf] = idx
    return idx


def _function_proto(btfs: Sequence[BTF], ret: Type, params: Sequence[Type], variadic: bool) -> Type:
    """The prototype ``ret (params...)``: an existing FUNC_PROTO of that shape (in the last
    BTF any part comes from), else one synthesized there."""
    order = {id(b): i for i, b in enumerate(btfs)}
    owner = max((_owner(t, btfs) for t in (ret, *params)), key=lambda b: order.get(id(b), -1))
    key = (ret.id, tuple(p.id for p in params), variadic)
    if all(t.id >= 0 for t in (ret, *params)):
        hit = _proto_index(owner).get(key)
        if hit is not None:
            return owner.type(hit)
    return owner.function_proto(ret, params, variadic)


def parse_declaration(
    text: str, btfs: Sequence[BTF], size_hint: Optional[int] = None
) -> List[Tuple[str, Type]]:
    """Parse a C declaration against the target's BTF: ``"struct task_struct init_task;"``
    gives ``[("init_task", <struct task_struct>)]``.

    Handles pointers, arrays (``[N][M]``, ``[]``), function pointers, qualifiers, typedef
    names, ``struct``/``union``/``enum`` tags, base C types, several declarators
    (``int a, *b;``), storage classes and common kernel annotations (ignored). ``btfs`` is
    the base BTF then split (module) BTFs; a name resolves in the first that has it.
    ``size_hint`` (a plain declaration's size) picks among same-named types.

    Raises :class:`ExpressionError` (bad syntax) or :class:`TypeNotFoundError` (a type
    the BTF lacks), one line naming the text and position.
    """
    return _Parser(text, btfs, size_hint).declaration()


def parse_declarations(text: str, btfs: Sequence[BTF]) -> List[Tuple[str, Type]]:
    """Like :func:`parse_declaration` for several declarations in one text
    (``struct list_head modules; int x, *y;``), in order; ``;`` inside a
    ``struct { ... }`` body does not end a declaration."""
    p = _Parser(text, btfs, None)
    p.several = True
    out: List[Tuple[str, Type]] = []
    while True:
        out.extend(p.declaration())
        while p.accept(";"):
            pass
        if p.tok.kind == "end":
            return out


def declared_name(text: str) -> Optional[str]:
    """The first name a declaration declares, by its syntax alone (no BTF), or ``None``
    (bad syntax, or nothing declared)."""
    try:
        p = _Parser(text, (), None, syntax_only=True)
        spec = p.specifiers()
        if spec.empty:
            return None
        name, _ops = p.declarator(abstract=False)
    except KdbgError:
        return None
    return name or None


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
    for text in decls:
        try:
            pairs = parse_declaration(text, btfs, size_hint=size_hint)
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
