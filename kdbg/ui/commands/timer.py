"""``timer``: each CPU's timer wheel and high-resolution timers, as crash's ``timer``.

``timer`` prints ``jiffies``, then per CPU and timer-wheel base (``TIMER_BASES[CPU][NAME]``,
:func:`kdbg.helpers.timer.timer_base_names`) every pending ``timer_list`` soonest first:
when it expires (in jiffies), how long until then (``TTE``), its address and function.
``timer -r`` prints per CPU each hrtimer clock base (its ``get_time`` function where the
kernel still has one) and its timers soonest first: soft and hard expiry, time to expiry
in nanoseconds, the ``hrtimer`` and its function.  ``-C CPUS`` restricts the CPUs.
``--json``: the same as data.

``CURRENT`` is the kernel's monotonic clock (:func:`kdbg.helpers.timekeeping.ktime_get_coarse_ns`
plus the base's offset, as drgn's ``timer -r``); crash 8.0.2 derives it from ``jiffies``,
which lag behind the clock while an idle CPU's tick is stopped, so its ``CURRENT`` and
``TTE`` are older than the kernel's own (``/proc/timer_list``'s ``now at``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from kdbg.helpers.common import has_member
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.timekeeping import ktime_get_coarse_ns, ktime_to_ns
from kdbg.helpers.timer import hrtimer_clock_base_for_each, timer_base_for_each, timer_base_names
from kdbg.ui.commands import CommandContext, argument, centred, command
from kdbg.ui.commands.irq import parse_cpus

__all__ = ["hrtimer_rows", "timer_cmd", "timer_rows"]


def _function(prog: Any, address: int) -> str:
    found = prog.symbolize_address(address) if address else None
    return found[0] if found is not None and found[1] == 0 else ""


def timer_rows(prog: Any, cpus: List[int]) -> Dict[str, Any]:
    """``jiffies`` and, per CPU and base, its address and timers (``expires``, ``tte``,
    ``timer_list``, ``function`` and its symbol), soonest first."""
    jiffies = int(prog["jiffies"])
    bases = []
    for cpu in cpus:
        for name, base in zip(timer_base_names(prog), per_cpu(prog["timer_bases"], cpu)):
            timers: List[Dict[str, Any]] = []
            for t in timer_base_for_each(base.address_of_()):
                expires, function = int(t.expires), int(t.function)
                timers.append({"expires": expires, "tte": expires - jiffies, "timer_list": int(t),
                               "function": function, "symbol": _function(prog, function)})
            timers.sort(key=lambda t: t["expires"])
            bases.append({"cpu": cpu, "base": name, "address": int(base.address_of_()), "timers": timers})
    return {"jiffies": jiffies, "bases": bases}


def hrtimer_rows(prog: Any, cpus: List[int]) -> List[Dict[str, Any]]:
    """Per CPU, its ``hrtimer_cpu_base`` and each clock base: index, address, ``get_time``
    symbol (empty where the kernel has none), ``current`` and the timers, soonest first."""
    now = int(ktime_get_coarse_ns(prog))
    get_time = has_member(prog, "struct hrtimer_clock_base", "get_time")
    out = []
    for cpu in cpus:
        cpu_base = per_cpu(prog["hrtimer_bases"], cpu)
        clocks = []
        for clock_base in cpu_base.clock_base:
            current = now + int(ktime_to_ns(clock_base.offset))
            timers = []
            for h in hrtimer_clock_base_for_each(clock_base.address_of_()):
                expires, function = int(ktime_to_ns(h.node.expires)), int(h.function)
                timers.append({"softexpires": int(ktime_to_ns(h._softexpires)), "expires": expires,
                               "tte": expires - current, "hrtimer": int(h), "function": function,
                               "symbol": _function(prog, function)})
            clocks.append({"clock": int(clock_base.index), "address": int(clock_base.address_of_()),
                           "get_time": _function(prog, int(clock_base.get_time)) if get_time else "",
                           "current": current, "timers": timers})
        out.append({"cpu": cpu, "address": int(cpu_base.address_of_()), "clocks": clocks})
    return out


def _print_wheel(ctx: CommandContext, data: Dict[str, Any]) -> None:
    jiffies = str(data["jiffies"])
    lines = [f"{'JIFFIES':<{len(jiffies)}}", jiffies]
    last_cpu = None
    for b in data["bases"]:
        if b["cpu"] != last_cpu:
            lines.append("")
            last_cpu = b["cpu"]
        lines.append(f"TIMER_BASES[{b['cpu']}][{b['base']}]: {b['address']:x}")
        we = max((len(str(t["expires"])) for t in b["timers"]), default=10)
        wt = max((len(str(abs(t["tte"]))) for t in b["timers"]), default=3) + 1
        end = 2 + we + 2 + wt + 2 + 16  # where the TIMER_LIST column ends, as crash lines its header up
        lines.append("  EXPIRES        TTE" + " " * max(end - 20 - len("TIMER_LIST"), 1) + "TIMER_LIST     FUNCTION")
        for t in b["timers"]:
            symbol = f"  <{t['symbol']}>" if t["symbol"] else ""
            lines.append(f"  {t['expires']:<{we}}  {t['tte']:>{wt}}  {t['timer_list']:016x}  "
                         f"{t['function']:016x}{symbol}")
    ctx.out.write("\n".join(lines) + "\n")


def _print_hrtimers(ctx: CommandContext, cpus: List[Dict[str, Any]]) -> None:
    blocks = []
    for c in cpus:
        lines = [f"CPU: {c['cpu']}  HRTIMER_CPU_BASE: {c['address']:x}"]
        for i, k in enumerate(c["clocks"]):
            if i:
                lines.append("")
            get_time = f"  [{k['get_time']}]" if k["get_time"] else ""
            lines.append(f"  CLOCK: {k['clock']}  HRTIMER_CLOCK_BASE: {k['address']:x}{get_time}")
            if not k["timers"]:
                lines.append("  (empty)")
                continue
            ws = max(len("SOFTEXPIRES"), len(str(k["current"])), *(len(str(t["softexpires"])) for t in k["timers"]))
            we = max(len("EXPIRES"), *(len(str(t["expires"])) for t in k["timers"]))
            wt = max(len("TTE"), *(len(str(t["tte"])) for t in k["timers"]))
            lines.append("  " + centred("CURRENT", ws, True) + "  ")
            lines.append("  " + centred(str(k["current"]), ws, True) + "  ")
            lines.append("  " + "  ".join([centred("SOFTEXPIRES", ws, True), centred("EXPIRES", we, True),
                                           centred("TTE", wt, True), centred("HRTIMER", 16, False),
                                           centred("FUNCTION", 16, False)]))
            for t in k["timers"]:
                symbol = f"  <{t['symbol']}>" if t["symbol"] else ""
                lines.append(f"  {centred(str(t['softexpires']), ws, True)}  {centred(str(t['expires']), we, True)}  "
                             f"{t['tte']:>{wt}}  {t['hrtimer']:016x}  {t['function']:016x}{symbol}")
        blocks.append("\n".join(lines))
    ctx.out.write("\n\n".join(blocks) + "\n")


@command("timer", "each CPU's timer wheel, or its hrtimers (-r), as crash's timer", arguments=[
    argument("-r", dest="hrtimers", action="store_true", help="the high-resolution timers"),
    argument("-C", dest="cpus", metavar="CPUS", help="only these CPUs (0,2-3)"),
    argument("--json", action="store_true", help="the same as JSON"),
])
def timer_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the pending timers."""
    as_json = ctx.json or args.json
    cpus = parse_cpus(prog, args.cpus, "timer")
    if args.hrtimers:
        hr = hrtimer_rows(prog, cpus)
        if as_json:
            ctx.out.write(json.dumps(hr) + "\n")
        else:
            _print_hrtimers(ctx, hr)
    else:
        wheel = timer_rows(prog, cpus)
        if as_json:
            ctx.out.write(json.dumps(wheel) + "\n")
        else:
            _print_wheel(ctx, wheel)
