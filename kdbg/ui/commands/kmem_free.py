"""``kmem -f`` and the free-list part of ``kmem ADDR``: the buddy allocator's free blocks,
as crash's ``dump_free_pages_zones_v2`` prints them.

``kmem -f``: each zone (``ZONE NAME SIZE FREE MEM_MAP START_PADDR START_MAPNR``) with its
free lists, one row per order and migrate type (``AREA SIZE FREE_AREA_STRUCT BLOCKS
PAGES``, the blocks counted one by one), then ``nr_free_pages`` (the kernel's counter)
``(verified)`` when the lists hold that many pages, else ``(found N)``.

``kmem ADDR`` on a page inside a free block: the zone, the free list holding the block
(``AREA SIZE FREE_AREA_STRUCT``) and the block's first ``struct page``, with crash's
``(ADDR is 3rd of 8 pages)`` (``is in`` for a physical address inside the page; nothing
for a block of one page). crash's own search also takes the page just past a block for
one of its pages (its callback compares ``<=`` the block's end) and then prints nothing:
kdbg names the block that holds the page.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from kdbg.helpers.list import list_count_nodes, list_for_each_entry
from kdbg.helpers.mm import PageBuddy, memory_map, pfn_to_page
from kdbg.helpers.mmzone import for_each_online_pgdat
from kdbg.helpers.vmstat import nr_free_pages, zone_page_state
from kdbg.ui.commands import CommandContext, centred

__all__ = ["free_area_rows", "free_block", "free_block_lines", "kmem_free_lists", "zone_line"]

ZONE_HEADER = "ZONE  NAME        SIZE    FREE      MEM_MAP       START_PADDR  START_MAPNR"


def _zone_row(prog: Any, pgdat: Any, i: int) -> Dict[str, Any]:
    zone = pgdat.node_zones[i].address_of_()
    start = int(zone.zone_start_pfn)
    populated = int(zone.present_pages) != 0
    return {"node": int(pgdat.node_id), "zone": i, "name": zone.name.string_().decode("utf-8", "replace"),
            "size": int(zone.spanned_pages), "free": zone_page_state(zone, prog.constant("NR_FREE_PAGES")),
            "mem_map": int(pfn_to_page(prog, start)) if populated else 0, "start_pfn": start if populated else 0,
            "start_mapnr": start - int(pgdat.node_start_pfn) if populated else 0, "object": zone}


def free_area_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each zone's buddy free lists: ``zone``, ``name``, ``size`` (spanned pages), ``free``
    (its ``NR_FREE_PAGES``), ``mem_map`` (the first page's ``struct page``, 0 for an
    unpopulated zone), ``start_pfn``, ``start_mapnr`` (its index in the node's pages, crash's
    ``START_MAPNR``) and ``areas``: per order and migrate type the list's
    address and its ``blocks`` (each ``2**order`` pages), counted one by one."""
    rows = []
    for pgdat in for_each_online_pgdat(prog):
        for i in range(len(pgdat.node_zones)):
            row = _zone_row(prog, pgdat, i)
            zone = row.pop("object")
            row["areas"] = [{"order": order, "free_list": int(head.address_of_()),
                             "blocks": list_count_nodes(head.address_of_())}
                            for order, area in enumerate(zone.free_area) for head in area.free_list] \
                if row["mem_map"] else []
            rows.append(row)
    return rows


def zone_line(r: Dict[str, Any], page_size: int) -> str:
    """crash's line of one zone (a row of :func:`free_area_rows`)."""
    mem_map = f"{r['mem_map']:016x}" if r["mem_map"] else centred("0", 16, False)
    return (f"{centred(str(r['zone']), 4, True)}  {r['name']:<8}{r['size']:>8}{r['free']:>8}  {mem_map}  "
            f"{centred(format(r['start_pfn'] * page_size, 'x'), 11, True)}  {centred(str(r['start_mapnr']), 11, True)}")


