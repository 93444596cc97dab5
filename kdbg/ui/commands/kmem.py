"""``kmem``: crash's memory summaries, from kdbg's helpers.

``kmem -i`` is crash's table of memory use (pages, size, per cent): total RAM, free and
used, shared (shmem), buffers, the page cache, slab, HugeTLB, swap, and the overcommit
limit with what is committed, each counter the kernel's own (``/proc/meminfo``'s
sources: :mod:`kdbg.helpers.vmstat`, :mod:`kdbg.helpers.swap`,
:mod:`kdbg.helpers.hugetlb`, :mod:`kdbg.helpers.meminfo`). A counter kdbg cannot tell
(HugeTLB's ``hstates`` not found on a kallsyms without data symbols; the commit limit,
which subtracts HugeTLB's pages) shows ``?`` where crash would print a number, the other
rows as ever, and why after the table (``kmem: cannot tell ...``); ``--json`` gives
``null`` and the reasons under ``cannot_tell``. ``kmem -s [NAME...]`` lists
the slab caches as crash does (``CACHE OBJSIZE ALLOCATED TOTAL SLABS SSIZE NAME``): slabs
and objects from :func:`kdbg.helpers.slab.slab_cache_usage`, the allocated objects counted
one by one (:func:`~kdbg.helpers.slab.slab_cache_for_each_allocated_object`), as crash
counts them. ``kmem -V`` prints the kernel's global VM counters under crash's section names
(``VM_ZONE_STAT``, ``VM_NODE_STAT``, ``VM_NUMA_STAT`` where the kernel still keeps
``vm_numa_stat``, ``VM_EVENT_STATES``), each item by its enumerator's name
(:func:`vm_stat_sections`); ``kmem -z`` each zone of each node with its size, watermarks
and counters (:func:`zone_rows`); ``kmem -f`` each zone's buddy free lists, counted one by
one and checked against ``NR_FREE_PAGES`` as crash does
(:mod:`~kdbg.ui.commands.kmem_free`).
``kmem -v``, ``-n``, ``-p``, ``-g`` and ``kmem ADDR`` are crash's vmalloc areas, memory
nodes and sections, page structs, page flags and address search, from
:mod:`~kdbg.ui.commands.kmem_vmalloc`, :mod:`~kdbg.ui.commands.kmem_nodes`,
:mod:`~kdbg.ui.commands.kmem_pages` and :mod:`~kdbg.ui.commands.kmem_search`.
``--json`` gives any of them as data.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from kdbg.errors import ExpressionError, KdbgError, ObjectNotFoundError
from kdbg.helpers.block import nr_blockdev_pages
from kdbg.helpers.hugetlb import hugetlb_total_usage
from kdbg.helpers.meminfo import vm_commit_limit, vm_memory_committed
from kdbg.helpers.mm import memory_map, totalram_pages
from kdbg.helpers.mmzone import for_each_online_pgdat, high_wmark_pages, low_wmark_pages, min_wmark_pages
from kdbg.helpers.slab import for_each_slab_cache, slab_total_usage
from kdbg.helpers.swap import swap_total_usage, total_swapcache_pages
from kdbg.helpers.vmstat import (
    global_node_page_state,
    global_numa_event_state,
    global_vm_event_state,
    global_zone_page_state,
    nr_free_pages,
    zone_page_state,
)
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.kmem_free import kmem_free_lists
from kdbg.ui.commands.kmem_nodes import memory_block_rows, memory_node_rows, memory_nodes_lines, memory_section_rows
from kdbg.ui.commands.kmem_pages import (
    page_flag_rows,
    page_flags_lines,
    page_header,
    page_line,
    page_of_address,
    page_rows,
)
from kdbg.ui.commands.kmem_search import kmem_search
from kdbg.ui.commands.kmem_slabs import SLAB_CACHE_HEADER, slab_cache_line, slab_cache_row
from kdbg.ui.commands.kmem_vmalloc import VMALLOC_HEADER, vmalloc_area_line, vmalloc_rows
from kdbg.ui.commands.memory import address_arg

__all__ = ["meminfo_pages", "pages_to_size", "vm_stat_sections", "zone_rows"]


def pages_to_size(pages: int, page_size: int) -> str:
    """crash's size of a page count: ``0``, ``98 MB``, ``78.9 MB``, ``1.5 GB``, ``12 KB``."""
    if pages == 0:
        return "0"
    total = pages * page_size
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if total >= size or unit == "KB":
            text = f"{total / size:.1f} {unit}"
            return text.replace(".0 ", " ")
    raise AssertionError("unreachable")


