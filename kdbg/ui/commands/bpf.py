"""``bpf``: the loaded BPF programs and maps, as crash's ``bpf``.

``bpf`` lists every program (``ID BPF_PROG BPF_PROG_AUX BPF_PROG_TYPE TAG USED_MAPS``,
the type without ``BPF_PROG_TYPE_``, the tag in hex, the IDs of the maps it uses) and then
every map (``ID BPF_MAP BPF_MAP_TYPE MAP_FLAGS``), each table under its header only when it
has a row: a kernel with none prints nothing, as crash does. ``-p ID`` and ``-m ID`` keep
one program or map (an ID the kernel has not is one line). The programs and maps come from
:mod:`kdbg.helpers.bpf` (the kernel's ``prog_idr`` and ``map_idr``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.bpf import bpf_map_for_each, bpf_prog_for_each
from kdbg.ui.commands import CommandContext, argument, centred, command

__all__ = ["bpf_cmd", "bpf_rows"]


def _enum_names(prog: Any, enum: str, prefix: str) -> Dict[int, str]:
    try:
        return {e.value: e.name[len(prefix):] for e in reversed(prog.type(f"enum {enum}").enumerators)}
    except (KdbgError, LookupError):
        return {}


def _width(prog: Any, enum: str) -> int:
    """crash's column width of a type name: the longest enumerator less
    ``BPF_PROG_TYPE_`` (for maps too, as crash computes it)."""
    try:
        return max(len(e.name) for e in prog.type(f"enum {enum}").enumerators) - len("BPF_PROG_TYPE_")
    except (KdbgError, LookupError, ValueError):
        return 0


def bpf_rows(prog: Any) -> Dict[str, List[Dict[str, Any]]]:
    """``progs`` (``id``, ``bpf_prog``, ``bpf_prog_aux``, ``type``, ``tag``, ``used_maps``)
    and ``maps`` (``id``, ``bpf_map``, ``type``, ``map_flags``), by ID."""
    prog_types = _enum_names(prog, "bpf_prog_type", "BPF_PROG_TYPE_")
    map_types = _enum_names(prog, "bpf_map_type", "BPF_MAP_TYPE_")
    maps: List[Dict[str, Any]] = sorted(
        ({"id": int(m.id), "bpf_map": int(m), "type": map_types.get(int(m.map_type), ""),
          "map_flags": int(m.map_flags)} for m in bpf_map_for_each(prog)), key=lambda r: r["id"])
    ids = {r["bpf_map"]: r["id"] for r in maps}
    progs: List[Dict[str, Any]] = []
    for p in bpf_prog_for_each(prog):
        aux = p.aux.read_()
        used = [ids[int(aux.used_maps[i])] for i in range(int(aux.used_map_cnt)) if int(aux.used_maps[i]) in ids]
        progs.append({"id": int(aux.id), "bpf_prog": int(p), "bpf_prog_aux": int(aux),
                      "type": prog_types.get(int(p.type), ""), "tag": bytes(p.tag.to_bytes_()).hex(),
                      "used_maps": used})
    progs.sort(key=lambda r: r["id"])
    return {"progs": progs, "maps": maps}


def bpf_lines(prog: Any, rows: Dict[str, List[Dict[str, Any]]]) -> List[str]:
    """crash's ``bpf`` lines of :func:`bpf_rows`."""
    out: List[str] = []
    tw = min(13, _width(prog, "bpf_prog_type"))
    if rows["progs"]:
        out.append(f"{centred('ID', 4, False)} {centred('BPF_PROG', 16, False)} {centred('BPF_PROG_AUX', 16, False)} "
                   f"{centred('BPF_PROG_TYPE', tw, False)}       TAG        USED_MAPS")
        for r in rows["progs"]:
            used = ",".join(str(i) for i in r["used_maps"])
            out.append(f"{centred(str(r['id']), 4, False)} {centred(format(r['bpf_prog'], 'x'), 16, False)} "
                       f"{centred(format(r['bpf_prog_aux'], 'x'), 16, False)} {centred(r['type'], tw, False)} "
                       f"{r['tag']} {centred(used, 9, False)} ")
    if rows["maps"]:
        mw = _width(prog, "bpf_map_type")
        if out:
            out.append("")
        out.append(f"{centred('ID', 4, False)} {centred('BPF_MAP', 16, False)} {centred('BPF_MAP_TYPE', mw, False)} "
                   "MAP_FLAGS")
        for r in rows["maps"]:
            out.append(f"{centred(str(r['id']), 4, False)} {centred(format(r['bpf_map'], 'x'), 16, False)} "
                       f"{centred(r['type'], mw, False)}  {r['map_flags']:08x} ")
    return out


def _only(rows: List[Dict[str, Any]], wanted: Optional[int], what: str) -> List[Dict[str, Any]]:
    if wanted is None:
        return rows
    kept = [r for r in rows if r["id"] == wanted]
    if not kept:
        raise ExpressionError(f"bpf: invalid {what} ID: {wanted}")
    return kept


@command("bpf", "the loaded BPF programs and maps, as crash's bpf", arguments=[
    argument("-p", dest="prog_id", type=int, metavar="ID", help="only the program of this ID"),
    argument("-m", dest="map_id", type=int, metavar="ID", help="only the map of this ID"),
    argument("-P", dest="all_progs", action="store_true", help="the programs only"),
    argument("-M", dest="all_maps", action="store_true", help="the maps only"),
    argument("--json", action="store_true", help="the programs and maps as JSON"),
])
def bpf_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """List BPF programs and maps."""
    rows = bpf_rows(prog)
    progs_only = args.prog_id is not None or args.all_progs
    maps_only = args.map_id is not None or args.all_maps
    rows = {"progs": _only(rows["progs"], args.prog_id, "program") if progs_only or not maps_only else [],
            "maps": _only(rows["maps"], args.map_id, "map") if maps_only or not progs_only else []}
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    lines = bpf_lines(prog, rows)
    if lines:
        ctx.out.write("\n".join(lines) + "\n")
