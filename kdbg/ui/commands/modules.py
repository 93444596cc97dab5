"""``mod``: the loaded modules, as crash's ``mod`` prints them.

``mod``: one line per module in crash's order (by base address, ``symbols.c``'s
``compare_mods``): the ``struct module`` address, its name, its base (``TEXT_BASE`` where
the kernel keeps module memory in ``mem[]``, 6.4+), its size as ``/proc/modules`` counts
it, and crash's ``OBJECT FILE`` column: ``(not loaded)  [CONFIG_KALLSYMS]``, which is what
kdbg has too (each module's symbols come from its own kallsyms in memory, its types from
its BTF).  ``mod -t``: the modules that tainted the kernel, with their taint letters.
``mod -s``/``-S`` (crash loads a module's debuginfo object) say in one line that there is
nothing to load and what kdbg uses instead.  ``--json``: the rows as data.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import CoreError
from kdbg.helpers.module import (
    for_each_module,
    has_module_memory,
    module_base,
    module_name,
    module_taints,
    module_total_size,
)
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["mod_cmd", "mod_rows"]

#: crash's ``OBJECT FILE`` cell of a module whose symbols come from kallsyms.
OBJECT_FILE = "(not loaded)  [CONFIG_KALLSYMS]"
#: What ``mod -s``/``-S`` print: kdbg has no debuginfo objects to load.
NOTHING_TO_LOAD = ("mod: kdbg loads no module object files: each module's symbols come from its kallsyms "
                   "and its types from its BTF, both already in use")


def mod_rows(prog: Any) -> List[Dict[str, Any]]:
    """Every loaded module in crash's order (by base address): ``module`` (the ``struct
    module`` address), ``name``, ``base``, ``size``, ``taints`` (letters)."""
    rows = [{"module": int(m), "name": module_name(m), "base": module_base(m), "size": module_total_size(m),
             "taints": module_taints(m)} for m in for_each_module(prog)]
    return sorted(rows, key=lambda r: r["base"])


def mod_lines(prog: Any, rows: List[Dict[str, Any]]) -> List[str]:
    """crash's ``mod`` table of *rows* (``kernel.c``: name and size columns as wide as
    their widest cell)."""
    w = 2 * prog.type("void *").sizeof()
    names = max([len(r["name"]) for r in rows] + [len("NAME")])
    sizes = max(len(str(r["size"])) for r in rows) if rows else len("SIZE")
    base = "TEXT_BASE" if rows and has_module_memory(next(for_each_module(prog))) else "BASE"
    lines = [f"{'MODULE':^{w}}  {'NAME':<{names}}  {base:^{w}}  {'SIZE':>{sizes}}  OBJECT FILE"]
    lines += [f"{r['module']:{w}x}  {r['name']:<{names}}  {r['base']:{w}x}  {r['size']:>{sizes}}  {OBJECT_FILE}"
              for r in rows]
    return lines


def taint_lines(rows: List[Dict[str, Any]]) -> List[str]:
    """crash's ``mod -t``: the modules with taint letters (``no tainted modules`` else)."""
    tainted = [r for r in rows if r["taints"]]
    if not tainted:
        return ["no tainted modules"]
    names = max(len(r["name"]) for r in tainted)
    return [f"{'NAME':<{names}}  TAINTS"] + [f"{r['name']:<{names}}  {r['taints']}" for r in tainted]


@command("mod", "the loaded modules, as crash's mod (-t taints)", arguments=[
    argument("-t", dest="taints", action="store_true", help="the modules that tainted the kernel, with their flags"),
    argument("-s", dest="load", metavar="MODULE", help="crash: load a module's debuginfo (kdbg: nothing to load)"),
    argument("-S", dest="load_all", nargs="?", const="", metavar="DIR",
             help="crash: load every module's debuginfo (kdbg: nothing to load)"),
    argument("--json", action="store_true", help="the modules as JSON"),
])
def mod_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the loaded modules (or their taints)."""
    if args.load is not None or args.load_all is not None:
        ctx.out.write(NOTHING_TO_LOAD + "\n")
        return
    if prog.memory is None:  # the list is in kernel memory
        raise CoreError(prog.memory_unavailable or "memory is unavailable")
    rows = mod_rows(prog)
    lines = taint_lines(rows) if args.taints else mod_lines(prog, rows)
    if ctx.json or args.json:
        ctx.out.write(json.dumps([r for r in rows if r["taints"] or not args.taints]) + "\n")
        return
    ctx.out.write("\n".join(lines) + "\n")