def _node_stat(prog: Any, *names: str) -> int:
    """The first of ``names`` that this kernel's ``enum node_stat_item`` has."""
    for name in names:
        try:
            item = prog.constant(name)
        except (KdbgError, LookupError):
            continue
        return global_node_page_state(prog, item)
    raise ExpressionError(f"kmem: this kernel has none of {', '.join(names)}")


def _told(prog: Any, unknown: Dict[str, str], keys: Tuple[str, ...], count: Callable[[Any], Any]) -> Any:
    """``count(prog)``, or ``None`` with why under each of ``keys`` in ``unknown`` when a
    global it needs cannot be found (HugeTLB's ``hstates`` on a kallsyms without data
    symbols whose code did not single it out: :func:`~kdbg.helpers.hugetlb.for_each_hstate`;
    the block devices' ``blockdev_superblock``, which buffers and the page cache need; the
    swap's ``nr_swap_pages``)."""
    try:
        return count(prog)
    except ObjectNotFoundError as e:
        unknown.update((k, str(e)) for k in keys)
        return None


def meminfo_pages(prog: Any) -> Dict[str, Any]:
    """``kmem -i``'s counters in pages; one that cannot be told is ``None``, and why is
    under ``cannot_tell`` (``{counter: reason}``, present only then)."""
    total = totalram_pages(prog)
    free = nr_free_pages(prog)
    unknown: Dict[str, str] = {}
    buffers = _told(prog, unknown, ("buffers", "cached"), nr_blockdev_pages)
    cached = None if buffers is None else _node_stat(prog, "NR_FILE_PAGES") - total_swapcache_pages(prog) - buffers
    slab = slab_total_usage(prog).total_pages
    huge = _told(prog, unknown, ("huge_total", "huge_free"), hugetlb_total_usage)
    swap = _told(prog, unknown, ("swap_total", "swap_used", "swap_free"), swap_total_usage)
    pages = {
        "total": total, "free": free, "used": total - free, "shared": _node_stat(prog, "NR_SHMEM"),
        "buffers": buffers, "cached": None if cached is None else max(cached, 0), "slab": slab,
        "huge_total": None if huge is None else huge.pages, "huge_free": None if huge is None else huge.free_pages,
        "swap_total": None if swap is None else swap.pages, "swap_used": None if swap is None else swap.used_pages,
        "swap_free": None if swap is None else swap.free_pages,
        "commit_limit": _told(prog, unknown, ("commit_limit",), vm_commit_limit),  # less HugeTLB's
        "committed": vm_memory_committed(prog),
    }
    if unknown:
        pages["cannot_tell"] = unknown
    return pages


_ROWS: List[Tuple[str, str, Optional[str]]] = [
    ("TOTAL MEM", "total", None), ("FREE", "free", "total"), ("USED", "used", "total"),
    ("SHARED", "shared", "total"), ("BUFFERS", "buffers", "total"), ("CACHED", "cached", "total"),
    ("SLAB", "slab", "total"), ("", "", None),
    ("TOTAL HUGE", "huge_total", None), ("HUGE FREE", "huge_free", "huge_total"), ("", "", None),
    ("TOTAL SWAP", "swap_total", None), ("SWAP USED", "swap_used", "swap_total"),
    ("SWAP FREE", "swap_free", "swap_total"), ("", "", None),
    ("COMMIT LIMIT", "commit_limit", None), ("COMMITTED", "committed", "commit_limit"),
]
_OF = {"total": "TOTAL MEM", "huge_total": "TOTAL HUGE", "swap_total": "TOTAL SWAP", "commit_limit": "TOTAL LIMIT"}


