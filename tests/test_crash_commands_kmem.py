"""crash's ``kmem -V`` (VM statistics), ``kmem -z`` (zones) and ``kmem -f`` (free lists) on the
*state* dumps of 5.10, 6.1 and 6.12 (:mod:`vmcores.state`: the guest recorded
``/proc/vmstat``, ``/proc/zoneinfo``, ``/proc/buddyinfo`` ... at the dump moment, the moving
counters a second time in ``after/``), held to what the guest printed first, then to
Debian's crash 8.0.2 with the ``-dbg`` vmlinux (:mod:`vmcores.crash_oracle`), then to drgn
0.3.0's crash commands (``drgn.commands._crash``) with Debian's DWARF. A count that moves is
held between the guest's two records as in ``tests/test_crash_commands_5.py``; trixie 6.12
does not open in crash 8.0.2 (:data:`CRASH_CANNOT_OPEN`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from tests.command_checks import bad_input, help_and_completion, output_lines, run_lines
from tests.conftest import dump_id, resolve_state_dump
from tests.state_dumps import STATE_IDS, crash_answers
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_crash_command
from vmcores.state import StateDump

pytestmark = pytest.mark.timeout(2400)

# ------------------------------------------------------------------------------- kmem -V


def _proc_vmstat(path: Path) -> List[Tuple[str, int]]:
    return [(line.split()[0], int(line.split()[1])) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_kmem_vm_stats_against_the_guests_vmstat(state_dump: StateDump) -> None:
    """``kmem -V`` against ``/proc/vmstat``, item by item in the kernel's own order
    (``vmstat_text``: the zone items first, then the NUMA ones, the node ones up to the
    writeback thresholds, the events last before the constant ``nr_unstable``; /proc
    renames some, ``nr_page_table_pages`` for ``NR_PAGETABLE``): a zone or node counter that
    did not move between the guest's two records is the dump's within the per-CPU drift the
    kernel allows at each of the two moments (:func:`_drift`; the records and the dump are
    different moments, and a counter's per-CPU diffs fold into the global value on the
    kernel's schedule, not the guest's: an empty-cache run saw ``nr_page_table_pages`` 78 in
    both records and 81 in the dump, with a threshold of 4 on each of 2 CPUs); an event or
    5.10 NUMA counter only grows, so the dump's is at least the second record's (5.10 keeps
    up to 65,533 NUMA hits per CPU unfolded: the same run saw ``numa_hit`` 5,028 in both
    records and 10,153 in the dump, folded when the CPUs went idle).  The values are exact against crash
    and drgn on the same dump (the next test).  /proc prints ``pgpgin``/``pgpgout`` in KiB
    (sectors / 2).  The text says what ``--json`` says."""
    dump = state_dump
    lines = run_lines(dump.path, "kmem -V --json", "kmem -V")
    data, text = json.loads(lines[0]), lines[1:]
    before, after = _proc_vmstat(dump.truth / "vmstat"), _proc_vmstat(dump.truth / "after" / "vmstat")
    names = [n for n, _v in before]
    assert [n for n, _v in after] == names and names[-1] == "nr_unstable"
    zone, node, events = (list(data[k].items()) for k in ("VM_ZONE_STAT", "VM_NODE_STAT", "VM_EVENT_STATES"))
    numa = list(data.get("VM_NUMA_STAT", {}).items())
    assert ("VM_NUMA_STAT" in data) == (len(names) == len(zone) + len(numa) + len(node) + 2 + len(events) + 1 and
                                        names[len(zone)].startswith("numa_"))
    writeback = names.index("nr_dirty_threshold")
    where = [*range(len(zone) + len(numa)), *range(writeback - len(node), writeback),
             *range(len(names) - 1 - len(events), len(names) - 1)]
    assert names[:len(zone)][0] == "nr_free_pages" and names[where[-len(events)]] == events[0][0].lower()
    _per_zone, zone_drift, node_drift = _drift(_zoneinfo(dump.truth / "zoneinfo"))
    gauges: List[Optional[int]] = [2 * zone_drift] * len(zone) + [None] * len(numa) + \
        [2 * node_drift] * len(node) + [None] * len(events)
    exact = 0
    for (item, value), at, slack in zip([*zone, *numa, *node, *events], where, gauges, strict=True):
        if item in ("PGPGIN", "PGPGOUT"):
            value //= 2
        b, a = before[at][1], after[at][1]
        if slack is None:  # a NUMA or event counter only grows, and the dump came after both records
            assert b <= a <= value, (item, names[at], value, b, a)
        elif a == b:
            assert abs(value - a) <= slack, (item, names[at], value, b, a, slack)
        exact += value == a != 0
    assert exact >= 5, exact
    blocks = "\n".join(text).split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"  {k}:" for k in data]
    for block, items in zip(blocks, data.values(), strict=True):
        assert [tuple(x.strip() for x in line.split(":")) for line in block.splitlines()[1:]] == [
            (k, str(v)) for k, v in items.items()]


@pytest.mark.parametrize("suite", SUITES)
def test_kmem_vm_stats_against_crash_and_drgn(suite: str) -> None:
    """crash 8.0.2's ``kmem -V`` line by line (crash leaves 5.14's ``vm_numa_event`` out,
    as kdbg does); drgn 0.3.0's ``kmem -V`` value by value."""
    dump = resolve_state_dump(suite, "elf")
    ours = run_lines(dump.path, "kmem -V")
    if crash_can_open(suite):
        assert output_lines("\n".join(ours)) == output_lines(crash_answers(suite)["kmem -V"])
    else:
        assert suite in CRASH_CANNOT_OPEN
    paging = resolve_state_dump(suite, "elf-paging")
    data = json.loads(run_lines(paging.path, "kmem -V --json")[0])
    theirs = output_lines(drgn_crash_command(suite, paging.path, "kmem -V"))
    pairs = {line.split(":")[0].strip(): line.split(":")[1].strip() for line in theirs if ":" in line and
             line.split(":")[1].strip()}
    ours_pairs = {k: str(v) for items in data.values() for k, v in items.items()}
    assert {k: pairs.get(k) for k in ours_pairs} == ours_pairs


