"""``lsmod``: the loaded modules, read from the kernel's ``modules`` list, like crash's ``mod``
(a shipped plugin).

One line per module, newest first as ``/proc/modules`` lists them: the ``struct module``
address, name, load address, size, reference count, users, state and taint letters.
``--json`` prints the same as a list of objects.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.errors import CoreError
from kdbg.helpers.module import (
    for_each_module,
    module_base,
    module_name,
    module_refcount,
    module_state,
    module_taints,
    module_total_size,
    module_users,
)
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["module_rows"]


def module_rows(prog: Any) -> List[Dict[str, object]]:
    """One dict per loaded module: ``module`` (the ``struct module`` address), ``name``,
    ``base``, ``size``, ``refcount``, ``users``, ``state``, ``taints``."""
    return [
        {
            "module": mod.value_(),
            "name": module_name(mod),
            "base": module_base(mod),
            "size": module_total_size(mod),
            "refcount": module_refcount(mod),
            "users": module_users(mod),
            "state": module_state(mod),
            "taints": module_taints(mod),
        }
        for mod in for_each_module(prog)
    ]


@command("lsmod", "list the loaded modules (from the kernel's modules list)", arguments=[
    argument("--json", action="store_true", help="a list of JSON objects"),
])
def lsmod_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the loaded modules as a table (``--json``: a list of objects)."""
    as_json = ctx.json or args.json
    if prog.memory is None:  # the list is in kernel memory (before a symbol lookup fails)
        raise CoreError(prog.memory_unavailable or "memory is unavailable")
    rows = module_rows(prog)
    if as_json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    ctx.out.write(f"{'MODULE':<16}  {'NAME':<24} {'BASE':<16}  {'SIZE':>8}  {'REFS':>4}  "
                  f"{'USED BY':<16} STATE   TAINTS\n")
    for r in rows:
        users = ",".join(r["users"]) or "-"  # type: ignore[arg-type]
        ctx.out.write(f"{r['module']:016x}  {r['name']:<24} {r['base']:016x}  {r['size']:>8}  "
                      f"{r['refcount']:>4}  {users:<16} {r['state']:<7} {r['taints'] or '-'}\n")