def _kmem_i(prog: Any, ctx: CommandContext, as_json: bool) -> None:
    """crash's table; a counter that cannot be told shows ``?`` in its columns (and in the
    percentages of it), and why follows the table, one ``kmem: cannot tell ...`` line each."""
    pages = meminfo_pages(prog)
    if as_json:
        ctx.out.write(json.dumps(pages) + "\n")
        return
    page_size = 1 << memory_map(prog).page_shift
    out = ["                 PAGES        TOTAL      PERCENTAGE"]
    for label, key, of in _ROWS:
        if not label:
            out.append("")
            continue
        n = pages[key]
        cells = f"{'?':>7}  {'?':>11}" if n is None else f"{n:7d}  {pages_to_size(n, page_size):>11}"
        line = f"{label:>13}  {cells}"
        if of is None:
            line += "         ----"
        elif n is None or pages[of] is None:
            line += f"    ? of {_OF[of]}"
        else:
            pct = n * 100 // pages[of] if pages[of] else 0
            line += f"  {pct:3d}% of {_OF[of]}"
        out.append(line)
    out.extend(f"kmem: {why}" for why in dict.fromkeys(pages.get("cannot_tell", {}).values()))
    ctx.out.write("\n".join(out) + "\n")


def _kmem_s(prog: Any, ctx: CommandContext, names: List[str], as_json: bool) -> None:
    rows = [slab_cache_row(prog, cache) for cache in for_each_slab_cache(prog)
            if not names or cache.name.string_().decode("utf-8", "replace") in names]
    if names and not rows:
        raise ExpressionError(f"kmem -s: no slab cache named {', '.join(names)}")
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    ctx.out.write("\n".join([SLAB_CACHE_HEADER, *(slab_cache_line(r) for r in rows)]) + "\n")


def _items(prog: Any, enum: str) -> List[Tuple[str, int]]:
    """``(name, value)`` of each item of ``enum`` below its ``NR_..._ITEMS`` count, one name
    per value (the last: ``NR_ZONE_INACTIVE_ANON``, not its alias ``NR_ZONE_LRU_BASE``), as
    crash names them."""
    names: Dict[int, str] = {}
    for e in prog.type(enum).enumerators:
        if not e.name.startswith("NR_VM_"):
            names[e.value] = e.name
    return sorted(((n, v) for v, n in names.items()), key=lambda x: x[1])


def vm_stat_sections(prog: Any) -> List[Tuple[str, List[Tuple[str, int]]]]:
    """``kmem -V``'s sections: the global zone, node and (where the kernel keeps them in
    ``vm_numa_stat``, before 5.14, as crash 8.0.2 shows them) NUMA counters, then the
    event counters summed over the online CPUs: ``(SECTION, [(ITEM, value), ...])``."""
    sections = [
        ("VM_ZONE_STAT", [(n, global_zone_page_state(prog, v)) for n, v in _items(prog, "enum zone_stat_item")]),
        ("VM_NODE_STAT", [(n, global_node_page_state(prog, v)) for n, v in _items(prog, "enum node_stat_item")]),
    ]
    if "vm_numa_stat" in prog:
        sections.append(("VM_NUMA_STAT", [(n, global_numa_event_state(prog, v))
                                          for n, v in _items(prog, "enum numa_stat_item")]))
    sections.append(("VM_EVENT_STATES", [(n, global_vm_event_state(prog, v))
                                         for n, v in _items(prog, "enum vm_event_item")]))
    return sections