def test_kmem_vm_stats_bad_input_help_and_completion() -> None:
    dump = resolve_state_dump("bullseye", "kdump-zlib")
    good = run_lines(dump.path, "kmem -V")
    bad_input(dump.path, [("kmem -V -i", "give one of -i, -s, -V, -z, -f, -v, -n, -p and -g"),
                           ("kmem -V slab", "cache names go with -s"), ("kmem -V -q", "unrecognized arguments")],
               "kmem -V", "".join(x + "\n" for x in good))
    help_and_completion(dump.path, "kmem", ["-i", "-s", "-V", "-z", "-f", "--json"])


# ------------------------------------------------------------------------------- kmem -z


def _zoneinfo(path: Path) -> List[Dict[str, object]]:
    """``/proc/zoneinfo``'s zones in order: ``name``, ``min``/``low``/``high``/``spanned``/
    ``present`` and ``stats``, the zone counters after its ``protection:`` line in order."""
    zones: List[Dict[str, object]] = []
    stats = False
    for line in path.read_text().splitlines():
        words = line.split()
        if line.startswith("Node "):
            zones.append({"node": int(words[1].rstrip(",")), "name": words[3], "stats": []})
            stats = False
        elif words[:1] in (["min"], ["low"], ["high"], ["spanned"], ["present"]) and zones:
            zones[-1][words[0]] = int(words[1])
        elif words[:1] == ["protection:"]:
            stats = True
        elif stats and len(words) == 2 and words[1].isdigit():
            zones[-1]["stats"].append((words[0], int(words[1])))  # type: ignore[attr-defined]
        elif line.strip().startswith("vm stats threshold:") and zones:
            zones[-1].setdefault("thresholds", []).append(int(words[-1]))  # type: ignore[attr-defined]
        else:
            stats = False
    return zones


