"""Completion for the REPL, from BTF and the symbol table, without evaluating anything.

:func:`complete` is the whole logic (no terminal needed): given the text before the
cursor it returns where the word being completed starts and the candidates, best first.
:class:`KdbgCompleter` wraps it for prompt_toolkit (the REPL runs it in a thread).

What is completed:

- the first word: command names, then Python names of the namespace, builtins, keywords;
- a command's arguments: type names for ``ptype``/``whatis``, symbols for ``sym``/``rd``;
  a word starting with ``-``: the command's options (``list -H``, ``rd -64``);
- ``struct ``/``union ``/``enum `` followed by a partial name: BTF type names of that kind;
- ``prog["ini``: variables and symbols;
- ``EXPR.na``: when EXPR's type is known statically (``prog["x"]``, ``prog.object("x")``,
  a name bound to an Object, ``cast("T", ...)``, ``container_of(p, "T", "m")``,
  ``.member`` chains through typedefs, qualifiers and pointers, ``[i]`` through arrays and
  pointers), its members first, then Object's own methods. The expression is parsed, never
  run, and no memory is read (a global's type comes from BTF or the declarations);
- ``a.b.`` over modules and other non-Object values: their attribute names (``dir``).
"""

from __future__ import annotations

import ast
import bisect
import builtins
import contextlib
import keyword
import re
import string
import threading
import types
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.btf.types import Array, Composite, Pointer, Type
from kdbg.core.object import Object
from kdbg.errors import KdbgError
from kdbg.ui.commands import commands
from kdbg.ui.dispatch import is_command_line

__all__ = ["Completions", "complete", "expression_type", "KdbgCompleter"]

#: Commands whose argument is a type name or an expression.
TYPE_COMMANDS = frozenset({"ptype", "whatis"})
#: Commands whose argument is a Python expression (completed as in Python).
EXPRESSION_COMMANDS = frozenset({"ptype", "whatis", "p"})
#: Commands whose argument is a symbol.
SYMBOL_COMMANDS = frozenset({"sym", "rd"})
#: The characters of an option word (``-H``, ``--json``, ``-64``).
OPTION_CHARS = string.ascii_letters + string.digits + "-_"

_KIND_WORDS = {
    "struct": (K.KIND_STRUCT,),
    "union": (K.KIND_UNION,),
    "enum": (K.KIND_ENUM, K.KIND_ENUM64),
}
_TAGGED = re.compile(r"\b(struct|union|enum)\s+(\w*)$")
_PROG_KEY = re.compile(r"\bprog\s*\[\s*(['\"])(\w*)$")
_IDENT_TAIL = re.compile(r"\w*$")
_CLOSERS = {")": "(", "]": "[", "}": "{"}


class Completions:
    """Sorted name lists, built once per Program on first use (thread-safe)."""

    def __init__(self, prog: Any) -> None:
        self.prog = prog
        self._lock = threading.Lock()
        self._types: Dict[str, List[str]] = {}
        self._all_types: Optional[List[str]] = None
        self._symbols: Optional[List[str]] = None

    def type_names(self, word: str) -> List[str]:
        """Sorted names of the BTF types of kind ``word`` (``struct``, ``union``, ``enum``)."""
        with self._lock:
            names = self._types.get(word)
            if names is None:
                kinds = _KIND_WORDS[word]
                found = set()
                for b in self.prog.btfs:
                    name_of = b.name_of
                    for tid in b.ids(kinds):
                        n = name_of(tid)
                        if n:
                            found.add(n)
                names = self._types[word] = sorted(found)
            return names

    def all_type_names(self) -> List[str]:
        """Sorted names of every named type (typedefs and base types for ``ptype u64``)."""
        with self._lock:
            if self._all_types is None:
                found = set()
                for b in self.prog.btfs:
                    found.update(b.names())
                self._all_types = sorted(found)
            return self._all_types

    def symbol_names(self) -> List[str]:
        """Sorted names of the symbols and BTF variables."""
        with self._lock:
            if self._symbols is None:
                found = set()
                with contextlib.suppress(KdbgError):
                    found.update(self.prog.symbol_table.names)
                with contextlib.suppress(KdbgError):
                    found.update(self.prog.btf_variables())
                self._symbols = sorted(found)
            return self._symbols


def _prefixed(names: Sequence[str], prefix: str, limit: int = 500) -> List[str]:
    """The names of sorted ``names`` starting with ``prefix`` (at most ``limit``)."""
    i = bisect.bisect_left(names, prefix)
    out: List[str] = []
    while i < len(names) and len(out) < limit and names[i].startswith(prefix):
        out.append(names[i])
        i += 1
    return out


