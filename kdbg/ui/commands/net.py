"""``net``: network devices and the ARP cache, as crash's ``net`` prints them.

``net``: each network device of a namespace (the initial one, or with ``-n PID|TASK``
that task's) with its address and its IPv4 addresses (:func:`kdbg.helpers.net.
for_each_netdev`, :func:`~kdbg.helpers.net.netdev_ipv4_addrs`).  ``net -a``: the ARP
cache (``arp_tbl``'s neighbours: address, IP address, hardware type, hardware address,
device, state).  ``net -N ADDR``: an IPv4 address given as a number in dotted form.
``--json``: the same as data.  A task's sockets (``-s``, ``-S``) are not here yet.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError, KdbgError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.net import for_each_netdev, neigh_table_for_each_neighbor, netdev_ipv4_addrs, netdev_name
from kdbg.helpers.pid import resolve_task
from kdbg.ui.commands import CommandContext, argument, command

__all__ = ["arp_rows", "net_cmd", "netdev_rows"]

#: ``include/uapi/linux/neighbour.h``'s ``NUD_*`` states, as crash names them.
NUD_STATES = ((0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"), (0x10, "PROBE"),
              (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT"))
#: ``include/uapi/linux/if_arp.h``'s hardware types crash names (the others are ``UNKNOWN``,
#: their addresses printed with spaces between the bytes, as crash's ``help net`` shows).
HW_TYPES = {1: "ETHER"}


def netdev_rows(prog: Any, net: Optional[Any] = None) -> List[Dict[str, Any]]:
    """The devices of *net* (``struct net *``; ``None``: the initial namespace)."""
    return [{"net_device": int(dev), "name": netdev_name(dev).decode("utf-8", "replace"),
             "ipv4": [str(a) for a in netdev_ipv4_addrs(dev)]}
            for dev in for_each_netdev(prog if net is None else net)]


def arp_rows(prog: Any) -> List[Dict[str, Any]]:
    """The neighbours of ``arp_tbl`` (IPv4's ARP cache)."""
    rows = []
    for n in neigh_table_for_each_neighbor(prog["arp_tbl"].nht.read_()):
        dev = n.dev.read_()
        length = int(dev.addr_len)
        hw = prog.read(int(n.ha.address_of_()), length) if length else b""
        state = int(n.nud_state)
        hw_type = HW_TYPES.get(int(dev.type), "UNKNOWN")
        ip = ipaddress.IPv4Address(prog.read(int(n.primary_key.address_of_()), 4))
        rows.append({"neighbour": int(n), "ip": str(ip), "hw_type": hw_type,
                     "hw_address": (":" if hw_type != "UNKNOWN" else " ").join(f"{b:02x}" for b in hw),
                     "device": netdev_name(dev).decode("utf-8", "replace"),
                     "state": "|".join(name for bit, name in NUD_STATES if state & bit) or f"{state:#x}"})
    return rows


def _ipv4(text: str) -> str:
    try:
        value = int(text, 0) if text.lower().startswith("0x") else int(text, 10)
        return str(ipaddress.IPv4Address(int.from_bytes(value.to_bytes(4, "little"), "big")))
    except (ValueError, OverflowError):
        raise ExpressionError(f"net: -N {text!r}: not an IPv4 address as a 32-bit number") from None


@command("net", "network devices and the ARP cache, as crash's net", arguments=[
    argument("-a", dest="arp", action="store_true", help="the ARP cache"),
    argument("-n", dest="task", metavar="PID|TASK", help="the devices of this task's network namespace"),
    argument("-N", dest="number", metavar="ADDR", help="an IPv4 address given as a number, in dotted form"),
    argument("--json", action="store_true", help="the devices or the ARP cache as JSON"),
])
def net_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the network devices (or the ARP cache, or a translated address)."""
    if args.number is not None:
        ctx.out.write(_ipv4(args.number) + "\n")
        return
    width = 2 * prog.type("void *").sizeof()
    try:
        if args.arp:
            rows = arp_rows(prog)
        else:
            net = deref_if_pointer(resolve_task(prog, args.task)).nsproxy.net_ns if args.task is not None else None
            rows = netdev_rows(prog, net)
    except KdbgError as e:
        raise ExpressionError(f"net: {e}") from None
    if ctx.json or args.json:
        ctx.out.write(json.dumps(rows) + "\n")
        return
    if args.arp:
        lines = [f"{'NEIGHBOUR':<{width}} {'IP ADDRESS':<15} {'HW TYPE':<10} {'HW ADDRESS':<18} {'DEVICE':<7} STATE"]
        lines += [f"{r['neighbour']:<{width}x} {r['ip']:<15} {r['hw_type']:<10} {r['hw_address']:<18} "
                  f"{r['device']:<7} {r['state']}" for r in rows]
    else:
        lines = [f"{'NET_DEVICE':^{width}}  NAME   IP ADDRESS(ES)"]
        lines += [f"{r['net_device']:{width}x}  {r['name']:<6} {', '.join(r['ipv4'])}".rstrip() for r in rows]
    ctx.out.write("\n".join(lines) + "\n")