def _drift(zones: List[Dict[str, object]]) -> Tuple[Dict[str, int], int, int]:
    """How far the kernel lets a vm counter's global value lag its true value, from the
    guest's own ``/proc/zoneinfo``: each CPU keeps up to its ``vm stats threshold`` of a
    zone's counter in its per-CPU diff before folding it into the global atomic (which is
    what /proc and the dump both read), and a node counter up to the largest threshold of the
    node's zones (``refresh_zone_stat_thresholds``).  Returns each zone's bound, the bound of
    a global zone counter (every zone's) and of a node counter (one node here)."""
    per_zone = {str(z["name"]): sum(z.get("thresholds", [])) for z in zones}  # type: ignore[call-overload]
    cpus = [list(z["thresholds"]) for z in zones if z.get("thresholds")]  # type: ignore[call-overload]
    assert cpus and all(len(c) == len(cpus[0]) for c in cpus), zones
    node = sum(max(column) for column in zip(*cpus, strict=True))
    return per_zone, sum(per_zone.values()), node


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_kmem_zones_against_the_guests_zoneinfo(state_dump: StateDump) -> None:
    """``kmem -z`` against ``/proc/zoneinfo``: every zone of the node in order with its
    name, spanned and present pages and watermarks; a populated zone's counters in the
    kernel's order (its names, which /proc renames as in ``kmem -V``), each within the zone's
    per-CPU drift at the two moments (:func:`_drift`) where the global counter did not move
    between the guest's two ``/proc/vmstat`` records (exact against crash and drgn on the
    same dump below); the text says what ``--json`` says."""
    dump = state_dump
    lines = run_lines(dump.path, "kmem -z --json", "kmem -z")
    rows, text = json.loads(lines[0]), lines[1:]
    truth = _zoneinfo(dump.truth / "zoneinfo")
    per_zone, _zone_drift, _node_drift = _drift(truth)
    assert [(r["node"], r["name"]) for r in rows] == [(z["node"], z["name"]) for z in truth]
    moved = {n for (n, b), (_m, a) in zip(_proc_vmstat(dump.truth / "vmstat"),
                                          _proc_vmstat(dump.truth / "after" / "vmstat"), strict=True) if a != b}
    exact = 0
    for r, z in zip(rows, truth, strict=True):
        assert [r[k] for k in ("spanned", "present", "min", "low", "high")] == \
            [z[k] for k in ("spanned", "present", "min", "low", "high")], (r, z)
        if not r["present"]:
            continue
        stats = z["stats"][:len(r["vm_stat"])]  # type: ignore[index]
        assert len(stats) == len(r["vm_stat"]) and stats[0][0] == "nr_free_pages"
        slack = 2 * per_zone[str(z["name"])]
        for (item, value), (name, proc) in zip(r["vm_stat"].items(), stats, strict=True):
            if name not in moved:
                assert abs(value - proc) <= slack, (r["name"], item, name, value, proc, slack)
                exact += value == proc
    assert exact >= 5, exact
    blocks = [b.strip("\n") for b in "\n".join(text).split("\n\n") if b.strip()]
    assert len(blocks) == len(rows)
    for block, r in zip(blocks, rows, strict=True):
        head = block.splitlines()
        assert head[0] == f"NODE: {r['node']}  ZONE: {r['zone']}  ADDR: {r['address']:x}  NAME: \"{r['name']}\""
        if not r["present"]:
            assert head[1:] == ["  [unpopulated]"]
            continue
        assert head[1].split() == ["SIZE:", str(r["spanned"]), *(["PRESENT:", str(r["present"])] if r["present"] !=
                                   r["spanned"] else []), "MIN/LOW/HIGH:", f"{r['min']}/{r['low']}/{r['high']}"]
        assert [tuple(x.strip() for x in line.split(":")) for line in head[3:]] == [
            (k, str(v)) for k, v in r["vm_stat"].items()]


@pytest.mark.parametrize("suite", SUITES)
def test_kmem_zones_against_crash_and_drgn(suite: str) -> None:
    """crash 8.0.2's ``kmem -z`` line by line; drgn 0.3.0's ``kmem -z`` value by value
    (its zone headers and watermarks)."""
    dump = resolve_state_dump(suite, "elf")
    ours = run_lines(dump.path, "kmem -z")
    if crash_can_open(suite):
        assert output_lines("\n".join(ours)) == output_lines(crash_answers(suite)["kmem -z"])
    else:
        assert suite in CRASH_CANNOT_OPEN
    paging = resolve_state_dump(suite, "elf-paging")
    rows = json.loads(run_lines(paging.path, "kmem -z --json")[0])
    theirs = output_lines(drgn_crash_command(suite, paging.path, "kmem -z"))
    heads = [line for line in theirs if line.startswith("NODE:")]
    assert heads == [f"NODE: {r['node']}  ZONE: {r['zone']}  ADDR: {r['address']:x}  NAME: \"{r['name']}\""
                     for r in rows]
    marks = [line.split("MIN/LOW/HIGH:")[1].split()[0] for line in theirs if "MIN/LOW/HIGH:" in line]
    assert marks == [f"{r['min']}/{r['low']}/{r['high']}" for r in rows if r["present"]]


