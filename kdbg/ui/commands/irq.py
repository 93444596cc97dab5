"""``irq``: the interrupt descriptors, as crash's ``irq`` prints them.

``irq [IRQ...]`` lists every IRQ number below ``nr_irqs`` (or only those given) with its
``irq_desc``, each ``irqaction`` and the handler's name (``(unused)`` where there is none),
in crash's columns.  ``-u``: only the allocated descriptors.  ``-s``: per-CPU counts of the
IRQs that have a handler, as ``/proc/interrupts`` counts them (the chip's name and the
flow handler's, ``IO-APIC-edge``, then the handlers' names); ``-c CPUS`` restricts the
columns to some CPUs.  ``-a``: the CPUs each handled IRQ may go to.  ``-b``: the softirq
vectors and their actions (with ``--json`` also each softirq's name and per-CPU counts, as
``/proc/softirqs`` prints them).  ``--json``: the same as data.  Everything comes from
:mod:`kdbg.helpers.irq` and the kernel's ``softirq_vec``, ``softirq_to_name`` and ``kstat``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError
from kdbg.helpers.cpumask import cpumask_to_cpulist, for_each_online_cpu
from kdbg.helpers.irq import (
    for_each_irq_desc,
    irq_desc_action_names,
    irq_desc_affinity_mask,
    irq_desc_chip_name,
    irq_desc_kstat_cpu,
    irq_get_nr_irqs,
    irq_to_desc,
)
from kdbg.helpers.percpu import per_cpu
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["irq_cmd", "irq_rows", "irq_stats", "parse_cpus", "softirq_rows"]

#: crash's headers (``kernel.c``), by display.
HEADERS = {
    "list": " IRQ   IRQ_DESC/_DATA      IRQACTION      NAME",
    "affinity": "IRQ NAME                 AFFINITY",
    "softirq": "SOFTIRQ_VEC      ACTION     ",
}


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _function(prog: Any, address: int) -> str:
    """crash's ``<name>`` cell of a code address (empty when no symbol holds it)."""
    found = prog.symbolize_address(address) if address else None
    return f"<{found[0]}>" if found is not None and found[1] == 0 else ""


def parse_cpus(prog: Any, spec: Optional[str], name: str = "irq") -> List[int]:
    """The online CPUs ``spec`` names (``0,2-3``; ``None`` or ``all``: every online CPU);
    errors name the command ``name``."""
    online = list(for_each_online_cpu(prog))
    if spec is None or spec == "all":
        return online
    cpus: List[int] = []
    try:
        for part in spec.split(","):
            first, _, last = part.partition("-")
            cpus += range(int(first), int(last or first) + 1)
    except ValueError:
        raise ExpressionError(f"{name}: {spec!r} is not a CPU list (0,2-3)") from None
    bad = [c for c in cpus if c not in online]
    if bad:
        raise ExpressionError(f"{name}: CPU {bad[0]} is not online (online: {','.join(map(str, online))})")
    return cpus


def irq_rows(prog: Any, numbers: List[int], only_used: bool) -> List[Dict[str, Any]]:
    """One row per IRQ number: ``irq``, ``irq_desc`` (0: none), ``actions`` (each
    ``irqaction`` address and handler name)."""
    if numbers:
        nr = irq_get_nr_irqs(prog)
        for n in numbers:
            if not 0 <= n < nr:
                raise ExpressionError(f"irq: invalid IRQ number: {n} (nr_irqs is {nr})")
        descs = {n: irq_to_desc(prog, n) for n in numbers}
        wanted = list(numbers)
    else:
        descs = dict(for_each_irq_desc(prog))
        wanted = sorted(descs) if only_used else list(range(irq_get_nr_irqs(prog)))
    rows = []
    for n in wanted:
        desc = descs.get(n)
        actions = []
        if desc is not None and int(desc):
            action = desc.action.read_()
            while int(action):
                name = action.name.read_()
                actions.append({"irqaction": int(action), "name": _text(name.string_()) if int(name) else ""})
                action = action.next.read_()
        rows.append({"irq": n, "irq_desc": int(desc) if desc is not None else 0, "actions": actions})
    return rows


def _chip(desc: Any) -> str:
    """crash's ``-s`` chip cell: the chip's name and the flow handler's (``IO-APIC-edge``)."""
    chip = irq_desc_chip_name(desc)
    flow = desc.name.read_()
    text = _text(chip) if chip is not None else ""
    if int(flow):
        text += "-" + _text(flow.string_())
    return text


def irq_stats(prog: Any, cpus: List[int]) -> List[Dict[str, Any]]:
    """The IRQs with a handler: ``irq``, ``counts`` (per CPU of ``cpus``), ``chip``,
    ``hwirq``, ``flow`` (the flow handler's name), ``names``."""
    rows = []
    for n, desc in for_each_irq_desc(prog):
        if not int(desc.action):
            continue
        flow = desc.name.read_()
        chip = irq_desc_chip_name(desc)
        rows.append({"irq": n, "counts": [irq_desc_kstat_cpu(desc, c) for c in cpus],
                     "chip": _text(chip) if chip is not None else "", "hwirq": int(desc.irq_data.hwirq),
                     "flow": _text(flow.string_()) if int(flow) else "",
                     "names": [_text(b) for b in irq_desc_action_names(desc)], "label": _chip(desc)})
    return rows


