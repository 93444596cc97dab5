"""``kmem -n``: crash's memory nodes, their zones, the memory sections and memory blocks.

As crash's ``dump_memory_nodes`` prints them on a SPARSEMEM kernel: each online node
(``NODE SIZE PGLIST_DATA BOOTMEM_DATA NODE_ZONES``, its zones' addresses, its first page
``MEM_MAP START_PADDR START_MAPNR``), each zone of it (``ZONE NAME SIZE MEM_MAP
START_PADDR START_MAPNR``, the size being the spanned pages), then every present memory
section (``NR SECTION CODED_MEM_MAP MEM_MAP STATE PFN``, the state crash's letters of the
section's flag bits: ``P`` present, ``M`` memory map, ``O`` online, ``E`` early, ``D``
ZONE_DEVICE) and every memory block of the ``memory`` bus (``MEM_BLOCK NAME PHYSICAL
RANGE NODE STATE START_SECTION_NO``). The data come from :mod:`kdbg.helpers.mmzone`.
"""

from __future__ import annotations

from typing import Any, Dict, List

from kdbg.errors import KdbgError
from kdbg.helpers.common import has_member
from kdbg.helpers.mm import memory_map
from kdbg.helpers.mmzone import (
    decode_memory_block_state,
    for_each_memory_block,
    for_each_online_pgdat,
    for_each_present_section,
    pfn_to_section_nr,
    section_decode_mem_map,
    section_mem_map_addr,
    section_nr_to_pfn,
)
from kdbg.ui.commands import centred

__all__ = ["memory_block_rows", "memory_node_rows", "memory_nodes_lines", "memory_section_rows"]

_STATE_LETTERS = ((1, "P"), (2, "M"), (4, "O"), (8, "E"), (16, "D"))


def _page_of_pfn(prog: Any, pfn: int) -> int:
    """crash's ``phys_to_page``: the ``struct page`` of ``pfn`` in its section's memory
    map, 0 when the section is not present."""
    nr = int(pfn_to_section_nr(prog, pfn))
    for n, section in for_each_present_section(prog):
        if n == nr:
            return int(section_decode_mem_map(section, n)) + (pfn - int(section_nr_to_pfn(prog, n))) * \
                memory_map(prog).sizeof_page
    return 0


