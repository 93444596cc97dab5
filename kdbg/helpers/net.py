"""Networking: namespaces, devices, sockets and buffers: drgn's
``drgn.helpers.linux.net``.

Network namespaces are on ``net_namespace_list``; a namespace's devices on
``net->dev_base_head`` (through ``dev_list``) and in the index hash ``dev_index_head``
(256 buckets, ``NETDEV_HASHBITS``). A device's private area follows ``struct net_device``
rounded up to ``NETDEV_ALIGN`` (32). A socket inode and its ``struct socket`` are the two
halves of a ``struct socket_alloc``. Page-pool pages are marked by ``pp_magic``
(``PP_SIGNATURE``: ``POISON_POINTER_DELTA + 0x40``, the delta read off a statically
initialised timer, whose ``entry.next`` is ``TIMER_ENTRY_STATIC``, ``0x300`` above it)
since Linux 5.14, and by the page type ``PGTY_netpp`` since 7.1. Neighbours hang off a
``struct neigh_hash_table`` in hash lists (``hash_heads``) since Linux 6.13 and in
``next``-linked chains (``hash_buckets``) before. Every walk is bounded.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING, Iterator, List, NamedTuple, Optional, SupportsIndex, Tuple, Union

from kdbg.core.conversions import NULL, cast, container_of, sizeof
from kdbg.core.default import takes_object_or_program_or_default, takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.errors import NotFoundError
from kdbg.helpers.common import Walk, deref_if_pointer, describe_address, has_member, pointer_to, program_cache
from kdbg.helpers.fs import fget
from kdbg.helpers.list import hlist_for_each_entry, list_for_each_entry
from kdbg.helpers.list_nulls import hlist_nulls_for_each_entry

if TYPE_CHECKING:
    from kdbg.btf.types import Type
    from kdbg.core.program import Program

__all__ = [
    "SOCKET_I",
    "SOCK_INODE",
    "for_each_net",
    "for_each_netdev",
    "get_net_ns_by_fd",
    "get_net_ns_by_inode",
    "is_pp_page",
    "neigh_table_for_each_neighbor",
    "netdev_for_each_tx_queue",
    "netdev_get_by_index",
    "netdev_get_by_name",
    "netdev_ipv4_addrs",
    "netdev_ipv6_addrs",
    "netdev_name",
    "netdev_priv",
    "sk_fullsock",
    "sk_nulls_for_each",
    "skb_shinfo",
    "SockAddresses",
    "sock_addresses",
]

_S_IFMT = 0o170000
_S_IFSOCK = 0o140000
#: ``AF_INET`` and ``AF_INET6`` (include/linux/socket.h).
AF_INET = 2
AF_INET6 = 10
#: ``CLONE_NEWNET``: a network namespace's ``ns_common`` type.
_CLONE_NEWNET = 0x40000000
#: ``NETDEV_HASHENTRIES`` (``1 << NETDEV_HASHBITS``) and ``NETDEV_ALIGN``.
_NETDEV_HASHENTRIES = 1 << 8
_NETDEV_ALIGN = 32
#: ``TIMER_ENTRY_STATIC - POISON_POINTER_DELTA`` and ``PP_SIGNATURE - POISON_POINTER_DELTA``
#: (include/linux/poison.h since Linux 4.5).
_TIMER_ENTRY_STATIC = 0x300
_PP_SIGNATURE = 0x40


def SOCKET_I(inode: Object) -> Object:  # noqa: N802 - the kernel's name
    """The ``struct socket *`` of a socket's inode (``struct inode *``); any other inode
    is a :class:`ValueError`."""
    if int(inode.i_mode) & _S_IFMT != _S_IFSOCK:
        raise ValueError("not a socket inode")
    return container_of(inode, "struct socket_alloc", "vfs_inode").socket.address_of_()


def SOCK_INODE(sock: Object) -> Object:  # noqa: N802 - the kernel's name
    """The inode of ``sock`` (``struct socket *``), ``struct inode *``."""
    return container_of(sock, "struct socket_alloc", "socket").vfs_inode.address_of_()


@takes_program_or_default
def for_each_net(prog: Program) -> Iterator[Object]:
    """Every network namespace, as ``struct net *``."""
    return list_for_each_entry("struct net", prog["net_namespace_list"].address_of_(), "list")


def get_net_ns_by_inode(inode: Object) -> Object:
    """The network namespace of an nsfs inode (``/proc/PID/ns/net``), ``struct net *``;
    any other inode is a :class:`ValueError`."""
    prog = inode.prog_
    if int(inode.i_fop) != int(prog["ns_file_operations"].address_of_()):
        raise ValueError("not a namespace inode")
    ns = cast(pointer_to(prog, "struct ns_common"), inode.i_private)
    # The type moved from struct proc_ns_operations into struct ns_common in Linux 6.18.
    direct = program_cache(prog, "net.ns_type", lambda: has_member(prog, "struct ns_common", "ns_type"))
    ns_type = int(ns.ns_type) if direct else int(ns.ops.type)
    if ns_type != _CLONE_NEWNET:
        raise ValueError("not a network namespace inode")
    return container_of(ns, "struct net", "ns")


def get_net_ns_by_fd(task: Object, fd: SupportsIndex) -> Object:
    """The network namespace of file descriptor ``fd`` of ``task``, an nsfs file."""
    return get_net_ns_by_inode(fget(task, integer_value(fd)).f_inode)


def netdev_for_each_tx_queue(dev: Object) -> Iterator[Object]:
    """Each transmit queue of ``dev`` (``struct net_device *``), ``struct netdev_queue *``."""
    d = deref_if_pointer(dev)
    tx = d.member_("_tx").read_()
    for i in range(int(d.num_tx_queues)):
        yield tx + i


@takes_object_or_program_or_default
def for_each_netdev(prog: Program, net: Optional[Object]) -> Iterator[Object]:
    """Every device of ``net`` (``struct net *``; the initial namespace if a program is
    given or nothing), as ``struct net_device *``."""
    return _devices(prog["init_net"] if net is None else net)


def _devices(net: Object) -> Iterator[Object]:
    return list_for_each_entry("struct net_device", deref_if_pointer(net).dev_base_head.address_of_(), "dev_list")


def netdev_name(dev: Object) -> bytes:
    """The name of ``dev`` (``b'lo'``)."""
    return deref_if_pointer(dev).name.string_()


@takes_object_or_program_or_default
def netdev_get_by_index(prog: Program, net: Optional[Object], ifindex: SupportsIndex) -> Object:
    """The device of interface index ``ifindex`` in ``net`` (default the initial
    namespace), ``struct net_device *`` (``NULL`` if none)."""
    if net is None:
        net = prog["init_net"]
    index = integer_value(ifindex)
    head = deref_if_pointer(net).dev_index_head[index & (_NETDEV_HASHENTRIES - 1)]
    for dev in hlist_for_each_entry("struct net_device", head.address_of_(), "index_hlist"):
        if int(dev.ifindex) == index:
            return dev
    return NULL(prog, pointer_to(prog, "struct net_device"))


@takes_object_or_program_or_default
def netdev_get_by_name(prog: Program, net: Optional[Object], name: Union[str, bytes]) -> Object:
    """The device named ``name`` in ``net`` (default the initial namespace),
    ``struct net_device *`` (``NULL`` if none)."""
    if net is None:
        net = prog["init_net"]
    wanted = name.encode() if isinstance(name, str) else name
    for dev in _devices(net):
        if netdev_name(dev) == wanted:
            return dev
    return NULL(prog, pointer_to(prog, "struct net_device"))


def netdev_priv(dev: Object, type: Union[str, Type] = "void") -> Object:  # noqa: A002 - drgn's name
    """The private area of ``dev``, as ``type *``."""
    prog = dev.prog_
    offset = program_cache(prog, "net.netdev_priv",
                           lambda: -(-sizeof(prog.type("struct net_device")) // _NETDEV_ALIGN) * _NETDEV_ALIGN)
    return Object(prog, pointer_to(prog, type), int(dev) + offset)


def sk_fullsock(sk: Object) -> bool:
    """Whether ``sk`` (``struct sock *``) is a full socket: not a request
    (``TCP_SYN_RECV``) or time-wait (``TCP_TIME_WAIT``) mini-socket."""
    prog = sk.prog_
    state = int(sk.__sk_common.skc_state)
    return state not in (int(prog["TCP_SYN_RECV"]), int(prog["TCP_TIME_WAIT"]))


class SockAddresses(NamedTuple):
    """An IPv4 or IPv6 socket's local (source) and remote (destination) addresses and
    ports, the ports in host order."""

    source: Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    source_port: int
    destination: Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    destination_port: int


def sock_addresses(sk: Object) -> Optional[SockAddresses]:
    """The addresses and ports of ``sk`` (``struct sock *``) as its ``sock_common`` and
    ``struct inet_sock`` hold them (crash's ``net -s``); ``None`` for a socket of a family
    other than ``AF_INET`` and ``AF_INET6``. kdbg's addition: drgn has no such helper."""
    prog = sk.prog_
    sock = deref_if_pointer(sk)
    common = sock.__sk_common
    family = int(common.skc_family)
    if family not in (AF_INET, AF_INET6):
        return None
    sport = socket.ntohs(int(Object(prog, "struct inet_sock", address=sock.address_).inet_sport))
    dport = socket.ntohs(int(common.skc_dport))
    src: Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    dst: Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
    if family == AF_INET:
        src = ipaddress.IPv4Address(prog.read(common.skc_rcv_saddr.address_ or 0, 4))
        dst = ipaddress.IPv4Address(prog.read(common.skc_daddr.address_ or 0, 4))
    else:
        src = ipaddress.IPv6Address(prog.read(common.skc_v6_rcv_saddr.address_ or 0, 16))
        dst = ipaddress.IPv6Address(prog.read(common.skc_v6_daddr.address_ or 0, 16))
    return SockAddresses(src, sport, dst, dport)


def sk_nulls_for_each(head: Object) -> Iterator[Object]:
    """Each socket on a nulls hash list (``struct hlist_nulls_head *``), ``struct sock *``."""
    return hlist_nulls_for_each_entry("struct sock", head, "__sk_common.skc_nulls_node")


def skb_shinfo(skb: Object) -> Object:
    """The shared info of ``skb`` (``struct sk_buff *``) at its ``end``,
    ``struct skb_shared_info *``: an offset from ``head`` on 64-bit kernels
    (``NET_SKBUFF_DATA_USES_OFFSET``), a pointer on 32-bit ones."""
    prog = skb.prog_
    s = deref_if_pointer(skb)
    shinfo_p = pointer_to(prog, "struct skb_shared_info")
    if sizeof(prog.type("long")) > 4:
        return cast(shinfo_p, s.head + s.end)
    return cast(shinfo_p, s.end)


def _poison_pointer_delta(prog: Program) -> int:
    return program_cache(prog, "net.poison_pointer_delta",
                         lambda: int(prog["poll_spurious_irq_timer"].entry.next) - _TIMER_ENTRY_STATIC)


def _pp_test(prog: Program) -> Tuple[str, int]:
    """How this kernel marks a page pool's page, found once: ``("type", PGTY_netpp)`` (the
    page type, 7.1+), ``("magic", signature)`` (``pp_magic``, 5.14+), ``("none", 0)`` (no
    page pools) or ``("unknown", 0)`` (page pools without a mark: 4.18 to 5.13)."""
    try:
        netpp = prog["PGTY_netpp"]
    except NotFoundError:
        pass
    else:
        return ("type", int(netpp))
    if has_member(prog, "struct page", "pp_magic"):
        width = 8 * sizeof(prog.type("struct page").member("pp_magic").type)
        return ("magic", (_poison_pointer_delta(prog) + _PP_SIGNATURE) & ((1 << width) - 1))
    try:
        prog.type("struct page_pool")
    except LookupError:
        return ("none", 0)
    return ("unknown", 0)


def is_pp_page(page: Object) -> bool:
    """Whether ``page`` (``struct page *``) belongs to a page pool. Between Linux 4.18
    (page pools) and 5.14 (``pp_magic``) that cannot be told: a
    :class:`NotImplementedError`."""
    prog = page.prog_
    how, value = program_cache(prog, "net.pp_test", lambda: _pp_test(prog))
    if how == "type":
        return int(page.page_type) >> 24 == value
    if how == "magic":
        return int(page.pp_magic) & ~0x3 == value
    if how == "none":
        return False
    raise NotImplementedError("page_pool pages cannot be identified before Linux 5.14")


def netdev_ipv4_addrs(dev: Object) -> List[ipaddress.IPv4Address]:
    """The IPv4 addresses of ``dev`` (``struct net_device *``), in the kernel's order."""
    prog = dev.prog_
    in_dev = deref_if_pointer(dev).ip_ptr.read_()
    out: List[ipaddress.IPv4Address] = []
    if not int(in_dev):
        return out
    ifa = in_dev.ifa_list.read_()
    walk = Walk(prog, f"ifa_list of in_device {describe_address(prog, int(in_dev))}")
    while int(ifa):
        walk.step(int(ifa))
        out.append(ipaddress.IPv4Address(prog.read(ifa.ifa_address.address_ or 0, 4)))
        ifa = ifa.ifa_next.read_()
    return out


def netdev_ipv6_addrs(dev: Object) -> List[ipaddress.IPv6Address]:
    """The IPv6 addresses of ``dev`` (``struct net_device *``), in the kernel's order."""
    prog = dev.prog_
    in6_dev = deref_if_pointer(dev).ip6_ptr.read_()
    if not int(in6_dev):
        return []
    return [ipaddress.IPv6Address(prog.read(ifa.addr.in6_u.u6_addr8.address_ or 0, 16))
            for ifa in list_for_each_entry("struct inet6_ifaddr", in6_dev.addr_list.address_of_(), "if_list")]


def neigh_table_for_each_neighbor(table: Object) -> Iterator[Object]:
    """Each neighbour of a neighbour hash table (``struct neigh_hash_table *``, such as
    ``arp_tbl.nht``), ``struct neighbour *``."""
    prog = table.prog_
    t = deref_if_pointer(table)
    buckets = 1 << int(t.hash_shift)
    try:
        heads = t.hash_heads.read_()
    except AttributeError:
        chains = t.hash_buckets.read_()
        for i in range(buckets):
            neigh = chains[i].read_()
            walk = Walk(prog, f"neighbour chain {i} of {describe_address(prog, int(table))}")
            while int(neigh):
                walk.step(int(neigh))
                yield neigh
                neigh = neigh.next.read_()
        return
    for i in range(buckets):
        yield from hlist_for_each_entry("struct neighbour", heads[i].address_of_(), "hash")