def softirq_rows(prog: Any, cpus: List[int]) -> List[Dict[str, Any]]:
    """Each softirq vector: ``vec``, ``action`` address and its symbol, the kernel's
    ``name`` (``softirq_to_name``) and per-CPU ``counts`` (``kstat.softirqs``)."""
    names = prog["softirq_to_name"]
    kstats = [per_cpu(prog["kstat"], c).softirqs for c in cpus]
    rows = []
    for vec, entry in enumerate(prog["softirq_vec"]):
        action = int(entry.action)
        rows.append({"vec": vec, "action": action, "function": _function(prog, action)[1:-1],
                     "name": _text(names[vec].string_()), "counts": [int(k[vec]) for k in kstats]})
    return rows


def _print_list(ctx: CommandContext, rows: List[Dict[str, Any]]) -> None:
    lines = [HEADERS["list"]]
    for r in rows:
        desc = f"{r['irq_desc']:016x}" if r["irq_desc"] else f"{'(unused)':^16}"
        if not r["actions"]:
            lines.append(f"{r['irq']:^5} {desc}  {'(unused)':^16}")
        for i, a in enumerate(r["actions"]):
            head = f"{r['irq']:^5} {desc}" if i == 0 else " " * 22
            lines.append(f"{head}  {a['irqaction']:016x}  \"{a['name']}\"")
    ctx.out.write("\n".join(lines) + "\n")


def _print_stats(ctx: CommandContext, rows: List[Dict[str, Any]], cpus: List[int]) -> None:
    lines = ["    " + "".join(f"{'CPU' + str(c):>11}" for c in cpus) + " "]
    for r in rows:
        counts = "".join(f"{n:11d}" for n in r["counts"])
        lines.append(f"{r['irq']:3d}:{counts}  {r['label']:<16} {', '.join(r['names'])}")
    ctx.out.write("\n".join(lines) + "\n")


@command("irq", "interrupt descriptors, per-CPU counts, affinity and softirqs, as crash's irq", arguments=[
    argument("numbers", metavar="IRQ", nargs="*", type=int, help="only these IRQ numbers"),
    argument("-u", dest="only_used", action="store_true", help="only the allocated descriptors"),
    argument("-s", dest="stats", action="store_true", help="per-CPU counts of the handled IRQs"),
    argument("-c", dest="cpus", metavar="CPUS", help="with -s: only these CPUs (0,2-3)"),
    argument("-a", dest="affinity", action="store_true", help="the CPUs each handled IRQ may go to"),
    argument("-b", dest="softirqs", action="store_true", help="the softirq vectors (bottom halves)"),
    argument("--json", action="store_true", help="the same as JSON"),
])
def irq_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print interrupt information."""
    modes = [m for m in ("stats", "affinity", "softirqs") if getattr(args, m)]
    if len(modes) > 1 or (modes and (args.numbers or args.only_used)):
        raise ExpressionError("irq: give one of -s, -a, -b, -u and IRQ numbers")
    if args.cpus is not None and modes != ["stats"]:
        raise ExpressionError("irq: -c goes with -s")
    as_json = ctx.json or args.json
    if args.stats:
        cpus = parse_cpus(prog, args.cpus)
        stats = irq_stats(prog, cpus)
        if as_json:
            ctx.out.write(json.dumps({"cpus": cpus, "irqs": stats}) + "\n")
        else:
            _print_stats(ctx, stats, cpus)
    elif args.affinity:
        rows: List[Dict[str, Any]] = [
            {"irq": n, "names": [_text(b) for b in irq_desc_action_names(d)],
             "affinity": cpumask_to_cpulist(irq_desc_affinity_mask(d))}
            for n, d in for_each_irq_desc(prog) if int(d.action)]
        if as_json:
            ctx.out.write(json.dumps(rows) + "\n")
        else:
            lines = [f"{r['irq']:3d} {','.join(r['names']):<20} {r['affinity']}" for r in rows]
            ctx.out.write("\n".join([HEADERS["affinity"], *lines]) + "\n")
    elif args.softirqs:
        cpus = parse_cpus(prog, None)
        soft = softirq_rows(prog, cpus)
        if as_json:
            ctx.out.write(json.dumps({"cpus": cpus, "softirqs": soft}) + "\n")
        else:
            lines = [f"{'[' + str(r['vec']) + ']':^11} {r['action']:016x}  {_function(prog, r['action'])}"
                     for r in soft]
            ctx.out.write("\n".join([HEADERS["softirq"], *lines]) + "\n")
    else:
        rows = irq_rows(prog, args.numbers, args.only_used)
        if as_json:
            ctx.out.write(json.dumps(rows) + "\n")
        else:
            _print_list(ctx, rows)