def memory_node_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each online node: ``node``, ``size`` (spanned pages), ``pglist_data``,
    ``node_zones`` (each zone's address), ``mem_map``, ``start_paddr``, ``start_mapnr``
    and its ``zones``: ``zone``, ``name``, ``size`` (spanned), ``mem_map``,
    ``start_paddr``, ``start_mapnr`` as crash computes them."""
    shift = memory_map(prog).page_shift
    rows = []
    for pgdat in for_each_online_pgdat(prog):
        start = int(pgdat.node_start_pfn)
        zones = []
        for i in range(len(pgdat.node_zones)):
            zone = pgdat.node_zones[i].address_of_()
            size = int(zone.spanned_pages)
            zpfn = int(zone.zone_start_pfn)
            zones.append({"zone": i, "address": int(zone), "name": zone.name.string_().decode("utf-8", "replace"),
                          "size": size, "mem_map": _page_of_pfn(prog, zpfn) if size else 0,
                          "start_paddr": zpfn << shift, "start_mapnr": zpfn if size else 0})
        rows.append({"node": int(pgdat.node_id), "size": int(pgdat.node_spanned_pages), "pglist_data": int(pgdat),
                     "node_zones": [z["address"] for z in zones], "mem_map": _page_of_pfn(prog, start),
                     "start_paddr": start << shift, "start_mapnr": start, "zones": zones})
    return rows


def memory_section_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each present memory section: ``nr``, ``section`` (its ``struct mem_section``),
    ``coded_mem_map``, ``mem_map`` (its first page), ``state`` (crash's letters) and
    ``pfn`` (its first frame)."""
    rows = []
    for nr, section in for_each_present_section(prog):
        word = int(section.section_mem_map)
        rows.append({"nr": nr, "section": int(section), "coded_mem_map": int(section_mem_map_addr(section)),
                     "mem_map": int(section_decode_mem_map(section, nr)),
                     "state": "".join(letter for bit, letter in _STATE_LETTERS if word & bit),
                     "pfn": int(section_nr_to_pfn(prog, nr))})
    return rows


def _block_size(prog: Any) -> int:
    """crash's block size: ``memory_block_size_probed`` where kallsyms has it, else 0
    (then it prints the start alone)."""
    sym = prog.symbol_table.get("memory_block_size_probed")
    return prog.read_u64(sym.address) if sym is not None else 0


def memory_block_rows(prog: Any) -> List[Dict[str, Any]]:
    """Each memory block of the ``memory`` bus, in the bus's order: ``memory_block``,
    ``name``, ``start`` and ``end`` (inclusive; ``None`` without a known block size)
    physical addresses, ``nid`` (``None`` where the kernel keeps none), ``state`` (crash's
    word) and ``start_section_nr``."""
    if "memory_subsys" not in prog.symbol_table or not _has_type(prog, "struct memory_block"):
        return []
    size = _block_size(prog)
    nid = has_member(prog, "struct memory_block", "nid")
    shift = memory_map(prog).page_shift
    rows = []
    for mb in for_each_memory_block(prog):
        first = int(mb.start_section_nr)
        start = int(section_nr_to_pfn(prog, first)) << shift
        try:
            state = decode_memory_block_state(mb).replace("MEM_", "")
        except KeyError:
            state = "UNKNOWN"
        rows.append({"memory_block": int(mb), "name": mb.dev.kobj.name.string_().decode("utf-8", "replace"),
                     "start": start, "end": start + size - 1 if size else None,
                     "nid": int(mb.nid) if nid else None, "state": state, "start_section_nr": first})
    return rows


def _has_type(prog: Any, name: str) -> bool:
    try:
        prog.type(name)
    except (KdbgError, LookupError):
        return False
    return True


def _paddr_width(prog: Any) -> int:
    """crash's ``PADDR_PRLEN``: the hex digits of the highest physical address."""
    mm = memory_map(prog)
    return len(f"{mm.max_pfn << mm.page_shift:x}")


def memory_nodes_lines(prog: Any, nodes: List[Dict[str, Any]], sections: List[Dict[str, Any]],
                       blocks: List[Dict[str, Any]]) -> List[str]:
    """crash's ``kmem -n`` of the rows above."""
    out: List[str] = []
    zone_hdr = f"ZONE  NAME         SIZE  {centred('MEM_MAP', 16, True)}  START_PADDR  START_MAPNR"
    for n, node in enumerate(nodes):
        if n:
            out += ["-" * len(zone_hdr), "", ""]
        out.append(f"NODE  {centred('SIZE', 8, False)}  {centred('PGLIST_DATA', 16, False)}  "
                   f"{centred('BOOTMEM_DATA', 16, False)}  {centred('NODE_ZONES', 16, False)}")
        size = centred(str(node["size"]), 8, False)
        first, *others = node["node_zones"]
        out.append(f" {node['node']:2d}   {size}  {centred(format(node['pglist_data'], 'x'), 16, False)}  "
                   f"{centred('----', 16, False)}  {centred(format(first, 'x'), 16, False)}")
        indent = 12 + len(size) + 16 + 16
        out += [" " * indent + f"{z:x}" for z in others]
        out.append(f"{centred('MEM_MAP', 16, False)}     START_PADDR    START_MAPNR")
        out.append(f"{centred(format(node['mem_map'], 'x'), 16, False)}  "
                   f"{centred(format(node['start_paddr'], 'x'), 16, True)}  "
                   f"{centred(str(node['start_mapnr']), 11, True)}")
        out += ["", zone_hdr]
        for z in node["zones"]:
            out.append(f" {z['zone']:2d}   {z['name']:<9} {z['size']:7d}  {z['mem_map']:16x}  {z['start_paddr']:11x}  "
                       f"{z['start_mapnr']:11d}")
    out += ["", "-" * 67, "",
            f"NR  {centred('SECTION', 16, False)}  {centred('CODED_MEM_MAP', 16, False)}  "
            f"{centred('MEM_MAP', 16, False)}  STATE PFN"]
    for s in sections:
        out.append(f"{s['nr']:2d}  {centred(format(s['section'], 'x'), 16, False)}  "
                   f"{centred(format(s['coded_mem_map'], 'x'), 16, True)}  "
                   f"{centred(format(s['mem_map'], 'x'), 16, True)}  "
                   f"{centred(s['state'], 5, False)} {s['pfn']}")
    if blocks:
        out += _block_lines(prog, blocks)
    return out


def _block_lines(prog: Any, blocks: List[Dict[str, Any]]) -> List[str]:
    width = _paddr_width(prog)
    ranged = blocks[0]["end"] is not None
    paddr_hdr = "PHYSICAL RANGE" if ranged else "PHYSICAL START"
    nid = blocks[0]["nid"] is not None
    if nid:
        out = ["", f"{centred('MEM_BLOCK', 16, False)} {centred('NAME', 10, False)}   "
                   f"{centred(paddr_hdr, width * 2 + 2, False)}   NODE  {'STATE':<7} START_SECTION_NO"]
    else:
        out = ["", f"{centred('MEM_BLOCK', 16, False)} {centred('NAME', 10, False)}   "
                   f"{centred(paddr_hdr, width * 2, False)}    {'STATE':<7} START_SECTION_NO"]
    for b in blocks:
        if b["end"] is not None:
            prange = f"{b['start']:>{width}x} - {b['end']:>{width}x}"
        else:
            prange = centred(format(b["start"], "x"), width * 2 + 3, False)
        if nid:
            out.append(f" {b['memory_block']:<16x} {centred(b['name'], 12, False)} {prange} "
                       f"{centred(str(b['nid']), 4, False)}  {b['state']:<7} {b['start_section_nr']}")
        else:
            out.append(f" {b['memory_block']:<16x} {centred(b['name'], 10, False)} {prange}  "
                       f"{b['state']:<7} {b['start_section_nr']}")
    return out
