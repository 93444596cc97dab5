"""Symbol table: kernel symbols by name and by address.

The table stores its symbols column-wise (one list of names, one of addresses, a string of
type letters, one list of module names) sorted by address, so that building it for 200,000
symbols costs a sort and no per-symbol objects.  :class:`Symbol` objects are made on demand.

Address lookups use :mod:`bisect` and follow the kernel's rule: an address is named only
inside the kernel image, inside a module's range, never by a per-CPU offset symbol
(:meth:`SymbolTable.symbolize`; :meth:`SymbolTable.symbolize_percpu` for offsets).

Nothing is indexed up front (a process that looks up a few symbols and exits should not pay
for 200,000): the first :data:`SCAN_LOOKUPS` lookups by name scan the name list (in C,
``list.index``), later ones build a dict; a symbol's size is found by bisecting when the
symbol is made; the ranges are computed on first use.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from kdbg.errors import SymbolNotFoundError
from kdbg.symbols.ranges import PAGE_MASK, PSEUDO_MODULES, RANGE_SYMBOLS, SymbolRanges

if TYPE_CHECKING:
    from kdbg.memory.shrunk import ShrinkRecord

__all__ = ["Symbol", "SymbolBinding", "SymbolKind", "SymbolTable", "section_class", "PSEUDO_MODULES", "RANGE_SYMBOLS",
           "SCAN_LOOKUPS"]

#: Lookups by name a table answers by scanning its names before it builds a name index
#: (a scan of 100,000 names costs about a fortieth of building the index).
SCAN_LOOKUPS = 16

# Type letters grouped by the section they denote; a symbol's size never crosses a change of
# group (text -> data, ...), nor a change of module.
_SECTION_CLASS = {
    "t": "t", "w": "t",  # text; weak symbols in kallsyms are (nearly always) functions
    "d": "d", "v": "d", "g": "d", "s": "d",  # data, weak objects, small data
    "b": "b",  # bss
    "r": "r", "n": "r",  # read-only data
    "a": "a",  # absolute (and x86-64 per-CPU offsets)
}


def is_mapping_symbol(name: str) -> bool:
    """Whether ``name`` is an ELF mapping symbol (``$x``, ``$d``, ``$a``, ``$t``, with an
    optional ``.suffix``), which the kernel's module lookup (``find_kallsyms_symbol``)
    never names an address by although ``/proc/kallsyms`` lists them (arm64 modules carry
    ``$x`` before code).  ``.L`` locals (``.LC5``) stay names here, as the guest-truth
    tables of ``tests/test_kallsyms_text.py`` expect; whether every kernel skips them in
    module lookups is not checked yet."""
    return len(name) >= 2 and name[0] == "$" and name[1] in "adtx" and (len(name) == 2 or name[2] == ".")


def section_class(type_letter: str) -> str:
    """Return the section group of a kallsyms type letter (``"t"`` for ``T``/``t``/``W``...)."""
    low = type_letter.lower()
    return _SECTION_CLASS.get(low, low)


class SymbolBinding(enum.Enum):
    """A symbol's linkage (drgn's values, ELF's ``STB_*``)."""

    UNKNOWN = 0
    LOCAL = 1
    GLOBAL = 2
    WEAK = 3
    UNIQUE = 11


class SymbolKind(enum.Enum):
    """What a symbol names (drgn's values, ELF's ``STT_*``)."""

    UNKNOWN = 0
    OBJECT = 1
    FUNC = 2
    SECTION = 3
    FILE = 4
    COMMON = 5
    TLS = 6
    IFUNC = 10


def nm_letter(binding: SymbolBinding, kind: SymbolKind) -> str:
    """The ``nm`` type letter nearest an ELF binding and kind (text ``t``, data ``d``,
    else ``a``; weak ``W``/``V``, global upper case)."""
    if binding is SymbolBinding.WEAK:
        return "W" if kind is SymbolKind.FUNC else "V"
    letter = {SymbolKind.FUNC: "t", SymbolKind.IFUNC: "i", SymbolKind.OBJECT: "d", SymbolKind.TLS: "d",
              SymbolKind.COMMON: "c"}.get(kind, "a")
    return letter.upper() if binding in (SymbolBinding.GLOBAL, SymbolBinding.UNIQUE) else letter


