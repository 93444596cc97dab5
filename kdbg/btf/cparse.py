"""The one C declaration parser: type names (``struct list_head *``, ``char [16]``,
``int (*)(void *)``) and declarations (``struct task_struct init_task;``).

:class:`Parser` reads the syntax: specifiers (qualifiers, base type words, ``struct``/
``union``/``enum`` tags, typedef names, ``struct { ... }`` bodies), declarators
(pointers, arrays, function parameter lists, nested parentheses), several declarators
(``int a, *b;``), storage classes and common kernel annotations (ignored). What the
names mean comes from a :class:`Resolver`: :class:`BTFResolver` resolves them in a list
of BTFs (a program's base then its split BTFs); a program resolves them through its type
finders. A type picked by id is written ``struct dma_chan#32864`` (or ``#32864``, or a
bare id).

Bad syntax is one :class:`~kdbg.errors.ExpressionError` line naming the text and the
position; nesting is bounded (:data:`MAX_NESTING` declarators, :data:`MAX_DERIVATIONS`
pointer and array steps), so no input makes it recurse or work without end.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, List, Optional, Protocol, Sequence, Tuple

from kdbg.btf import constants as K
from kdbg.errors import ExpressionError, KdbgError, TypeNameSyntaxError, TypeNotFoundError

if TYPE_CHECKING:
    from kdbg.btf.types import Type

__all__ = [
    "Parser", "Resolver", "Specifiers", "parse_type_name", "parse_declaration",
    "parse_declarations", "declared_name", "MAX_NESTING", "MAX_DERIVATIONS",
]

_TOKEN = re.compile(
    r"\s*(?:(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>0[xX][0-9a-fA-F]+|\d+)[uUlL]*"
    r"|(?P<p>\.\.\.|[*()\[\],;{}:=\-+#]))"
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

#: Deepest nesting of declarators (parentheses, parameter lists, struct bodies) accepted.
MAX_NESTING = 64
#: Most pointer levels, or array and function suffixes, one declarator takes; real
#: declarations use a few.
MAX_DERIVATIONS = 64
#: Longest declaration text an error message quotes whole.
_SHOWN = 100
#: Longest text parsed.
MAX_TEXT = 1 << 20

#: One derivation step applied to a type: ("ptr", quals), ("array", n or None), ("func", params, variadic).
Op = Tuple[Any, ...]


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos


def _tokens(text: str) -> List[_Tok]:
    if len(text) > MAX_TEXT:
        raise ExpressionError(f"bad declaration: longer than {MAX_TEXT} characters")
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
            shown = repr(text) if len(text) <= _SHOWN else f"{text[:_SHOWN // 2]!r}... ({len(text)} characters)"
            raise ExpressionError(f"bad declaration {shown}: unexpected {text[at]!r} at position {at}")
        kind = m.lastgroup or "p"
        out.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


class Specifiers:
    """The type specifiers of a declaration: ``const struct list_head``, ``unsigned long``;
    ``pick`` is the type id written after ``#``."""

    def __init__(self) -> None:
        self.quals: List[str] = []
        self.words: List[str] = []  # base type keywords
        self.tag: Optional[Tuple[str, str]] = None
        self.typedef: Optional[str] = None
        #: The type of a ``struct { ... }`` / ``enum { ... }`` specifier, once found.
        self.anonymous: Optional[Type] = None
        self.pick: Optional[int] = None
        self.pos = 0

    @property
    def empty(self) -> bool:
        """No type named yet."""
        return not self.words and self.tag is None and self.typedef is None and self.pick is None

    def spelling(self) -> str:
        """The type as written (without qualifiers)."""
        if self.tag is not None:
            text = f"{self.tag[0]} {self.tag[1]}"
        elif self.typedef is not None:
            text = self.typedef
        else:
            text = " ".join(self.words)
        return f"{text}#{self.pick}" if self.pick is not None else text


