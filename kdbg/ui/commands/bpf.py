"""``bpf``: the loaded BPF programs and maps, as crash's ``bpf``.

``bpf`` lists every program (``ID BPF_PROG BPF_PROG_AUX BPF_PROG_TYPE TAG USED_MAPS``,
the type without ``BPF_PROG_TYPE_``, the tag in hex, the IDs of the maps it uses), a blank
line, and every map (``ID BPF_MAP BPF_MAP_TYPE MAP_FLAGS``), each table under its header
only when it has a row. ``-p ID``/``-P`` show one or every program with its details
(:mod:`kdbg.ui.commands.bpf_details`), each under its own header, and with ``-t``/``-T``
its translated instructions (:mod:`kdbg.ui.commands.bpf_insn`), with ``-j`` its JITed code
(capstone, through ``dis``'s :func:`~kdbg.ui.commands.disasm.disassemble`), with ``-s``
its ``struct bpf_prog`` and ``bpf_prog_aux`` (kdbg's printer; ``-x``/``-d`` the radix);
``-m ID``/``-M`` the same for maps (``-s``: ``struct bpf_map``). An ID the kernel has not
is one line. crash's ``-d`` prints hexadecimal (its option parser sets radix 16 for
both); kdbg's prints decimal, as crash's help says. The programs and maps come from
:mod:`kdbg.helpers.bpf` (the kernel's ``prog_idr`` and ``map_idr``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

from kdbg.core.object import Object
from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.bpf import bpf_map_for_each, bpf_prog_for_each
from kdbg.ui.commands import CommandContext, argument, centred, command
from kdbg.ui.commands.bpf_details import map_details, map_lines, prog_details, prog_lines
from kdbg.ui.commands.bpf_insn import helper_namer, xlated_lines
from kdbg.ui.commands.disasm import disassemble

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


def _prog_header(prog: Any) -> str:
    tw = min(13, _width(prog, "bpf_prog_type"))
    return (f"{centred('ID', 4, False)} {centred('BPF_PROG', 16, False)} {centred('BPF_PROG_AUX', 16, False)} "
            f"{centred('BPF_PROG_TYPE', tw, False)}       TAG        USED_MAPS")


def _prog_row(prog: Any, r: Dict[str, Any]) -> str:
    tw = min(13, _width(prog, "bpf_prog_type"))
    used = ",".join(str(i) for i in r["used_maps"])
    return (f"{centred(str(r['id']), 4, False)} {centred(format(r['bpf_prog'], 'x'), 16, False)} "
            f"{centred(format(r['bpf_prog_aux'], 'x'), 16, False)} {centred(r['type'], tw, False)} "
            f"{r['tag']} {centred(used, 9, False)} ")


def _map_header(prog: Any) -> str:
    mw = _width(prog, "bpf_map_type")
    return f"{centred('ID', 4, False)} {centred('BPF_MAP', 16, False)} {centred('BPF_MAP_TYPE', mw, False)} MAP_FLAGS"


def _map_row(prog: Any, r: Dict[str, Any]) -> str:
    mw = _width(prog, "bpf_map_type")
    return (f"{centred(str(r['id']), 4, False)} {centred(format(r['bpf_map'], 'x'), 16, False)} "
            f"{centred(r['type'], mw, False)}  {r['map_flags']:08x} ")


def bpf_lines(prog: Any, rows: Dict[str, List[Dict[str, Any]]]) -> List[str]:
    """crash's ``bpf`` lines of :func:`bpf_rows` (no option): the programs' table, a blank
    line, the maps' table (a table without rows has no header)."""
    out = ([_prog_header(prog)] + [_prog_row(prog, r) for r in rows["progs"]]) if rows["progs"] else []
    out.append("")
    if rows["maps"]:
        out += [_map_header(prog)] + [_map_row(prog, r) for r in rows["maps"]]
    return out


def _only(rows: List[Dict[str, Any]], wanted: Optional[int], what: str) -> List[Dict[str, Any]]:
    if wanted is None:
        return rows
    kept = [r for r in rows if r["id"] == wanted]
    if not kept:
        raise ExpressionError(f"bpf: invalid {what} ID: {wanted}")
    return kept


def _jited_lines(prog: Any, p: Any) -> List[str]:
    """crash's ``-j``: gdb's ``x/i`` lines of the JITed image (no label at the image's own
    addresses, a call's or jump's target named), each with crash's trailing blank."""
    size = int(p.jited_len)
    if not size:
        return ["(program not jited)"]
    out = []
    for insn in disassemble(prog, int(p.bpf_func), size):
        text = insn["text"].split(":\t", 1)[1]
        out.append(f"   {insn['address']:#x}:\t{text} ")
    return out