@dataclass(frozen=True)
class Symbol:
    """One kernel symbol.

    ``size`` is derived from the next symbol's address when both are in the same module and
    the same kind of section (kallsyms has no sizes); it is ``None`` when unknown.
    :attr:`binding` and :attr:`kind` follow from the type letter unless the symbol's ELF
    entry gave them (``elf_binding``/``elf_kind``: a module's symbol table).

    drgn's constructor ``Symbol(name, address, size, binding, kind)`` makes one too (a
    script's own symbols, :class:`~kdbg.symbols.index.SymbolIndex`): it keeps that binding
    and kind, and takes the nearest kallsyms letter for kdbg's ``nm``-style display.
    """

    name: str
    address: int
    size: Optional[int]
    type: str
    module: Optional[str] = None
    elf_binding: Optional[SymbolBinding] = None
    elf_kind: Optional[SymbolKind] = None

    def __post_init__(self) -> None:
        if isinstance(self.type, SymbolBinding):  # drgn's form: (..., binding, kind)
            binding, kind = self.type, self.module
            if not isinstance(kind, SymbolKind):
                raise TypeError(f"Symbol kind must be SymbolKind, not {type(kind).__name__}")
            object.__setattr__(self, "type", nm_letter(binding, kind))
            object.__setattr__(self, "module", None)
            object.__setattr__(self, "elf_binding", binding)
            object.__setattr__(self, "elf_kind", kind)

    @property
    def is_global(self) -> bool:
        """Whether the symbol is global (upper-case type letter), as ``nm`` shows it."""
        return self.type.isupper()

    @property
    def binding(self) -> SymbolBinding:
        """drgn's binding: the ELF entry's, else from the kallsyms type letter:
        ``W``/``w``/``V``/``v`` weak, upper case global, lower case local."""
        if self.elf_binding is not None:
            return self.elf_binding
        if self.type in "WwVv":
            return SymbolBinding.WEAK
        return SymbolBinding.GLOBAL if self.type.isupper() else SymbolBinding.LOCAL

    @property
    def kind(self) -> SymbolKind:
        """drgn's kind: the ELF entry's, else from the kallsyms type letter: text is a
        function, data, bss and read-only data an object."""
        if self.elf_kind is not None:
            return self.elf_kind
        cls = section_class(self.type)
        if cls == "t":
            return SymbolKind.FUNC
        if cls in ("d", "b", "r"):
            return SymbolKind.OBJECT
        return SymbolKind.UNKNOWN

    def __repr__(self) -> str:
        """drgn's: ``Symbol(name='init_task', address=0x..., size=0x..., binding=..., kind=...)``
        (an unknown size shows as ``0x0``, drgn's for a symbol without one)."""
        return (f"Symbol(name={self.name!r}, address={self.address:#x}, size={self.size or 0:#x}, "
                f"binding={self.binding!r}, kind={self.kind!r})")

    def __str__(self) -> str:
        mod = f"\t[{self.module}]" if self.module else ""
        return f"{self.address:016x} {self.type} {self.name}{mod}"


