"""drgn's list helpers beyond ``list_head``: lock-less lists (``drgn.helpers.linux.llist``),
nulls-terminated hash lists (``.list_nulls``) and priority lists (``.plist``), against drgn
0.3.0 with Debian's DWARF on the same memory (see tests/helpers_compare.py).

The lists are the kernel's: kfree_rcu's per-CPU page caches (``krc.bkvcache``, whose
length the kernel counts in ``nr_bkv_objs``: checked too) and the other global and
per-CPU ``llist_head``s; every bucket of TCP's established hash (``hlist_nulls_head``s
whose empty marker is the bucket number); the swap plist, the CPU latency constraints,
the futex hash buckets and every task's ``pushable_tasks`` plist node. The guests run no
network, no futex waiter and no swap, so most of those are empty: their markers, emptiness
and the arithmetic of ``*_first_entry`` are compared all the same.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.list_nulls import hlist_nulls_empty, hlist_nulls_for_each_entry, is_a_nulls
from drgn.helpers.linux.llist import (llist_empty, llist_first_entry, llist_first_entry_or_null, llist_for_each,
                                      llist_for_each_entry, llist_is_singular, llist_next_entry)
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.plist import (plist_first_entry, plist_for_each, plist_for_each_entry, plist_head_empty,
                                      plist_last_entry, plist_node_empty)

# ---- llist
heads = []
if "krc" in prog:
    for c in for_each_possible_cpu(prog):
        krc = per_cpu(prog["krc"], c)
        heads.append(("krc.bkvcache:%d" % c, krc.bkvcache.address_of_()))
        result["krc.nr_bkv_objs:%d" % c] = krc.nr_bkv_objs.value_()
# (not "blk_cpu_done": a list_head before 5.13, which the declaration table types as llist_head)
for name in ("call_single_queue", "lazy_list", "raised_list"):
    if name in prog:
        for c in for_each_possible_cpu(prog):
            heads.append(("%s:%d" % (name, c), per_cpu(prog[name], c).address_of_()))
# (not "cleanup_list": two globals have that name, a per-CPU hlist_head and net_namespace.c's llist)
for name in ("mce_event_llist", "init_free_list", "hpage_freelist", "delayed_fput_list", "delayed_mntput_list",
             "free_ipc_list", "ghes_estatus_llist", "defer_free_list", "fqdir_free_list"):
    if name in prog:
        heads.append((name, prog[name].address_of_()))
result["llists"] = [n for n, _ in heads]
for name, head in heads:
    result[name + ":empty"] = probe(llist_empty, head)
    result[name + ":singular"] = probe(llist_is_singular, head)
    result[name + ":nodes"] = probe(lambda h=head: list(llist_for_each(h.first)))
    result[name + ":entries"] = probe(lambda h=head: list(llist_for_each_entry("struct callback_head", h.first,
                                                                              "next")))
    result[name + ":first"] = probe(llist_first_entry, head, "struct callback_head", "next")
    result[name + ":first_or_null"] = probe(llist_first_entry_or_null, head, "struct callback_head", "next")
    result[name + ":next"] = probe(lambda h=head: llist_next_entry(
        llist_first_entry(h, "struct callback_head", "next"), "next") if h.first else None)

# ---- hlist_nulls
ehash = prog["tcp_hashinfo"].ehash
buckets = prog["tcp_hashinfo"].ehash_mask.value_() + 1
result["ehash.buckets"] = buckets
result["ehash.first"] = [ehash[i].chain.first.value_() for i in range(buckets)]
result["ehash.is_a_nulls"] = [is_a_nulls(ehash[i].chain.first) for i in range(buckets)]
result["ehash.empty"] = [hlist_nulls_empty(ehash[i].chain.address_of_()) for i in range(buckets)]
result["ehash.entries"] = probe(lambda: [list(hlist_nulls_for_each_entry(
    "struct sock_common", ehash[i].chain.address_of_(), "skc_nulls_node")) for i in range(buckets)])

# ---- plist
pheads = []
if "swap_active_head" in prog:
    pheads.append(("swap_active_head", prog["swap_active_head"].address_of_()))
pheads.append(("cpu_latency_constraints", prog["cpu_latency_constraints"].list.address_of_()))
futex = prog["__futex_data"].queues if "__futex_data" in prog else prog["futex_queues"]
nfutex = (prog["__futex_data"].hashsize if "__futex_data" in prog else prog["futex_hashsize"]).value_()
pheads += [("futex:%d" % i, futex[i].chain.address_of_()) for i in range(min(nfutex, 64))]
result["plists"] = [n for n, _ in pheads]
for name, head in pheads:
    result[name + ":empty"] = probe(plist_head_empty, head)
    result[name + ":nodes"] = probe(lambda h=head: list(plist_for_each(h)))
    result[name + ":entries"] = probe(lambda h=head: list(plist_for_each_entry("struct futex_q", h, "list")))
    result[name + ":first"] = probe(plist_first_entry, head, "struct futex_q", "list")
    result[name + ":last"] = probe(plist_last_entry, head, "struct futex_q", "list")
result["pushable_tasks"] = [[t.pid.value_(), plist_node_empty(t.pushable_tasks.address_of_())]
                            for t in for_each_task(prog)]
'''


@pytest.mark.parametrize("suite", SUITES)
def test_lists_as_drgn(suite: str) -> None:
    """Every llist, nulls list and plist above walks, tests and picks entries as drgn's
    helpers do; kfree_rcu's page caches are as long as the kernel counts them."""
    theirs, differ = compare(suite, "lists", SNIPPET)
    assert len(theirs["llists"]) >= 8 and theirs["ehash.buckets"] >= 64 and len(theirs["plists"]) >= 8
    assert differ == {}
    cached = {k.split(":")[1]: v for k, v in theirs.items() if k.startswith("krc.nr_bkv_objs:")}
    assert sum(cached.values()) > 0
    for cpu, n in cached.items():
        assert len(theirs[f"krc.bkvcache:{cpu}:nodes"]) == n