def _struct_lines(prog: Any, kind: str, address: int, base: Optional[int]) -> List[str]:
    """``-s``: the structure at *address*, as kdbg's ``struct`` prints it."""
    return str(Object(prog, prog.type(f"struct {kind}"), address=address).format_(integer_base=base)).splitlines()


def _check(args: argparse.Namespace) -> None:
    """crash's rules on which options go together."""
    progs = args.prog_id is not None or args.all_progs
    if args.jited and not progs:
        raise ExpressionError("bpf: -j option only applicable with -p or -P")
    if (args.xlated or args.opcodes) and not progs:
        raise ExpressionError("bpf: -t option only applicable with -p or -P")
    chosen = progs or args.map_id is not None or args.all_maps
    if args.struct and not chosen:
        raise ExpressionError("bpf: -s option requires either -p, -P, -m or -M")
    if args.hex and args.dec:
        raise ExpressionError("bpf: -d and -x are mutually exclusive")
    if (args.hex or args.dec) and not args.struct:
        raise ExpressionError(f"bpf: -{'x' if args.hex else 'd'} option requires -s")


@command("bpf", "the loaded BPF programs and maps, as crash's bpf", arguments=[
    argument("-p", dest="prog_id", type=int, metavar="ID", help="the program of this ID, with its details"),
    argument("-m", dest="map_id", type=int, metavar="ID", help="the map of this ID, with its details"),
    argument("-P", dest="all_progs", action="store_true", help="every program, with its details"),
    argument("-M", dest="all_maps", action="store_true", help="every map, with its details"),
    argument("-t", dest="xlated", action="store_true", help="with -p/-P: the translated instructions"),
    argument("-T", dest="opcodes", action="store_true", help="as -t, with each instruction's bytes"),
    argument("-j", dest="jited", action="store_true", help="with -p/-P: the JITed code, disassembled"),
    argument("-s", dest="struct", action="store_true",
             help="with -p/-P: struct bpf_prog and bpf_prog_aux; with -m/-M: struct bpf_map"),
    argument("-x", dest="hex", action="store_true", help="with -s: integers in hexadecimal"),
    argument("-d", dest="dec", action="store_true", help="with -s: integers in decimal"),
    argument("--json", action="store_true", help="the programs and maps as JSON"),
])
def bpf_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """List BPF programs and maps."""
    _check(args)
    rows = bpf_rows(prog)
    progs_only = args.prog_id is not None or args.all_progs
    maps_only = args.map_id is not None or args.all_maps
    do_progs, do_maps = progs_only or not maps_only, maps_only or not progs_only
    rows = {"progs": _only(rows["progs"], None if args.all_progs else args.prog_id, "program") if do_progs else [],
            "maps": _only(rows["maps"], None if args.all_maps else args.map_id, "map") if do_maps else []}
    verbose_progs, verbose_maps = progs_only, maps_only
    if ctx.json or args.json:
        for r in rows["progs"] if verbose_progs else []:
            r.update(prog_details(prog, Object(prog, "struct bpf_prog *", r["bpf_prog"])))
        for r in rows["maps"] if verbose_maps else []:
            r.update(map_details(prog, Object(prog, "struct bpf_map *", r["bpf_map"])))
        ctx.out.write(json.dumps(rows) + "\n")
        return
    base = 16 if args.hex else 10 if args.dec else None
    out: List[str] = []
    if do_progs:
        maps = {r["bpf_map"]: r["id"] for r in bpf_rows(prog)["maps"]}
        call = helper_namer(prog)
        for i, r in enumerate(rows["progs"]):
            if i == 0 or verbose_progs:
                out += ([""] if i else []) + [_prog_header(prog)]
            out.append(_prog_row(prog, r))
            if not verbose_progs:
                continue
            p = Object(prog, "struct bpf_prog *", r["bpf_prog"])
            out += prog_lines(prog_details(prog, p))
            if args.jited:
                out += [""] + _jited_lines(prog, p)
            if args.xlated or args.opcodes:
                data = prog.read(int(p.insnsi.address_of_()), int(p.len) * 8)
                out += [""] + xlated_lines(data, maps, call, args.opcodes)
            if args.struct:
                out += [""] + _struct_lines(prog, "bpf_prog", int(p), base)
                out += [""] + _struct_lines(prog, "bpf_prog_aux", int(p.aux), base)
        if do_maps:
            out.append("")
    if do_maps:
        for i, r in enumerate(rows["maps"]):
            if i == 0 or verbose_maps:
                out += ([""] if i else []) + [_map_header(prog)]
            out.append(_map_row(prog, r))
            if not verbose_maps:
                continue
            m = Object(prog, "struct bpf_map *", r["bpf_map"])
            out += map_lines(map_details(prog, m))
            if args.struct:
                out += [""] + _struct_lines(prog, "bpf_map", int(m), base)
    if out:
        ctx.out.write("\n".join(out) + "\n")