class Resolver(Protocol):
    """What names in a declaration mean, and how derived types are made."""

    def base(self, spec: Specifiers, size: Optional[int], pick_first: bool) -> Type:
        """The type ``spec`` names (``size`` chooses among same-named types; with
        ``pick_first`` the first definition is taken where several remain);
        :class:`~kdbg.errors.TypeNotFoundError` if none."""

    def names_type(self, word: str) -> bool:
        """Whether ``word`` is a typedef or base type name (``(word)`` is then a
        parameter list, not a nested declarator)."""

    def anonymous(self, keyword: str, members: Sequence[Tuple[str, Optional[Type]]]) -> Optional[Type]:
        """The anonymous ``keyword`` type with these member (enumerator) names."""

    def pointer_to(self, t: Type) -> Type:
        """``t *``."""

    def array_of(self, t: Type, length: Optional[int]) -> Type:
        """``t [length]`` (``None``: ``t []``)."""

    def qualified(self, t: Type, keyword: str) -> Type:
        """``t`` with qualifier ``keyword``."""

    def function_proto(self, ret: Type, params: Sequence[Type], variadic: bool) -> Type:
        """The function type ``ret (params...)``."""


class Parser:
    """A recursive-descent parser of one text (see the module docstring); ``resolver``
    ``None`` checks the syntax only."""

    def __init__(self, text: str, resolver: Optional[Resolver], size_hint: Optional[int] = None) -> None:
        self.resolver = resolver
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.size_hint = size_hint
        self.depth = 0
        self.several = False

    # --- token helpers -------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        """The token at the cursor."""
        return self.toks[self.i]

    def shown(self) -> str:
        """The text as an error message quotes it: whole, or its start and length."""
        if len(self.text) <= _SHOWN:
            return repr(self.text)
        return f"{self.text[:_SHOWN // 2]!r}... ({len(self.text)} characters)"

    def error(self, what: str, tok: Optional[_Tok] = None) -> ExpressionError:
        """``expected WHAT, found X at position N``."""
        t = tok or self.tok
        found = f"{t.text[:_SHOWN // 2]!r}" if t.kind != "end" else "the end"
        return ExpressionError(f"bad declaration {self.shown()}: expected {what}, found {found} at position {t.pos}")

    def too_many(self, what: str) -> ExpressionError:
        """A declarator past :data:`MAX_DERIVATIONS`: refused while parsing."""
        return ExpressionError(f"bad declaration {self.shown()}: more than {MAX_DERIVATIONS} {what} in one "
                               f"declarator, at position {self.tok.pos}")

    def accept(self, text: str) -> bool:
        """Consume punctuation ``text`` if it is at the cursor."""
        if self.tok.kind == "p" and self.tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        """Consume punctuation ``text`` or fail."""
        if not self.accept(text):
            raise self.error(f"{text!r}")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"at most {MAX_NESTING} nested declarators")

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
    def type_name(self) -> Type:
        """A type name (specifiers and an abstract declarator) filling the whole text."""
        spec = self.specifiers()
        if spec.empty:
            raise self.error("a type")
        start = self.tok
        name, ops = self.declarator(abstract=True)
        if name:
            raise self.error("a type, not a declaration", start)
        if self.tok.kind != "end":
            raise self.error("the end of the type name")
        base = self.resolve(spec, self.size_hint if not ops else None, pick=False)
        return self.apply(base, ops, spec)

    def declaration(self) -> List[Tuple[str, Type]]:
        """One declaration (several declarators allowed) at the cursor."""
        spec = self.specifiers()
        if spec.empty:
            raise self.error("a type")
        decls: List[Tuple[str, List[Op]]] = []
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

    def specifiers(self) -> Specifiers:
        """The specifiers at the cursor."""
        spec = Specifiers()
        spec.pos = self.tok.pos
        while True:
            t = self.tok
            if t.kind == "p" and t.text == "#" and spec.pick is None:
                self.i += 1
                if self.tok.kind != "num":
                    raise self.error("a type id after '#'")
                spec.pick = int(self.tok.text, 0)
                self.i += 1
                continue
            if t.kind == "num" and spec.empty and self.i == 0:  # a bare type id
                spec.pick = int(t.text, 0)
                self.i += 1
                continue
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
        """The ``{ ... }`` of a struct, union or enum specifier (at the cursor): the
        anonymous type of that kind with these member (enumerator) names."""
        open_tok = self.tok
        self.expect("{")
        self._enter()
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
        if self.resolver is None:
            return _NOTHING
        found = self.resolver.anonymous(keyword, members)
        if found is None:
            raise TypeNotFoundError(f"{keyword} {{...}}", f"no such anonymous {keyword} in BTF, in declaration "
                                    f"{self.text!r} at position {open_tok.pos}")  # fmt: skip
        return found

    def declarator(self, abstract: bool) -> Tuple[str, List[Op]]:
        """``name`` and the derivation steps to apply to the base type, in order."""
        self._enter()
        try:
            return self._declarator(abstract)
        finally:
            self.depth -= 1

    def _declarator(self, abstract: bool) -> Tuple[str, List[Op]]:
        ptrs: List[Op] = []
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
        inner: List[Op] = []
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
        suffixes: List[Op] = []
        while True:
            if len(suffixes) == MAX_DERIVATIONS and self.tok.kind == "p" and self.tok.text in ("[", "("):
                raise self.too_many("array or function suffixes")
            if self.accept("["):
                n: Optional[int] = None
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
            return self.resolver is None or not self.resolver.names_type(w)
        return False

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
            if not ops and not params and t.btf_kind == K.KIND_UNKN and self.tok.text == ")":
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
    def resolve(self, spec: Specifiers, size: Optional[int] = None, pick: bool = True) -> Type:
        """The base type ``spec`` names (see :meth:`Resolver.base`)."""
        if self.resolver is None:
            return _NOTHING
        if spec.anonymous is not None:
            return spec.anonymous
        try:
            return self.resolver.base(spec, size, pick)
        except TypeNotFoundError as e:
            if e.hint:
                raise
            raise TypeNotFoundError(spec.spelling(), f"in declaration {self.text!r} at position {spec.pos}"
                                    if self.text.strip() != spec.spelling() else "") from None

    def apply(self, base: Type, ops: Sequence[Op], spec: Specifiers) -> Type:
        """``base`` with the specifiers' qualifiers and then ``ops`` applied."""
        r = self.resolver
        if r is None:
            return base
        t = base
        for q in dict.fromkeys(spec.quals):
            t = r.qualified(t, q)
        for op in ops:
            if op[0] == "ptr":
                t = r.pointer_to(t)
                for q in dict.fromkeys(op[1]):
                    t = r.qualified(t, str(q))
            elif op[0] == "array":
                if t.btf_kind == K.KIND_FUNC_PROTO:
                    raise ExpressionError(f"bad declaration {self.shown()}: array of functions")
                t = r.array_of(t, op[1])
            else:
                t = r.function_proto(t, list(op[1]), bool(op[2]))
        return t


