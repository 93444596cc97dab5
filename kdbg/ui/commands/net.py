"""``net``: network devices and the ARP cache, as crash's ``net`` prints them.

``net``: each network device of a namespace (the initial one, or with ``-n PID|TASK``
that task's) with its address and its IPv4 addresses (:func:`kdbg.helpers.net.
for_each_netdev`, :func:`~kdbg.helpers.net.netdev_ipv4_addrs`).  ``net -a``: the ARP
cache (``arp_tbl``'s neighbours: address, IP address, hardware type, hardware address,
device, state).  ``net -N ADDR``: an IPv4 address given as a number in dotted form.
``net -s [PID|TASK]...`` (default: the current context): crash's task line, then each open
socket of the task: descriptor, ``struct socket``, ``struct sock``, ``FAMILY:TYPE`` and for
IPv4 and IPv6 the local and remote address and port, as crash's ``get_sock_info`` prints
them.  ``--json``: the same as data (with each socket's inode number, ``/proc/net/*``'s).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import struct
from typing import Any, Dict, List, Optional

from kdbg.errors import ExpressionError
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.fs import for_each_file
from kdbg.helpers.net import (
    SOCKET_I,
    for_each_netdev,
    neigh_table_for_each_neighbor,
    netdev_ipv4_addrs,
    netdev_name,
    sock_addresses,
)
from kdbg.helpers.pid import resolve_task
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.context import current_task
from kdbg.ui.commands.stack import header

__all__ = ["arp_rows", "net_cmd", "netdev_rows", "socket_rows"]

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


#: ``include/linux/socket.h`` families as crash's ``get_sock_info`` names them.
FAMILIES = {0: "UNSPEC", 1: "UNIX", 2: "INET", 3: "AX25", 4: "IPX", 5: "APPLETALK", 6: "NETROM", 7: "BRIDGE",
            8: "ATMPVC", 9: "X25", 10: "INET6", 11: "ROSE", 12: "DECnet", 13: "NETBEUI", 14: "SECURITY/KEY",
            16: "NETLINK/ROUTE", 17: "PACKET", 18: "ASH", 19: "ECONET", 20: "ATMSVC", 22: "SNA", 23: "IRDA",
            24: "PPPOX"}
#: ``SOCK_*`` types as crash names them (``DGRAM`` with crash's trailing blank).
SOCK_TYPES = {1: "STREAM", 2: "DGRAM ", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 10: "PACKET"}


def _in6(words: Any, port: int) -> str:
    """crash's ``dump_in6_addr_port``: eight groups in hexadecimal, then ``-PORT``."""
    return ":".join(f"{int(w):x}" for w in words) + f"-{port}"


def socket_rows(prog: Any, task: Any) -> List[Dict[str, Any]]:
    """The open sockets of *task* (``struct task_struct``), by descriptor."""
    rows = []
    for fd, f in for_each_file(task):
        if not int(f):
            continue
        inode = f.f_inode.read_()
        if not int(inode):
            continue
        try:
            sock = SOCKET_I(inode)
        except ValueError:  # not a socket
            continue
        sk = sock.sk.read_()
        family, kind = int(sk.__sk_common.skc_family), int(sk.sk_type)
        row: Dict[str, Any] = {"fd": fd, "socket": int(sock), "sock": int(sk), "family": family, "type": kind,
                               "inode": int(inode.i_ino)}
        addresses = sock_addresses(sk)
        if addresses is not None:
            row.update(source=str(addresses.source), source_port=addresses.source_port,
                       destination=str(addresses.destination), destination_port=addresses.destination_port)
        rows.append(row)
    return rows


#: crash's ``socket_hdr_64``.
SOCKET_HEADER = "FD      SOCKET            SOCK       FAMILY:TYPE SOURCE-PORT DESTINATION-PORT"


def _socket_line(r: Dict[str, Any], width: int) -> str:
    """crash's ``net -s`` row (``sym_socket_dump`` and ``get_sock_info``)."""
    info = f"{FAMILIES.get(r['family'], str(r['family']))}:{SOCK_TYPES.get(r['type'], str(r['type']))} "
    if r["family"] == 2:
        info += f" {r['source']}-{r['source_port']} {r['destination']}-{r['destination_port']}"
    elif r["family"] == 10:
        src = _in6(struct.unpack(">8H", ipaddress.IPv6Address(r["source"]).packed), r["source_port"])
        dst = _in6(struct.unpack(">8H", ipaddress.IPv6Address(r["destination"]).packed), r["destination_port"])
        pad = max(len(src) - len(dst), 0)
        info += f"{src:>12} " + " " * (pad // 2) + dst + " " * (pad - pad // 2)
    return f"{r['fd']:2d} {r['socket']:{width}x} {r['sock']:{width}x} {info}"


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
    argument("-s", dest="sockets", action="store_true", help="the open sockets of tasks (default: the current)"),
    argument("tasks", nargs="*", metavar="PID|TASK", help="with -s: the tasks"),
    argument("--json", action="store_true", help="the devices or the ARP cache as JSON"),
])
def net_cmd(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the network devices (or the ARP cache, a translated address, sockets)."""
    if args.number is not None:
        ctx.out.write(_ipv4(args.number) + "\n")
        return
    width = 2 * prog.type("void *").sizeof()
    if args.tasks and not args.sockets:
        raise ExpressionError(f"net: {args.tasks[0]!r}: tasks are given with -s")
    if args.sockets:
        tasks = [deref_if_pointer(resolve_task(prog, w)) for w in args.tasks] or [current_task(prog, ctx)]
        per_task = [(t, socket_rows(prog, t)) for t in tasks]
        if ctx.json or args.json:
            ctx.out.write(json.dumps([{"pid": int(t.pid), "task": int(t.address_of_()), "sockets": rows}
                                      for t, rows in per_task]) + "\n")
            return
        blocks = []
        for t, rows in per_task:
            lines = [header(t)]
            if rows:
                lines.append(SOCKET_HEADER)
                lines += [_socket_line(r, width) for r in rows]
            blocks.append("\n".join(lines))
        ctx.out.write("\n\n".join(blocks) + "\n")
        return
    if args.arp:
        rows = arp_rows(prog)
    else:
        net = deref_if_pointer(resolve_task(prog, args.task)).nsproxy.net_ns if args.task is not None else None
        rows = netdev_rows(prog, net)
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