def _area_cells(order: int, free_list: int, page_size: int) -> str:
    kib = str((page_size << order) // 1024) + "k"
    return f"{order:3d}{kib:>9}  {free_list:016x}"


def kmem_free_lists(prog: Any, ctx: CommandContext, as_json: bool) -> None:
    """crash's ``kmem -f``."""
    rows = free_area_rows(prog)
    page_size = 1 << memory_map(prog).page_shift
    found = sum(a["blocks"] << a["order"] for r in rows for a in r["areas"])
    total = nr_free_pages(prog)
    if as_json:
        ctx.out.write(json.dumps({"zones": rows, "nr_free_pages": total, "found": found}) + "\n")
        return
    out = []
    for r in rows:
        out += [ZONE_HEADER, zone_line(r, page_size)]
        if r["areas"]:
            out.append("AREA    SIZE  FREE_AREA_STRUCT  BLOCKS  PAGES")
            out += [f"{_area_cells(a['order'], a['free_list'], page_size)}{a['blocks']:>8}"
                    f"{a['blocks'] << a['order']:>7}" for a in r["areas"]]
        out.append("")
    out.append(f"nr_free_pages: {total}  " + ("(verified)" if found == total else f"(found {found})"))
    ctx.out.write("\n".join(out) + "\n")


def free_block(prog: Any, pfn: int) -> Optional[Dict[str, Any]]:
    """The free buddy block holding page frame *pfn*: ``zone`` (a row of
    :func:`free_area_rows` without ``areas``), ``order``, ``free_list`` (the list it is on),
    ``page`` (its first ``struct page``) and ``index`` (*pfn*'s place in it, from 0);
    ``None`` when *pfn* is in no free list. Only zones whose free-page counter is not 0
    are searched, as crash searches them; the block is found as the kernel's
    ``is_free_buddy_page()`` finds it, and only the lists of its order are walked for it."""
    for pgdat in for_each_online_pgdat(prog):
        for i in range(len(pgdat.node_zones)):
            row = _zone_row(prog, pgdat, i)
            zone = row.pop("object")
            if row["mem_map"] and row["free"] and row["start_pfn"] <= pfn < row["start_pfn"] + row["size"]:
                return _zone_free_block(prog, zone, row, pfn)
    return None


def _zone_free_block(prog: Any, zone: Any, row: Dict[str, Any], pfn: int) -> Optional[Dict[str, Any]]:
    # is_free_buddy_page(): the block's head is the first PageBuddy page at pfn aligned
    # down to 2**order whose buddy order (page->private) is at least order
    for order in range(len(zone.free_area)):
        first = pfn & ~((1 << order) - 1)
        page = pfn_to_page(prog, first)
        if PageBuddy(page) and int(page.private) >= order:
            head, order = int(page), int(page.private)
            break
    else:
        return None
    if order >= len(zone.free_area):
        return None
    for lst in zone.free_area[order].free_list:
        for entry in list_for_each_entry("struct page", lst.address_of_(), "lru"):
            if int(entry) == head:
                return {"zone": row, "order": order, "free_list": int(lst.address_of_()), "page": head,
                        "index": pfn - first}
    return None


def _ordinal(n: int) -> str:
    """crash's ``ordinal()``: the suffix of the last digit (``11st``, as crash writes it)."""
    return f"{n}{ {'1': 'st', '2': 'nd', '3': 'rd'}.get(str(n)[-1], 'th')}"


def free_block_lines(prog: Any, block: Dict[str, Any], address: int, physical: bool) -> List[str]:
    """crash's lines for an address (*physical* or not) inside :func:`free_block`'s
    *block*."""
    page_size = 1 << memory_map(prog).page_shift
    where = ""
    if block["order"]:
        is_in = "is in" if physical and address % page_size else "is"
        where = f"({address:x} {is_in} {_ordinal(block['index'] + 1)} of {1 << block['order']} pages)"
    return [ZONE_HEADER, zone_line(block["zone"], page_size), "AREA    SIZE  FREE_AREA_STRUCT",
            f"{_area_cells(block['order'], block['free_list'], page_size)}  ", f"{block['page']:x}  {where}"]