def _underlying(t: Type) -> Type:
    """``t`` through typedefs and qualifiers."""
    return t.strip_typedefs()


def _composite(t: Type) -> Optional[Composite]:
    """The struct or union behind ``t``, or behind a pointer ``t`` (``.`` follows one)."""
    u = _underlying(t)
    if isinstance(u, Pointer):
        u = _underlying(u.type)
    return u if isinstance(u, Composite) else None


def _const_str(node: ast.AST) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _object_type(prog: Any, name: str) -> Optional[Type]:
    """The BTF type of global ``name`` (``prog.object`` builds a reference: no read). A name
    neither in the symbol table nor in BTF is not looked up (that would load the modules)."""
    try:
        if name not in prog.symbol_table and name not in prog.btf_variables():
            return None
        obj = prog.object(name)
    except (KdbgError, LookupError):
        return None
    t = obj.type_
    return t if isinstance(t, Type) else None


def expression_type(prog: Any, g: Dict[str, Any], expr: str) -> Optional[Type]:
    """The BTF type of Python expression ``expr`` when it is known without running it."""
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None
    try:
        return _node_type(prog, g, node, 0)
    except (KdbgError, LookupError, AttributeError, TypeError, RecursionError):
        return None


def _is_prog(g: Dict[str, Any], node: ast.AST, prog: Any) -> bool:
    return isinstance(node, ast.Name) and g.get(node.id) is prog


def _node_type(prog: Any, g: Dict[str, Any], node: ast.AST, depth: int) -> Optional[Type]:
    if depth > 64:
        return None

    if isinstance(node, ast.Name):
        v = g.get(node.id)
        return v.type_ if isinstance(v, Object) else None
    if isinstance(node, ast.Subscript):
        if _is_prog(g, node.value, prog):
            key = node.slice
            if isinstance(key, ast.Index):  # pragma: no cover - Python 3.8 spelling
                key = key.value  # type: ignore[attr-defined]
            name = _const_str(key)
            return _object_type(prog, name) if name is not None else None
        inner = _node_type(prog, g, node.value, depth + 1)
        if inner is None:
            return None
        u = _underlying(inner)
        if isinstance(u, (Array, Pointer)):
            return u.type
        return None
    if isinstance(node, ast.Attribute):
        inner = _node_type(prog, g, node.value, depth + 1)
        if inner is None:
            return None
        if node.attr == "address_of_":
            return None
        comp = _composite(inner)
        if comp is None:
            return None
        m = comp.find_member(node.attr)
        return m.type if m is not None else None
    if isinstance(node, ast.Call):
        f = node.func
        args = node.args
        if isinstance(f, ast.Attribute):
            if _is_prog(g, f.value, prog) and f.attr in ("object", "variable", "function") and args:
                name = _const_str(args[0])
                return _object_type(prog, name) if name is not None else None
            if f.attr in ("read_", "deref_", "member_", "subobject_"):
                inner = _node_type(prog, g, f.value, depth + 1)
                if inner is None:
                    return None
                if f.attr == "read_":
                    return inner
                if f.attr == "deref_":
                    u = _underlying(inner)
                    return u.type if isinstance(u, Pointer) else None
                comp = _composite(inner)
                name = _const_str(args[0]) if args else None
                if comp is None or name is None:
                    return None
                if f.attr == "member_":
                    m = comp.find_member(name)
                    return m.type if m is not None else None
                return comp.offsetof_bits(name)[1]
        if isinstance(f, ast.Name) and f.id in ("cast", "reinterpret", "Object") and len(args) >= 2:
            spec = _const_str(args[0] if f.id != "Object" else args[1])
            return prog.type(spec) if spec is not None else None
        if isinstance(f, ast.Name) and f.id == "container_of" and len(args) >= 2:
            spec = _const_str(args[1])
            if spec is None:
                return None
            return prog.btf.pointer_to(prog.type(spec))
    return None


def _expression_start(text: str) -> int:
    """Where the Python expression ending at ``len(text)`` starts (scanning back over
    names, dots, balanced brackets and strings)."""
    i = len(text)
    depth: List[str] = []
    while i > 0:
        c = text[i - 1]
        if depth:
            if c in "\"'":
                j = text.rfind(c, 0, i - 1)
                if j < 0:
                    return i
                i = j
                continue
            if c in _CLOSERS:
                depth.append(c)
            elif c in "([{":
                if _CLOSERS[depth[-1]] != c:
                    return i
                depth.pop()
            i -= 1
            continue
        if c.isalnum() or c == "_" or c == ".":
            i -= 1
        elif c in _CLOSERS:
            depth.append(c)
            i -= 1
        else:
            break
    return i