class _Nothing:
    """The type a syntax-only parse gives every name."""

    btf_kind = -1


_NOTHING: Any = _Nothing()


def parse_type_name(text: str, resolver: Resolver, size_hint: Optional[int] = None) -> Type:
    """The type a C type name denotes (``struct list_head *``, ``char [16]``,
    ``void (*)(int)``, ``struct dma_chan#32864``); text that is no type name is a
    :class:`~kdbg.errors.TypeNotFoundError` saying why."""
    try:
        return Parser(text, resolver, size_hint).type_name()
    except ExpressionError as e:
        reason = str(e).replace(f"bad declaration {text!r}: ", "")
        raise TypeNameSyntaxError(text.strip(), f"not a C type name: {reason}") from None


def parse_declaration(text: str, resolver: Resolver, size_hint: Optional[int] = None) -> List[Tuple[str, Type]]:
    """A C declaration's ``(name, type)`` pairs: ``"struct task_struct init_task;"``
    gives ``[("init_task", <struct task_struct>)]``; ``size_hint`` (a plain
    declaration's size) picks among same-named types."""
    return Parser(text, resolver, size_hint).declaration()


def parse_declarations(text: str, resolver: Resolver) -> List[Tuple[str, Type]]:
    """Like :func:`parse_declaration` for several declarations in one text
    (``struct list_head modules; int x, *y;``), in order; ``;`` inside a
    ``struct { ... }`` body does not end a declaration."""
    p = Parser(text, resolver)
    p.several = True
    out: List[Tuple[str, Type]] = []
    while True:
        out.extend(p.declaration())
        while p.accept(";"):
            pass
        if p.tok.kind == "end":
            return out


def declared_name(text: str) -> Optional[str]:
    """The first name a declaration declares, by its syntax alone, or ``None`` (bad
    syntax, or nothing declared)."""
    try:
        p = Parser(text, None)
        spec = p.specifiers()
        if spec.empty:
            return None
        name, _ops = p.declarator(abstract=False)
    except KdbgError:
        return None
    return name or None