class SymbolTable:
    """An immutable set of symbols, queried by name and by address.

    Build it with :meth:`from_columns` (fast path: parallel sequences) or from
    :class:`Symbol` objects.  ``len(table)`` counts symbols; iterating yields
    :class:`Symbol` objects in address order.
    """

    #: Indices of the symbols lookups have answered with since :meth:`record_use`
    #: (``None``: not recording).
    _used: Optional[Set[int]] = None
    #: The record of ``kdbg shrink`` when this is a reduced dump's table (only the symbols
    #: its analysis used): what says why a name is missing.
    reduced_by: Optional[ShrinkRecord] = None

    def __init__(self, symbols: Iterable[Symbol] = ()) -> None:
        syms = list(symbols)
        self._init_columns(
            [s.name for s in syms],
            [s.address for s in syms],
            "".join(s.type for s in syms),
            [s.module for s in syms],
            sizes=[s.size for s in syms],
        )

    @classmethod
    def from_columns(
        cls,
        names: Sequence[str],
        addresses: Sequence[int],
        types: str,
        modules: Optional[Sequence[Optional[str]]] = None,
        module_regions: Optional[Mapping[str, Sequence[Tuple[int, int]]]] = None,
    ) -> SymbolTable:
        """Build a table from parallel columns; ``types`` holds one letter per symbol.

        ``modules`` is ``None`` when every symbol is in vmlinux.  Sizes are derived.
        ``module_regions`` gives modules' exact ``[start, end)`` memory regions (read from
        ``struct module``): they replace the symbol-derived guess of :meth:`module_range`.
        """
        self = SymbolTable.__new__(SymbolTable)  # a table of its own columns, whatever cls (LazyKallsyms too)
        self._init_columns(names, addresses, types, modules)
        self._module_regions = {m: tuple(r) for m, r in (module_regions or {}).items()}
        return self

    def _init_columns(
        self,
        names: Sequence[str],
        addresses: Sequence[int],
        types: str,
        modules: Optional[Sequence[Optional[str]]],
        sizes: Optional[Sequence[Optional[int]]] = None,
    ) -> None:
        n = len(names)
        if len(addresses) != n or len(types) != n or (modules is not None and len(modules) != n):
            raise ValueError("symbol columns differ in length")
        addr_list = list(addresses)
        if sorted(addr_list) == addr_list:  # timsort of a sorted list: one pass in C
            order: Optional[List[int]] = None
        else:
            # Stable: symbols at the same address keep their source order.
            order = sorted(range(n), key=addr_list.__getitem__)
        if order is None:
            self._names = list(names)
            self._addrs = addr_list
            self._types = types
            self._mods: Optional[List[Optional[str]]] = (
                list(modules) if modules is not None and any(modules) else None
            )
            given_sizes = list(sizes) if sizes is not None else None
        else:
            self._names = [names[i] for i in order]
            self._addrs = [addr_list[i] for i in order]
            self._types = "".join([types[i] for i in order])
            self._mods = (
                [modules[i] for i in order] if modules is not None and any(modules) else None
            )
            given_sizes = [sizes[i] for i in order] if sizes is not None else None
        self._given_sizes = (
            given_sizes if given_sizes is not None and any(s is not None for s in given_sizes)
            else None
        )
        self._scans = 0
        self._by_name: Optional[Dict[str, int]] = None  # name -> first index
        self._last_by_name: Dict[str, int] = {}  # name -> last index
        self._dups: Dict[str, List[int]] = {}  # name -> every index, for repeated names
        self._ranges_cache: Optional[SymbolRanges] = None
        self._module_regions: Dict[str, Tuple[Tuple[int, int], ...]] = {}

    # -- basic protocol ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[Symbol]:
        for i in range(len(self._names)):
            yield self._symbol(i)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        found = self._indices_of(name)
        self._note_use(*found)
        return bool(found)

    def __repr__(self) -> str:
        return f"<SymbolTable {len(self)} symbols>"

    @property
    def names(self) -> List[str]:
        """Symbol names in address order (shared list; do not modify)."""
        return self._names

    @property
    def addresses(self) -> List[int]:
        """Symbol addresses, ascending (shared list; do not modify)."""
        return self._addrs

    @property
    def types(self) -> str:
        """Type letters, one per symbol, in address order."""
        return self._types

    @property
    def module_names(self) -> Optional[List[Optional[str]]]:
        """Each symbol's module (``None`` for vmlinux) in address order, or ``None`` when
        every symbol is in vmlinux (shared list; do not modify)."""
        return self._mods

    def split_modules(self) -> Tuple[SymbolTable, Optional[SymbolTable]]:
        """``(vmlinux's symbols, the modules' symbols or None)``: a ``/proc/kallsyms``
        that lists modules, split for the kernel's own table and the modules'."""
        mods = self._mods
        if mods is None:
            return self, None
        keep = [i for i, m in enumerate(mods) if m is None]
        rest = [i for i, m in enumerate(mods) if m is not None]

        def part(idx: List[int], modules: Optional[List[Optional[str]]]) -> SymbolTable:
            return SymbolTable.from_columns([self._names[i] for i in idx], [self._addrs[i] for i in idx],
                                            "".join(self._types[i] for i in idx), modules)

        return part(keep, None), part(rest, [mods[i] for i in rest])

    def module_of(self, index: int) -> Optional[str]:
        """Module of the symbol at ``index`` (``None`` for vmlinux)."""
        return self._mods[index] if self._mods is not None else None

    def type_of(self, index: int) -> str:
        """Type letter of the symbol at ``index``."""
        return self._types[index]

    def size_of(self, index: int) -> Optional[int]:
        """Size of the symbol at ``index`` (:attr:`Symbol.size`), not recorded as a use."""
        return self._size(index)

    # -- what was used ----------------------------------------------------------------------

    def record_use(self) -> None:
        """Record from now on which symbols lookups answer with (``kdbg shrink`` keeps
        them: :meth:`used_indices`)."""
        self._used = set()

    def _note_use(self, *indices: int) -> None:
        if self._used is not None:
            self._used.update(indices)

    def used_indices(self) -> List[int]:
        """The indices, ascending, of a table that answers every lookup recorded since
        :meth:`record_use` as this one did: the symbols answered with, the symbol after
        each (its size and its end come from it) and the :data:`RANGE_SYMBOLS`."""
        used = set(self._used or ())
        for name in RANGE_SYMBOLS:
            used.update(self._indices_of(name))
        after = (self._next(i) for i in list(used))
        used.update(j for j in after if j is not None)
        return sorted(used)

    # -- sizes ------------------------------------------------------------------------------

    def _next(self, i: int) -> Optional[int]:
        """The first symbol at a strictly higher address than ``i``'s that is not a
        mapping symbol (``None`` past the last)."""
        j = bisect_right(self._addrs, self._addrs[i], i)
        while j < len(self._addrs) and is_mapping_symbol(self._names[j]):
            j += 1
        return j if j < len(self._addrs) else None

    def _size(self, i: int) -> Optional[int]:
        if self._given_sizes is not None:
            s = self._given_sizes[i]
            if s is not None:
                return s
        j = self._next(i)
        if j is None:
            return None
        if self.module_of(j) != self.module_of(i):
            return None
        if section_class(self._types[j]) != section_class(self._types[i]):
            return None
        return self._addrs[j] - self._addrs[i]

    def _symbol(self, i: int) -> Symbol:
        self._note_use(i)
        return Symbol(self._names[i], self._addrs[i], self._size(i), self._types[i],
                      self.module_of(i))

    # -- by name ----------------------------------------------------------------------------

    def _indices_of(self, name: str) -> List[int]:
        """Indices of every symbol called ``name``, ascending (empty when there is none)."""
        by_name = self._by_name
        if by_name is None:
            self._scans += 1
            if self._scans <= SCAN_LOOKUPS:
                return _scan(self._names, name, 0, len(self._names))
            by_name = self._build_name_index()
        first = by_name.get(name)
        if first is None:
            return []
        last = self._last_by_name[name]
        if first == last:
            return [first]
        idx = self._dups.get(name)
        if idx is None:
            idx = self._dups[name] = _scan(self._names, name, first, last + 1)
        return idx

    def _build_name_index(self) -> Dict[str, int]:
        names = self._names
        n = len(names)
        # Reversed so that the first symbol (lowest address) of a name wins. Both indexes
        # are built before either is kept: a Ctrl-C in between must not leave one without
        # the other (the next lookup would fail with a KeyError).
        by_name = dict(zip(reversed(names), range(n - 1, -1, -1)))
        last = dict(zip(names, range(n)))
        self._last_by_name = last
        self._by_name = by_name
        return by_name

    def lookup(self, name: str, module: Optional[str] = None) -> Symbol:
        """Return the symbol called ``name``.

        When several symbols share the name, a global one in vmlinux is preferred, then the
        lowest address.  ``module`` restricts the search (``"vmlinux"`` for the core kernel).
        Raises :class:`~kdbg.errors.SymbolNotFoundError`.
        """
        if module is None:
            cands = self._indices_of(name)
            if not cands:
                raise SymbolNotFoundError(f"symbol {name!r} not found{self.why_missing()}")
            if len(cands) > 1:
                best = min(cands, key=lambda k: (self.module_of(k) is not None,
                                                 not self.type_of(k).isupper(), k))
                return self._symbol(best)
            return self._symbol(cands[0])
        matches = self.lookup_all(name, module)
        if not matches:
            raise SymbolNotFoundError(f"symbol {name!r} not found in {module}{self.why_missing()}")
        return matches[0]

    def why_missing(self) -> str:
        """What to add to a "not found" error: on a reduced dump's table, that it is one."""
        return f": {self.reduced_by.symbol_hint()}" if self.reduced_by is not None else ""

    def lookup_all(self, name: str, module: Optional[str] = None) -> List[Symbol]:
        """Return every symbol called ``name`` in address order (empty list if none)."""
        syms = [self._symbol(k) for k in self._indices_of(name)]
        if module is not None:
            want = None if module == "vmlinux" else module
            syms = [s for s in syms if s.module == want]
        return syms

    def get(self, name: str) -> Optional[Symbol]:
        """Like :meth:`lookup` but return ``None`` when the name is unknown."""
        try:
            return self.lookup(name)
        except SymbolNotFoundError:
            return None

    def address_of(self, name: str) -> Optional[int]:
        """Address of :meth:`lookup` ``(name)``, or ``None`` when unknown (a handy callable,
        e.g. ``read_vmlinux_btf(mem, table.address_of)``)."""
        sym = self.get(name)
        return sym.address if sym is not None else None

    # -- address ranges -------------------------------------------------------------------

    def _vmlinux_address(self, name: str) -> Optional[int]:
        """Address of the vmlinux symbol ``name`` (``None`` when absent)."""
        idx = self._indices_of(name)
        mods = self._mods
        if mods is not None:
            idx = [k for k in idx if mods[k] is None]
        if not idx:
            return None
        self._note_use(idx[0])
        return self._addrs[idx[0]]

    def _ranges(self) -> SymbolRanges:
        if self._ranges_cache is None:
            self._ranges_cache = SymbolRanges.of(self._vmlinux_address, self._addrs, self._types, self._mods)
        return self._ranges_cache

    @property
    def percpu_range(self) -> Optional[Tuple[int, int]]:
        """``(__per_cpu_start, __per_cpu_end)`` when the table has both, else ``None``.

        On x86-64 before 6.15 these are small absolute values (per-CPU offsets, type ``A``);
        such symbols name offsets, never virtual addresses.
        """
        return self._ranges().percpu

    @property
    def image_range(self) -> Optional[Tuple[int, int]]:
        """``(start, end)`` of the kernel image as symbolization sees it: ``_stext`` and
        ``_end`` (``end`` itself symbolizes only as the symbol exactly there).  Without those
        symbols, the lowest and highest vmlinux symbol that is not absolute.  ``None`` for a
        table with no vmlinux symbols."""
        return self._ranges().image

    def module_range(self, module: str) -> Optional[Tuple[int, int]]:
        """``(start, end)`` of the addresses attributed to ``module``: from its lowest
        symbol to the end of the page of its highest one (kallsyms has no section sizes;
        the later layers can read exact ranges from ``struct module``).  ``None`` when the
        table has no symbol of that module.  With exact regions (``module_regions``), the
        span from the lowest region's start to the highest one's end."""
        regions = self._module_regions.get(module)
        if regions:
            return min(lo for lo, _ in regions), max(hi for _, hi in regions)
        return self._ranges().modules.get(module)

    def module_regions(self, module: str) -> Optional[Tuple[Tuple[int, int], ...]]:
        """The exact ``[start, end)`` regions of ``module`` given when the table was built,
        or ``None``."""
        return self._module_regions.get(module)

    # -- by address -------------------------------------------------------------------------

    def _first_alias(self, pos: int) -> int:
        addrs = self._addrs
        start = addrs[pos]
        while pos > 0 and addrs[pos - 1] == start:
            pos -= 1
        return pos

    def symbolize(self, address: int) -> Tuple[Symbol, int]:
        """Return ``(symbol, offset)`` for the symbol containing the virtual ``address``.

        The kernel's rule (``kallsyms_lookup_size_offset``), as kallsyms has no sizes:

        * a vmlinux address is symbolized only inside the image: text ``_stext.._etext``,
          init text ``_sinittext.._einittext``, ``__init_begin..__init_end`` and everything
          up to ``_end`` (``CONFIG_KALLSYMS_ALL``); there the closest symbol at or below it
          contains it.  ``_end`` itself is ``_end+0x0``; nothing past it is symbolized, not
          even the few symbols the linker puts after it (``sme_workarea``...);
        * a module address only inside that module's range (:meth:`module_range`), by the
          closest symbol of the module at or below it; pseudo-modules (``[bpf]``,
          ``[__builtin__ftrace]``...) only up to the end of that symbol's page;
        * per-CPU symbols that are offsets (x86-64 ``A`` symbols between ``__per_cpu_start``
          and ``__per_cpu_end``) never: use :meth:`symbolize_percpu`.

        Mapping symbols (arm64's ``$x``/``$d`` in module symbol tables) name no address, as
        the kernel's ``find_kallsyms_symbol`` skips them (:func:`is_mapping_symbol`).
        Among aliases (symbols at the same address) the first in table order is returned,
        as the kernel does.  A size given when the table was built (from :class:`Symbol`
        objects) also bounds its symbol.  Raises :class:`~kdbg.errors.SymbolNotFoundError`
        (``no symbol contains address 0x...``).
        """
        addrs = self._addrs
        pos = bisect_right(addrs, address) - 1
        names = self._names
        while pos >= 0 and is_mapping_symbol(names[pos]):
            pos -= 1
        if pos >= 0:
            pos = self._first_alias(pos)
            while is_mapping_symbol(names[pos]):  # an alias that is not one follows
                pos += 1
            if self._owns(pos, address):
                return self._symbol(pos), address - addrs[pos]
        raise SymbolNotFoundError(f"no symbol contains address {address:#x}")

    def _owns(self, pos: int, address: int) -> bool:
        """Whether the symbol at ``pos`` (closest at or below ``address``) contains it."""
        start = self._addrs[pos]
        if self._given_sizes is not None:
            size = self._given_sizes[pos]
            if size is not None and address - start >= max(size, 1):
                return False
        ranges = self._ranges()
        mod = self.module_of(pos)
        if mod is None:
            if ranges.percpu is not None and ranges.percpu[0] <= start <= ranges.percpu[1] \
                    and ranges.percpu_are_offsets:
                return False
            return ranges.in_image(address)
        if mod in ranges.pseudo:
            return address < (start | PAGE_MASK) + 1
        regions = self._module_regions.get(mod)
        if regions is not None:
            return any(lo <= address < hi for lo, hi in regions)
        span = ranges.modules.get(mod)
        return span is not None and span[0] <= address < span[1]

    def symbolize_percpu(self, offset: int) -> Tuple[Symbol, int]:
        """Return ``(symbol, offset)`` for the per-CPU variable containing ``offset``.

        ``offset`` is a per-CPU offset, counted from ``__per_cpu_start`` (on x86-64 before
        6.15 the per-CPU symbols are these offsets themselves: ``A`` symbols from 0).  Only
        the symbols between ``__per_cpu_start`` and ``__per_cpu_end`` are candidates; the
        first alias at an address wins (``fixed_percpu_data`` over ``__per_cpu_start``).
        Raises :class:`~kdbg.errors.SymbolNotFoundError` when the table has no per-CPU
        range or ``offset`` is outside it.
        """
        ranges = self._ranges()
        if ranges.percpu is None:
            raise SymbolNotFoundError("no per-CPU symbols (__per_cpu_start/__per_cpu_end)")
        lo, hi = ranges.percpu
        target = lo + offset
        if offset < 0 or target > hi:
            raise SymbolNotFoundError(f"per-CPU offset {offset:#x} is outside the per-CPU "
                                      f"area (0..{hi - lo:#x})")
        addrs = self._addrs
        pos = bisect_right(addrs, target) - 1
        # Skip module symbols that might sit in the range (they are no per-CPU variables).
        while pos >= 0 and addrs[pos] >= lo and self.module_of(pos) is not None:
            pos -= 1
        if pos < 0 or addrs[pos] < lo:
            raise SymbolNotFoundError(f"no per-CPU symbol contains offset {offset:#x}")
        pos = self._first_alias(pos)
        return self._symbol(pos), target - addrs[pos]

    def format_address(self, address: int) -> str:
        """Format ``address`` as ``name+0x10/0x40`` (``[module]`` appended for modules).

        The ``/size`` part is left out when the size is unknown; an address in no symbol
        formats as plain hex.
        """
        try:
            sym, off = self.symbolize(address)
        except SymbolNotFoundError:
            return f"{address:#x}"
        text = f"{sym.name}+{off:#x}"
        if sym.size is not None:
            text += f"/{sym.size:#x}"
        if sym.module:
            text += f" [{sym.module}]"
        return text

    def symbol(self, key: Union[str, int]) -> Symbol:
        """Look up by name (``str``) or by contained address (``int``)."""
        if isinstance(key, str):
            return self.lookup(key)
        return self.symbolize(key)[0]

    def in_range(self, start: int, end: int) -> List[Symbol]:
        """Symbols with ``start <= address < end``, in address order."""
        lo = bisect_right(self._addrs, start - 1)
        hi = bisect_right(self._addrs, end - 1)
        return [self._symbol(i) for i in range(lo, hi)]


def _scan(names: List[str], name: str, start: int, stop: int) -> List[int]:
    """Indices of ``name`` in ``names[start:stop]``, ascending."""
    out: List[int] = []
    i = start
    try:
        while True:
            i = names.index(name, i, stop)
            out.append(i)
            i += 1
    except ValueError:
        return out