def _object_methods() -> List[str]:

    return sorted(n for n in dir(Object) if not n.startswith("_"))


def _namespace_names(g: Dict[str, Any]) -> List[str]:
    names = set(g) | set(dir(builtins)) | set(keyword.kwlist)
    return sorted(n for n in names if not n.startswith("__"))


def _members_of(comp: Composite) -> List[str]:
    return sorted({n for n in comp.member_names() if n.isidentifier()})


def complete(prog: Any, g: Dict[str, Any], text: str,
             names: Optional[Completions] = None) -> Tuple[int, List[str]]:
    """``(start, candidates)`` for the text before the cursor: the word being completed is
    ``text[start:]`` and each candidate replaces it. Never evaluates ``text``."""
    names = names or Completions(prog)
    word = _IDENT_TAIL.search(text)
    start = word.start() if word else len(text)
    partial = text[start:]
    stripped = text.lstrip()
    first, sep, rest = stripped.partition(" ")
    table = commands()
    if not sep and "\n" not in text:
        if not re.fullmatch(r"\w*", first):
            pass
        else:
            cmds = sorted(n for n in table if n.startswith(partial))
            py = [n for n in _namespace_names(g) if n.startswith(partial) and n not in table]
            return start, cmds + py
    is_cmd = bool(sep) and first in table and "\n" not in text and is_command_line(stripped, g)
    m = _TAGGED.search(text)
    if m:
        return start, _prefixed(names.type_names(m.group(1)), partial)
    if is_cmd:
        token = text[len(text.rstrip(OPTION_CHARS)):]  # an option being typed: `list -H`
        if token.startswith("-"):
            return len(text) - len(token), [o for o in table[first].option_strings() if o.startswith(token)]
        if first in TYPE_COMMANDS and re.fullmatch(r"\s*\w*", rest):
            kinds = [w + " " for w in _KIND_WORDS if w.startswith(partial)]
            return start, kinds + _prefixed(names.all_type_names(), partial)
        if first in SYMBOL_COMMANDS and re.fullmatch(r"\s*\w*", rest):
            return start, _prefixed(names.symbol_names(), partial)
        if first == "help":
            return start, sorted(n for n in table if n.startswith(partial))
        if first not in EXPRESSION_COMMANDS:
            return start, []
    m = _PROG_KEY.search(text)
    if m:
        return start, _prefixed(names.symbol_names(), partial)
    before = text[:start]
    if before.endswith(".") and not before.endswith(".."):
        expr_text = before[:-1]
        expr_start = _expression_start(expr_text)
        expr = expr_text[expr_start:]
        if not expr or expr[0].isdigit():
            return start, []
        t = expression_type(prog, g, expr)
        if t is not None:
            comp = _composite(t)
            members = _members_of(comp) if comp is not None else []
            methods = _object_methods()
            return start, [n for n in members if n.startswith(partial)] + [
                n for n in methods if n.startswith(partial) and n not in members]
        return start, [n for n in _attributes(g, expr) if n.startswith(partial)]
    if partial or (before and not before[-1].isspace() and before[-1] in "([,=+-*/ "):
        return start, [n for n in _namespace_names(g) if n.startswith(partial)]
    return start, []


def _attributes(g: Dict[str, Any], expr: str) -> List[str]:
    """``dir()`` of a dotted name over non-Object values; getattr only through modules
    (so no property runs and nothing is read)."""
    parts = expr.split(".")
    if not all(p.isidentifier() for p in parts) or parts[0] not in g:
        return []
    value = g[parts[0]]
    for p in parts[1:]:
        if not isinstance(value, (types.ModuleType, type)):
            return []
        value = getattr(value, p, None)
    if isinstance(value, Object):
        return []
    own = sorted(n for n in dir(value) if not n.startswith("_"))
    return own


try:  # prompt_toolkit is a dependency of the REPL only
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.document import Document
except ImportError:  # pragma: no cover
    Completer = object  # type: ignore[misc,assignment]


class KdbgCompleter(Completer):
    """prompt_toolkit completer over :func:`complete` (wrap in ``ThreadedCompleter``)."""

    def __init__(self, prog: Any, g: Dict[str, Any]) -> None:
        self.prog = prog
        self.g = g
        self.names = Completions(prog)

    def get_completions(self, document: Document, complete_event: Any) -> Iterable[Completion]:
        """Candidates for the text before the cursor; a failure completes nothing."""
        try:
            start, found = complete(self.prog, self.g, document.text_before_cursor, self.names)
        except (KdbgError, RecursionError):
            return
        offset = start - len(document.text_before_cursor)
        for name in found:
            yield Completion(name, start_position=offset)