# ------------------------------------------------------------------------------- kmem -f


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_kmem_free_lists_against_the_guest(state_dump: StateDump) -> None:
    """``kmem -f``: the zones ``/proc/buddyinfo`` lists (the populated ones), each with a
    free list per order buddyinfo counts and per migrate type; each zone's ``FREE`` and
    ``SIZE`` are ``kmem -z``'s (``/proc/zoneinfo``'s sources, checked above); the blocks of
    the lists move between the guest's one buddyinfo record and the dump, so their counts
    are held to crash and drgn on the same dump (below).  The text says what ``--json`` says."""
    dump = state_dump
    lines = run_lines(dump.path, "kmem -f --json", "kmem -z --json", "kmem -f")
    data, zones, text = json.loads(lines[0]), json.loads(lines[1]), lines[2:]
    buddy = [line.split() for line in (dump.truth / "buddyinfo").read_text().splitlines()]
    populated = [r for r in data["zones"] if r["areas"]]
    assert [(r["node"], r["name"]) for r in populated] == [(int(b[1].rstrip(",")), b[3]) for b in buddy]
    for r, b in zip(populated, buddy, strict=True):
        orders = sorted({a["order"] for a in r["areas"]})
        assert orders == list(range(len(b) - 4)), (orders, b)
        per_order = len(r["areas"]) // len(orders)
        assert [a["order"] for a in r["areas"]] == [o for o in orders for _ in range(per_order)]
    assert [(r["size"], r["free"]) for r in data["zones"]] == [(z["spanned"], z["vm_stat"]["NR_FREE_PAGES"])
                                                              for z in zones]
    assert data["found"] == sum(a["blocks"] << a["order"] for r in data["zones"] for a in r["areas"])
    rows = [line.split() for line in text if line.split()[:1] != ["ZONE"] and line.split()[:1] != ["AREA"]
            and len(line.split()) == 5]
    assert rows == [[str(a["order"]), f"{(4 << a['order'])}k", f"{a['free_list']:016x}", str(a["blocks"]),
                     str(a["blocks"] << a["order"])] for r in data["zones"] for a in r["areas"]]
    verdict = "(verified)" if data["found"] == data["nr_free_pages"] else f"(found {data['found']})"
    assert text[-1] == f"nr_free_pages: {data['nr_free_pages']}  {verdict}"


@pytest.mark.parametrize("suite", SUITES)
def test_kmem_free_lists_against_crash_and_drgn(suite: str) -> None:
    """crash 8.0.2's ``kmem -f`` line by line (every list's blocks counted, ``(verified)``
    against ``NR_FREE_PAGES``); drgn 0.3.0's ``kmem -f`` value by value: the same lists
    with the same blocks, the same total and verdict."""
    dump = resolve_state_dump(suite, "elf")
    if crash_can_open(suite):
        assert output_lines("\n".join(run_lines(dump.path, "kmem -f"))) == output_lines(crash_answers(suite)["kmem -f"])
    else:
        assert suite in CRASH_CANNOT_OPEN
    paging = resolve_state_dump(suite, "elf-paging")
    ours = run_lines(paging.path, "kmem -f --json", "kmem -f")
    data = json.loads(ours[0])
    theirs = output_lines(drgn_crash_command(suite, paging.path, "kmem -f"))
    lists = [line.split() for line in theirs if len(line.split()) == 6 and line.split()[0].isdigit()]
    assert [[x[0], x[3], x[4], x[5]] for x in lists] == [
        [str(a["order"]), f"{a['free_list']:x}", str(a["blocks"]), str(a["blocks"] << a["order"])]
        for r in data["zones"] for a in r["areas"]]
    assert theirs[-1] == ours[-1]
