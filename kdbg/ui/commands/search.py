"""crash's ``search``: values or strings in kernel virtual or physical memory, over drgn's
memory search (:class:`kdbg.core.search.MemorySearch`: ``prog.search_memory*``).

``search [-s START] [-e END | -l LENGTH] [-k | -p] [-m MASK] [-c | -w | -h] VALUE...``

* a VALUE is hexadecimal, a symbol (``SYMBOL+OFF``) or crash's ``(expression)`` (the
  calculator of ``eval``); ``-c`` takes strings. ``-w``/``-h`` search 32-/16-bit units,
  else 64-bit words; ``-m MASK`` ignores the bits set in MASK (crash's ``value | mask``);
* ``-u``: user memory of the current context's task (``set PID``): its VMAs' pages the
  page tables map (:func:`kdbg.helpers.addrspace.follow_phys`), from ``-s START`` (default
  0) to ``-e END``/``-l LENGTH`` (default: the last VMA's end); a match may cross pages
  that follow one another in a VMA;
* ``-p``: physical addresses; else kernel virtual addresses (crash's ``-k``, the
  default). Without ``-s``, every page the dump holds is searched once, at its direct-map
  address (drgn's rule; crash also reports the kernel-text and vmalloc aliases of those
  pages). ``-s START`` without ``-e``/``-l`` searches to the end of the direct map when
  START is in it; elsewhere an end is required. Unmapped pages of a virtual range are
  skipped, as crash skips them;
* output as crash's: ``ADDRESS: VALUE `` (``(SYMBOL)`` or ``(expression)`` after a value
  given so), ``ADDRESS: TEXT`` for ``-c`` (56 characters from the match, the unprintable
  as ``.``, cut at the end of the page unless the match crosses it, as crash reads page by
  page); ``--json`` a list of ``{"address", "value"}`` or ``{"address", "text"}``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, Iterator, List, Optional, Tuple

from kdbg.core.search import Region
from kdbg.errors import ExpressionError, FaultError, KdbgError
from kdbg.helpers.addrspace import access_remote_vm, follow_phys, for_each_vma
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.calc import evaluate
from kdbg.ui.commands.context import current_mm
from kdbg.ui.commands.memory import address_arg

__all__ = ["search_cmd"]

#: Characters crash shows from a string match (``CHARS_CTX``).
CHARS_CTX = 56
_PAGE = 4096
_MASK64 = (1 << 64) - 1


def _number(prog: Any, word: str, what: str) -> int:
    """An address or value argument: hex, ``SYMBOL[+OFF]``, or ``(expression)``."""
    try:
        if word.startswith("(") and word.endswith(")"):
            return evaluate(prog, word[1:-1])
        return address_arg(prog, word)
    except (KdbgError, ValueError) as e:
        raise ExpressionError(f"search: bad {what} {word!r}: {e}") from None


def _values(prog: Any, words: List[str], bits: int) -> List[Tuple[int, str]]:
    """``(value, crash's note)`` of each VALUE: ``(SYMBOL)`` or ``(expression)`` when so given."""
    out = []
    for w in words:
        v = _number(prog, w, "value")
        if v >> bits:
            raise ExpressionError(f"search: value {w!r} ({v:#x}) does not fit {bits} bits")
        note = w if w.startswith("(") else ""
        if not note:
            try:
                int(w[2:] if w.lower().startswith("0x") else w, 16)
            except ValueError:
                note = f"({w})"
        out.append((v, note))
    return out


def _range(prog: Any, args: argparse.Namespace) -> Tuple[Optional[int], Optional[int]]:
    """``(lo, hi)`` inclusive, ``None`` for drgn's default (every page the dump holds)."""
    if args.end is not None and args.length is not None:
        raise ExpressionError("search: give -e END or -l LENGTH, not both")
    lo = _number(prog, args.start, "start") if args.start is not None else None
    if lo is None and (args.end is not None or args.length is not None or args.user):
        lo = 0 if args.physical or args.user else None
        if lo is None:
            raise ExpressionError("search: -e/-l need -s START in kernel virtual memory")
    if lo is None:
        return None, None
    if lo % 8:
        raise ExpressionError(f"search: the start {lo:#x} is not long-word aligned")
    if args.length is not None:
        length = _number(prog, args.length, "length")
        if length <= 0:
            raise ExpressionError(f"search: bad length {args.length!r}")
        return lo, min(lo + length - 1, _MASK64)
    if args.end is not None:
        end = _number(prog, args.end, "end")
        if end <= lo:
            raise ExpressionError(f"search: the end {end:#x} is not above the start {lo:#x}")
        return lo, end - 1
    if args.physical or args.user:
        return lo, _MASK64
    base = prog.memory.page_offset_base if prog.memory is not None else None
    ranges = prog.memory.physical_ranges() if prog.memory is not None else []
    if base is None or not ranges or not base <= lo < base + ranges[-1][1]:
        raise ExpressionError(f"search: {lo:#x} is outside the direct map: give -e END or -l LENGTH")
    return lo, base + ranges[-1][1] - 1


def _matches(make: Any, lo: Optional[int], hi: Optional[int], physical: bool) -> Iterator[Any]:
    """The matches of ``make()`` (a fresh drgn search iterator) over ``[lo, hi]``; a page
    that faults is skipped and the search goes on after it."""
    while True:
        it = make()
        if lo is not None or physical:
            it.set_address_range(lo, hi, physical)
        try:
            yield from it
            return
        except FaultError as e:
            if lo is None or hi is None:
                raise
            lo = (e.address | (_PAGE - 1)) + 1
            if lo > hi:
                return



def _user_regions(prog: Any, mm: Any, lo: int, hi: int) -> Iterator[Region]:
    """The runs of mapped pages of ``mm``'s VMAs within ``[lo, hi]``, page by page."""
    for vma in list(for_each_vma(mm)):
        start, end = max(int(vma.vm_start), lo), min(int(vma.vm_end), hi + 1)
        run: List[Tuple[int, int]] = []
        at = start
        while at < end:
            stop = min(end, (at | (_PAGE - 1)) + 1)
            try:
                run.append((at, int(follow_phys(mm, at))))
            except FaultError:
                if run:
                    yield _pages(prog, run, stop)
                    run = []
            at = stop
        if run:
            yield _pages(prog, run, end)


def _pages(prog: Any, run: List[Tuple[int, int]], end: int) -> Region:
    for i, (va, pa) in enumerate(run):
        stop = run[i + 1][0] if i + 1 < len(run) else min(end, (va | (_PAGE - 1)) + 1)
        yield va, prog.read(pa, stop - va, True)


def _text(prog: Any, address: int, needle: bytes, physical: bool, mm: Any = None) -> str:
    """crash's context of a string match: :data:`CHARS_CTX` characters, cut at the page's
    end unless the match itself crosses it (``mm``: in that user address space)."""
    page_end = (address | (_PAGE - 1)) + 1
    n = CHARS_CTX if address + len(needle) > page_end else min(CHARS_CTX, page_end - address)
    try:
        data = access_remote_vm(mm, address, n) if mm is not None else prog.read(address, n, physical)
    except FaultError:
        data = needle
    return "".join(chr(b) if 32 <= b < 127 else "." for b in data)


@command("search", "search memory for values or strings, as crash's search",
         arguments=[
             argument("values", metavar="VALUE", nargs="+",
                      help="hex value, SYMBOL[+OFF] or (expression); with -c, strings"),
             argument("-s", dest="start", metavar="START", help="start address (hex or symbol)"),
             argument("-e", dest="end", metavar="END", help="stop before this address"),
             argument("-l", dest="length", metavar="LENGTH", help="bytes to search from START"),
             argument("-k", dest="kernel", action="store_true", help="kernel virtual memory (the default)"),
             argument("-p", dest="physical", action="store_true", help="physical memory"),
             argument("-u", dest="user", action="store_true",
                      help="user memory of the current context (set PID)"),
             argument("-m", dest="mask", metavar="MASK", help="ignore the bits set in MASK (hex)"),
             argument("-c", dest="chars", action="store_true", help="search for strings"),
             argument("-w", dest="width", action="store_const", const=32, help="32-bit values"),
             argument("-h", dest="width", action="store_const", const=16, help="16-bit values"),
             argument("--json", action="store_true", help="a list of JSON objects"),
         ])
def search_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Search memory."""
    if sum((args.kernel, args.physical, args.user)) > 1:
        raise ExpressionError("search: give one of -k, -u and -p")
    if args.chars and (args.width or args.mask is not None):
        raise ExpressionError("search: -c searches strings; -w, -h and -m are for values")
    lo, hi = _range(prog, args)
    mm = current_mm(prog, ctx, "search -u") if args.user else None

    def found(make: Any) -> Iterator[Any]:
        if mm is None:
            return _matches(make, lo, hi, args.physical)
        assert lo is not None and hi is not None
        return iter(make().set_regions(_user_regions(prog, mm, lo, hi)))
    as_json = ctx.json or args.json
    rows: List[Dict[str, Any]] = []
    where = "{:x}".format
    if args.chars:
        for word in args.values:
            needle = word.encode("utf-8")
            for address in found(lambda n=needle: prog.search_memory(n)):
                text = _text(prog, address, needle, args.physical, mm)
                rows.append({"address": address, "text": text})
                if not as_json:
                    ctx.out.write(f"{where(address)}: {text}\n")
    else:
        bits = args.width or 64
        values = _values(prog, args.values, bits)
        mask = _number(prog, args.mask, "mask") if args.mask is not None else 0
        method = {16: prog.search_memory_u16, 32: prog.search_memory_u32, 64: prog.search_memory_u64}[bits]
        notes = {v | mask: note for v, note in reversed(values)}
        for address, value in found(lambda: method(*[v for v, _ in values], ignore_mask=mask)):
            rows.append({"address": address, "value": value})
            if not as_json:
                ctx.out.write(f"{where(address)}: {value:x} {notes.get(value | mask, '')}\n")
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
