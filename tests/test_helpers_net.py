"""drgn's networking helpers (``drgn.helpers.linux.net``, ``.tcp`` and ``.tc``) against drgn 0.3.0
with Debian's DWARF on the same memory (see tests/helpers_compare.py).

The reference guests have one network namespace with the loopback device, not
configured, and no socket; so the namespace and device walks and lookups (by index, by
name, from a program, a namespace or the default program), the transmit queues, the
private area, the (empty) address lists, the ARP and neighbour-discovery tables and TCP's
established hash are compared as they are, as is ``qdisc_lookup`` (the loopback's root
qdisc, ``noop_qdisc`` while it is down or ``noqueue_qdisc``, has handle 0; a down device's
other handles fault on the root's device-less queue, as drgn's lookup does); the
per-socket helpers (``sk_fullsock``,
``sk_tcpstate``, ``skb_shinfo``, ``SOCK_INODE``) on objects laid over kernel code, which
compares the members they read with drgn's DWARF. ``SOCKET_I`` and
``get_net_ns_by_inode``/``_by_fd`` refuse the tasks' console inodes with drgn's
``ValueError``; ``is_pp_page`` is compared on a sample of every 37th page (on 5.10 it
cannot tell, drgn's ``NotImplementedError``). The loopback device is
``init_net.loopback_dev``, as the kernel registers it.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.fs import for_each_file
from drgn.helpers.linux.mm import pfn_to_page
from drgn.helpers.linux.net import (SOCK_INODE, SOCKET_I, for_each_net, for_each_netdev, get_net_ns_by_fd,
                                    get_net_ns_by_inode, is_pp_page, neigh_table_for_each_neighbor,
                                    netdev_for_each_tx_queue, netdev_get_by_index, netdev_get_by_name,
                                    netdev_ipv4_addrs, netdev_ipv6_addrs, netdev_name, netdev_priv, sk_fullsock,
                                    sk_nulls_for_each, skb_shinfo)
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.tc import qdisc_lookup
from drgn.helpers.linux.tcp import sk_tcpstate

init_net = prog["init_net"]
nets = list(for_each_net())
result["nets"] = plain(nets)
result["nets_prog"] = plain(list(for_each_net(prog)))
result["init_net"] = init_net.address_
result["loopback"] = init_net.loopback_dev.value_()
for label, devs in (("default", lambda: for_each_netdev()), ("prog", lambda: for_each_netdev(prog)),
                    ("net", lambda: for_each_netdev(nets[0])), ("net_value", lambda: for_each_netdev(init_net))):
    result["netdevs:" + label] = probe(lambda devs=devs: list(devs()))
for dev in for_each_netdev(prog):
    key = netdev_name(dev).decode() + ":"
    result[key + "name"] = netdev_name(dev)
    result[key + "ifindex"] = dev.ifindex.value_()
    result[key + "tx_queues"] = probe(lambda dev=dev: list(netdev_for_each_tx_queue(dev)))
    result[key + "priv"] = probe(netdev_priv, dev)
    result[key + "priv_typed"] = probe(netdev_priv, dev, "struct net_device_stats")
    result[key + "ipv4"] = probe(netdev_ipv4_addrs, dev)
    result[key + "ipv6"] = probe(netdev_ipv6_addrs, dev)
    result[key + "qdisc"] = [probe(qdisc_lookup, dev, m) for m in (0, 1, 0x10, 0xFFFF)]
for i in range(4):
    result["by_index:%d" % i] = [probe(netdev_get_by_index, i), probe(netdev_get_by_index, prog, i),
                                 probe(netdev_get_by_index, nets[0], i)]
for name in ("lo", b"lo", "eth0", ""):
    result["by_name:%r" % (name,)] = [probe(netdev_get_by_name, name), probe(netdev_get_by_name, prog, name),
                                      probe(netdev_get_by_name, nets[0], name)]
for table in ("arp_tbl", "nd_tbl"):
    if table in prog:
        result["neigh:" + table] = probe(lambda t=table: list(neigh_table_for_each_neighbor(prog[t].nht)))
ehash = prog["tcp_hashinfo"].ehash
result["ehash"] = probe(lambda: [list(sk_nulls_for_each(ehash[i].chain.address_of_()))
                                 for i in range(prog["tcp_hashinfo"].ehash_mask.value_() + 1)])
code = prog.symbol("schedule").address
sk = Object(prog, "struct sock *", code)
result["sk_fullsock"] = probe(sk_fullsock, sk)
result["sk_tcpstate"] = probe(sk_tcpstate, sk)
result["skb_shinfo"] = probe(skb_shinfo, Object(prog, "struct sk_buff *", code))
result["SOCK_INODE"] = probe(SOCK_INODE, Object(prog, "struct socket *", code))
init = find_task(prog, 1)
files = [f for _, f in for_each_file(init)]
result["SOCKET_I"] = [probe(SOCKET_I, f.f_inode) for f in files]
result["ns_by_inode"] = [probe(get_net_ns_by_inode, f.f_inode) for f in files]
result["ns_by_fd"] = [probe(get_net_ns_by_fd, init, fd) for fd, _ in for_each_file(init)]
max_pfn = prog["max_pfn"].value_()
result["pp"] = [probe(lambda n=n: is_pp_page(pfn_to_page(prog, n))) for n in range(0, max_pfn, 37)]
'''


@pytest.mark.parametrize("suite", SUITES)
def test_net_as_drgn(suite: str) -> None:
    """Namespaces, devices, lookups, tables and the per-socket helpers equal drgn's."""
    theirs, differ = compare(suite, "net", SNIPPET)
    assert theirs["nets"] == [["struct net *", theirs["init_net"]]]
    assert theirs["by_name:'lo'"][0] == ["struct net_device *", theirs["loopback"]]
    assert len(theirs["lo:tx_queues"]) >= 1 and len(theirs["pp"]) > 500
    assert theirs["lo:qdisc"][0][0] == "struct Qdisc *" and theirs["lo:qdisc"][0][1] != 0
    assert theirs["SOCKET_I"] and set(theirs["SOCKET_I"]) == {"error:ValueError"}
    assert differ == {}