def _kmem_v_stats(prog: Any, ctx: CommandContext, as_json: bool) -> None:
    sections = vm_stat_sections(prog)
    if as_json:
        ctx.out.write(json.dumps({name: dict(items) for name, items in sections}) + "\n")
        return
    # crash lines the counters' names up to the longest: the page states' together, the events' apart
    width = max(len(n) for name, items in sections if name != "VM_EVENT_STATES" for n, _v in items)
    blocks = []
    for name, items in sections:
        w = max(len(n) for n, _v in items) if name == "VM_EVENT_STATES" else width
        blocks.append("\n".join([f"  {name}:", *(f"{n:>{w}}: {v}" for n, v in items)]))
    ctx.out.write("\n\n".join(blocks) + "\n")


def zone_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each zone of each online node: ``node``, ``zone`` (index), ``address``, ``name``,
    ``spanned`` and ``present`` pages, the ``min``/``low``/``high`` watermarks and its
    ``vm_stat`` (``enum zone_stat_item`` names)."""
    items = _items(prog, "enum zone_stat_item")
    rows = []
    for pgdat in for_each_online_pgdat(prog):
        for i in range(len(pgdat.node_zones)):
            zone = pgdat.node_zones[i].address_of_()
            rows.append({"node": int(pgdat.node_id), "zone": i, "address": int(zone),
                         "name": zone.name.string_().decode("utf-8", "replace"),
                         "spanned": int(zone.spanned_pages), "present": int(zone.present_pages),
                         "min": min_wmark_pages(zone), "low": low_wmark_pages(zone), "high": high_wmark_pages(zone),
                         "vm_stat": {n: zone_page_state(zone, v) for n, v in items}})
    return rows


def _kmem_z(prog: Any, ctx: CommandContext, as_json: bool) -> None:
    rows = zone_rows(prog)
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    out = []
    for r in rows:
        out.append(f"NODE: {r['node']}  ZONE: {r['zone']}  ADDR: {r['address']:x}  NAME: \"{r['name']}\"")
        if not r["present"]:
            out += ["  [unpopulated]", ""]
            continue
        present = f"  PRESENT: {r['present']}" if r["present"] != r["spanned"] else ""
        out.append(f"  SIZE: {r['spanned']}{present}  MIN/LOW/HIGH: {r['min']}/{r['low']}/{r['high']}")
        width = max(len(n) for n in r["vm_stat"])
        out += ["  VM_STAT:", *(f"{n:>{width}}: {v}" for n, v in r["vm_stat"].items()), "", ""]
    ctx.out.write("\n".join(out) + "\n")


_HEX = re.compile(r"(0x)?[0-9a-fA-F]+")


def _kmem_v(prog: Any, ctx: CommandContext, addresses: List[int], as_json: bool) -> None:
    rows = [r for a in addresses for r in vmalloc_rows(prog, a)] if addresses else vmalloc_rows(prog)
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
    elif rows:
        ctx.out.write("\n".join([VMALLOC_HEADER, *(vmalloc_area_line(r) for r in rows)]) + "\n")


def _kmem_n(prog: Any, ctx: CommandContext, as_json: bool) -> None:
    nodes, sections, blocks = memory_node_rows(prog), memory_section_rows(prog), memory_block_rows(prog)
    if as_json:
        ctx.out.write(json.dumps({"nodes": nodes, "sections": sections, "memory_blocks": blocks}) + "\n")
        return
    ctx.out.write("\n".join(memory_nodes_lines(prog, nodes, sections, blocks)) + "\n")


def _kmem_g(prog: Any, ctx: CommandContext, values: List[int], as_json: bool) -> None:
    if as_json:
        ctx.out.write(json.dumps([{"flags": v, "set": [{"name": n, "bit": b, "value": 1 << b}
                                                     for n, b in page_flag_rows(prog, v)]}
                                  for v in values or [0]]) + "\n")
        return
    ctx.out.write("\n\n".join("\n".join(page_flags_lines(prog, v)) for v in values or [0]) + "\n")


def _kmem_p(prog: Any, ctx: CommandContext, addresses: List[int], as_json: bool) -> None:
    if addresses:
        pfns = [page_of_address(prog, a) for a in addresses]
        rows: Iterable[Dict[str, Any]] = [r for pfn in pfns if pfn is not None for r in page_rows(prog, pfn)]
    else:
        rows = page_rows(prog)
    if as_json:
        ctx.out.write(json.dumps(list(rows)) + "\n")
        return
    ctx.out.write(page_header(prog) + "\n")
    for r in rows:
        ctx.out.write(page_line(prog, r) + "\n")


@command("kmem", "memory use, slab caches, vmalloc areas, nodes and sections, pages and their flags, "
         "as crash's kmem", arguments=[
    argument("words", metavar="ADDR|NAME", nargs="*",
             help="with -s: cache names; with -v/-p: addresses; with -g: flags words"),
    argument("-i", dest="info", action="store_true", help="memory use, as crash's kmem -i"),
    argument("-s", dest="slabs", action="store_true", help="slab caches: objects, slabs, sizes"),
    argument("-V", dest="vm_stats", action="store_true", help="the zone, node, NUMA and event counters"),
    argument("-z", dest="zones", action="store_true", help="each zone: size, watermarks, counters"),
    argument("-f", dest="free_lists", action="store_true", help="each zone's buddy free lists"),
    argument("-v", dest="vmalloc", action="store_true", help="the vmalloc area's mappings (or the one holding ADDR)"),
    argument("-n", dest="nodes", action="store_true", help="memory nodes, their zones, memory sections and blocks"),
    argument("-p", dest="pages", action="store_true", help="every page struct (or the page of ADDR)"),
    argument("-g", dest="page_flags", action="store_true", help="the page flags (or those set in FLAGS)"),
    argument("--json", action="store_true", help="the numbers as JSON"),
])
def kmem_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print memory summaries."""
    modes = [args.info, args.slabs, args.vm_stats, args.zones, args.free_lists, args.vmalloc, args.nodes,
             args.pages, args.page_flags]
    if modes.count(True) > 1 or (not any(modes) and not args.words):
        raise ExpressionError("kmem: give one of -i, -s, -V, -z, -f, -v, -n, -p and -g, or an address")
    if not args.slabs and not args.page_flags and any(not _HEX.fullmatch(w) for w in args.words):
        raise ExpressionError(f"kmem: cache names go with -s: {' '.join(args.words)}")
    if args.words and (args.info or args.vm_stats or args.zones or args.free_lists or args.nodes):
        raise ExpressionError(f"kmem: no address arguments allowed with this option: {' '.join(args.words)}")
    as_json = ctx.json or args.json
    if args.slabs:
        _kmem_s(prog, ctx, args.words, as_json)
        return
    values = [_word(prog, w, args.page_flags) for w in args.words]
    if args.info:
        _kmem_i(prog, ctx, as_json)
    elif args.vm_stats:
        _kmem_v_stats(prog, ctx, as_json)
    elif args.zones:
        _kmem_z(prog, ctx, as_json)
    elif args.free_lists:
        kmem_free_lists(prog, ctx, as_json)
    elif args.vmalloc:
        _kmem_v(prog, ctx, values, as_json)
    elif args.nodes:
        _kmem_n(prog, ctx, as_json)
    elif args.pages:
        _kmem_p(prog, ctx, values, as_json)
    elif args.page_flags:
        _kmem_g(prog, ctx, values, as_json)
    else:
        kmem_search(prog, ctx, values, as_json)


def _word(prog: Any, word: str, hex_only: bool) -> int:
    """An address (hex, or a symbol as every address argument takes them) or, for ``-g``,
    a hex flags word."""
    if hex_only:
        if not _HEX.fullmatch(word):
            raise ExpressionError(f"kmem -g: {word!r} is not a hexadecimal flags value")
        return int(word, 16)
    return address_arg(prog, word)
