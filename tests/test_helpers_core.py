"""The core kernel helpers (lists, trees, xarrays, IDRs, per-CPU, cpumasks, tasks, PIDs)
on the real reference dumps, checked against what the guest said and against drgn.

Every suite (5.10, 6.1, 6.12) in ELF and kdump form:

* ``for_each_task`` holds every (pid, comm, ppid, state) of the guest's ``ps`` (PID 1 was
  running the snapshot, so its state is not compared), ``find_task``/``find_pid``/
  ``idr_find``/``xa_load`` agree on every PID the guest listed;
* the online and possible CPUs are the ones the guest's dmesg brought up and sized
  (``Brought up 1 node, N CPUs``, ``nr_cpu_ids:N``) and its cpuinfo lists; each CPU's
  runqueue says its own number; each idle task is ``swapper/N``;
* the list helpers walk ``init_task.tasks`` (every process of ``ps``), hlists reach each
  PID's task, the rbtree helpers walk the vmalloc areas in ascending address order.

On the ELF dump drgn opened (with Debian's DWARF) drgn's own helpers give the same tasks
(pid, comm, ppid, state letter and name, CPU), cpulists, PIDs, runqueue tasks, IDR
entries, red-black trees (timer queues, vmalloc areas), module list and per-CPU counter.

Corrupt structures made by patching a few bytes of memory (a cycle that skips the head, a
self loop, a wrong ``prev``, a bad xarray node, a tree that points back up) end in a
one-line ``ValidationError`` naming the structure, never a hang.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import kdbg
import kdbg.helpers as helpers
from kdbg import KdbgError, Object
from kdbg.core.program import Program
from kdbg.errors import ValidationError
from kdbg.helpers import (
    cpu_curr,
    cpu_online_mask,
    cpu_possible_mask,
    cpu_present_mask,
    cpu_rq,
    cpumask_of,
    cpumask_to_cpulist,
    cpumask_weight,
    find_pid,
    find_task,
    for_each_online_cpu,
    for_each_pid,
    for_each_possible_cpu,
    for_each_present_cpu,
    for_each_task,
    get_task_state,
    hlist_empty,
    hlist_for_each,
    hlist_for_each_entry,
    idle_task,
    idr_find,
    idr_for_each,
    idr_for_each_entry,
    list_count_nodes,
    list_empty,
    list_first_entry,
    list_first_entry_or_null,
    list_for_each,
    list_for_each_entry,
    list_for_each_entry_reverse,
    list_for_each_reverse,
    list_is_singular,
    list_last_entry,
    list_next_entry,
    list_prev_entry,
    num_online_cpus,
    num_possible_cpus,
    per_cpu,
    per_cpu_ptr,
    percpu_counter_sum,
    pid_task,
    rb_find,
    rb_first,
    rb_last,
    rb_next,
    rb_parent,
    rb_prev,
    rbtree_inorder_for_each,
    rbtree_inorder_for_each_entry,
    rbtree_preorder_for_each,
    task_cpu,
    task_state_to_char,
    task_thread_info,
    uts_release,
    validate_list,
    validate_list_count_nodes,
    validate_list_for_each,
    validate_list_for_each_entry,
    xa_for_each,
    xa_load,
)
from kdbg.helpers.common import Walk
from kdbg.target import assemble
from tests.conftest import dump_id, resolve_dump
from tests.dump_moment import drgn_view, unchanged_since_truth
from tests.helpers_support import ORACLE_QUERIES, comm_matches
from tests.kallsyms_synthetic import PatchedMemory
from tests.oracle_exprs import oracle_dump
from vmcores.oracle import ORACLE_FORM, ask_drgn

SUITES = ("bullseye", "bookworm", "trixie")
DUMPS = [(suite, form, "qemu") for suite in SUITES for form in ("elf", "kdump-zlib")]
dumps = pytest.mark.parametrize("reference_dump", DUMPS, ids=dump_id, indirect=True)
suites = pytest.mark.parametrize("suite", SUITES)


@pytest.fixture(scope="module")
def opened(reference_dump: Any) -> Iterator[Tuple[Program, Path]]:
    prog = kdbg.open_core(str(reference_dump.path))
    yield prog, reference_dump.truth
    prog.close()


def ps(truth: Path) -> List[Dict[str, Any]]:
    return json.loads((truth / "ps.json").read_text())  # type: ignore[no-any-return]


def dmesg_number(truth: Path, pattern: str) -> int:
    m = re.search(pattern, (truth / "dmesg").read_text())
    assert m, pattern
    return int(m.group(1))


# ---------------------------------------------------------------------- tasks and PIDs
@dumps
def test_for_each_task_matches_ps(opened: Tuple[Program, Path]) -> None:
    """Every process the guest listed is a task with its comm and parent, and every one
    that stayed asleep from the guest's reads to the dump (:func:`tests.stack_truth.
    unchanged_since_truth`: the guest's dmesg and drgn's reading of the dump) has the
    state the guest read; a task that ran meanwhile (init ran the reads, an RCU kthread
    woke up) may legitimately be in another."""
    prog, truth = opened
    oracle = resolve_dump(json.loads((truth.parent / "dumps.json").read_text())["suite"], ORACLE_FORM, "qemu")
    asleep = unchanged_since_truth(oracle.truth, drgn_view(oracle.suite, oracle.path))
    ours = {}
    for task in for_each_task(prog):
        ours[int(task.pid)] = (task.comm.string_().decode(), int(task.real_parent.tgid), task_state_to_char(task))
    listed = ps(truth)
    assert listed and not [p for p in listed if p["pid"] not in ours]
    wrong = [(p, ours[p["pid"]]) for p in listed
             if not comm_matches(p["comm"], ours[p["pid"]][0]) or p["ppid"] != ours[p["pid"]][1]
             or (p["pid"] in asleep and p["state"] != ours[p["pid"]][2])]
    assert not wrong
    assert {"sleep", "kdbg-sleeper", "cat"} <= {p["comm"] for p in listed if p["pid"] in asleep}
    assert {s for _c, _p, s in ours.values()} <= set("RSDTtXZPI")
    idle = list(for_each_task(prog, idle=True))
    present = list(for_each_present_cpu(prog))  # each present CPU's idle task, as crash lists them
    assert [t.comm.string_().decode() for t in idle[:len(present)]] == [f"swapper/{c}" for c in present]
    assert len(idle) == len(ours) + len(present)


@dumps
def test_find_task_and_pids(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    listed = ps(truth)
    init = find_task(prog, 1)
    assert init.type_.type_name() == "struct task_struct *"
    assert init.comm.string_().decode() == [p["comm"] for p in listed if p["pid"] == 1][0]
    assert get_task_state(init)[0] == task_state_to_char(init) and get_task_state(init)[1:3] == " ("
    ns = prog["init_pid_ns"]
    pid_type = prog.constant("PIDTYPE_PID")
    for p in listed:
        nr = p["pid"]
        pid = find_pid(prog, nr)
        assert int(pid.numbers[0].nr) == nr
        assert int(idr_find(ns.idr, nr)) == int(pid) == int(idr_find(ns.idr.address_of_(), nr))
        assert int(xa_load(ns.idr.idr_rt, nr - int(ns.idr.idr_base))) == int(pid)
        task = pid_task(pid, pid_type)
        assert int(task) == int(find_task(ns.address_of_(), nr))
        assert int(task.pid) == nr
        assert [int(t) for t in hlist_for_each_entry("struct task_struct", pid.tasks[0].address_of_(),
                                                     "pid_links[0]")] == [int(task)]
        assert [int(n) for n in hlist_for_each(pid.tasks[0])] == [int(task.pid_links[0].address_of_())]
        assert not hlist_empty(pid.tasks[0])
    missing = 1 + max(p["pid"] for p in listed) + (1 << 20)
    assert int(find_task(prog, missing)) == 0 and int(find_pid(prog, missing)) == 0
    assert int(xa_load(ns.idr.idr_rt, missing)) == 0
    by_idr = {i: int(e) for i, e in idr_for_each(ns.idr)}
    assert by_idr == {i: int(e) for i, e in idr_for_each_entry(ns.idr, "struct pid")}
    assert {p["pid"] for p in listed} <= set(by_idr)
    assert [int(p.numbers[0].nr) for p in for_each_pid(prog)] == sorted(by_idr)
    assert [(i, int(e)) for i, e in xa_for_each(ns.idr.idr_rt)] == sorted(by_idr.items())
    assert all(int(xa_load(ns.idr.idr_rt, i)) == e for i, e in by_idr.items())
    tasks = {int(t.pid) for t in for_each_task(prog)}
    assert tasks == {i for i in by_idr if int(find_task(prog, i))}


# ---------------------------------------------------------------------- CPUs
@dumps
def test_cpus_match_the_guest(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    online = dmesg_number(truth, r"smp: Brought up \d+ nodes?, (\d+) CPUs")
    possible = dmesg_number(truth, r"nr_cpu_ids:(\d+)")
    cpuinfo = len(re.findall(r"^processor\s*:", (truth / "cpuinfo").read_text(), re.M))
    assert list(for_each_online_cpu(prog)) == list(range(online)) and num_online_cpus(prog) == cpuinfo
    assert list(for_each_possible_cpu(prog)) == list(range(possible)) == list(range(num_possible_cpus(prog)))
    assert list(for_each_present_cpu(prog)) == list(range(possible))
    expect = "0" if online == 1 else f"0-{online - 1}"
    assert cpumask_to_cpulist(cpu_online_mask(prog)) == expect
    assert cpumask_to_cpulist(cpu_online_mask(prog)[0]) == expect
    assert cpumask_weight(cpu_possible_mask(prog)) == possible == cpumask_weight(cpu_present_mask(prog))
    assert cpumask_to_cpulist(cpumask_of(prog, 1)) == "1"


@dumps
def test_per_cpu_runqueues(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    rq = prog["runqueues"]
    assert per_cpu(rq, 0).cpu.value_() == 0
    pointer = rq.address_of_()
    for cpu in for_each_possible_cpu(prog):
        mine = per_cpu(rq, cpu)
        assert int(mine.cpu) == cpu
        assert int(per_cpu_ptr(pointer, cpu)) == mine.address_ == int(cpu_rq(prog, cpu))
        assert per_cpu_ptr(pointer, cpu).type_ == pointer.type_
        assert idle_task(prog, cpu).comm.string_().decode() == f"swapper/{cpu}"
        assert int(cpu_curr(prog, cpu)) == int(mine.curr)
    assert int(idle_task(prog, 0)) == prog["init_task"].address_
    with pytest.raises(KdbgError, match="CPU 100000 out of range"):
        per_cpu(rq, 100000)
    assert uts_release(prog) == (truth / "uname").read_text().strip()
    assert int(task_thread_info(prog["init_task"].address_of_())) == prog["init_task"].address_
    assert all(0 <= task_cpu(t) < num_possible_cpus(prog) for t in for_each_task(prog))


# ---------------------------------------------------------------------- lists
@dumps
def test_list_helpers_on_the_task_list(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    init = prog["init_task"]
    head = init.tasks.address_of_()
    entries = list(list_for_each_entry("struct task_struct", head, "tasks"))
    pids = [int(t.pid) for t in entries]
    assert {p["pid"] for p in ps(truth)} <= set(pids) and pids[0] == 1
    assert [int(t) for t in list_for_each_entry("struct task_struct", init.tasks, "tasks")] == [int(t) for t in entries]
    assert [int(t.pid) for t in list_for_each_entry_reverse("struct task_struct", head, "tasks")] == pids[::-1]
    nodes = [int(n) for n in list_for_each(head)]
    assert nodes == [int(t.tasks.address_of_()) for t in entries]
    assert [int(n) for n in list_for_each_reverse(head)] == nodes[::-1]
    assert [int(n) for n in validate_list_for_each(head)] == nodes
    checked = validate_list_for_each_entry("struct task_struct", head, "tasks")
    assert [int(t) for t in checked] == [int(t) for t in entries]
    assert list_count_nodes(head) == validate_list_count_nodes(head) == len(entries)
    validate_list(head)
    assert int(list_first_entry(head, "struct task_struct", "tasks")) == int(entries[0])
    assert int(list_first_entry_or_null(head, "struct task_struct", "tasks")) == int(entries[0])
    assert int(list_last_entry(head, "struct task_struct", "tasks")) == int(entries[-1])
    assert int(list_next_entry(entries[0], "tasks")) == int(entries[1])
    assert int(list_prev_entry(entries[1], "tasks")) == int(entries[0])
    assert not list_empty(head) and not list_is_singular(head)
    assert next(list_for_each(head)).type_.type_name() == "struct list_head *"
    assert entries[0].type_.type_name() == "struct task_struct *"
    # an empty list: the children of a kernel thread without children (e.g. the last one)
    leaf = [t for t in entries if list_empty(t.children)][0]
    assert list_count_nodes(leaf.children) == 0 and not list_is_singular(leaf.children)
    assert int(list_first_entry_or_null(leaf.children, "struct task_struct", "sibling")) == 0
    assert list(list_for_each(leaf.children)) == []
    # kthreadd's children are every kernel thread the guest listed under PID 2
    kthreadd = find_task(prog, 2)
    kids = {int(t.pid) for t in list_for_each_entry("struct task_struct", kthreadd.children, "sibling")}
    assert {p["pid"] for p in ps(truth) if p["ppid"] == 2} <= kids


# ---------------------------------------------------------------------- rbtrees
def _vmap_roots(prog: Program) -> List[Object]:
    if "vmap_area_root" in prog:
        return [prog["vmap_area_root"]]
    nodes = prog["vmap_nodes"]
    return [nodes[i].busy.root for i in range(int(prog["nr_vmap_nodes"]))]


@dumps
def test_rbtree_helpers_on_vmalloc_areas(opened: Tuple[Program, Path]) -> None:
    prog, _truth = opened
    for root in _vmap_roots(prog):
        areas = list(rbtree_inorder_for_each_entry("struct vmap_area", root, "rb_node"))
        starts = [int(a.va_start) for a in areas]
        assert len(starts) > 10 and starts == sorted(starts) and len(set(starts)) == len(starts)
        assert all(int(a.va_start) < int(a.va_end) for a in areas)
        nodes = [int(n) for n in rbtree_inorder_for_each(root.address_of_())]
        assert nodes == [int(a.rb_node.address_of_()) for a in areas]
        assert sorted(int(n) for n in rbtree_preorder_for_each(root)) == sorted(nodes)
        assert int(rb_first(root)) == nodes[0] and int(rb_last(root)) == nodes[-1]
        walked = [nodes[0]]
        node = rb_first(root)
        while True:
            node = rb_next(node)
            if not int(node):
                break
            walked.append(int(node))
        assert walked == nodes
        assert [int(rb_prev(Object(prog, "struct rb_node *", n))) for n in nodes] == [0, *nodes[:-1]]
        assert int(rb_parent(Object(prog, "struct rb_node *", int(root.rb_node)))) == 0

        def cmp(key: int, entry: Object) -> int:
            start = int(entry.va_start)
            return -1 if key < start else (1 if key > start else 0)

        for a in areas[:: max(1, len(areas) // 7)]:
            assert int(rb_find("struct vmap_area", root, "rb_node", int(a.va_start), cmp)) == int(a)
        assert int(rb_find("struct vmap_area", root, "rb_node", starts[0] - 1, cmp)) == 0


# ---------------------------------------------------------------------- drgn's own helpers
def _kdbg_answers(prog: Program) -> Dict[str, Any]:
    """kdbg's answers to :data:`ORACLE_QUERIES`, as drgn's records hold them."""
    out: Dict[str, Any] = {}
    out["helpers.tasks"] = [[int(t.pid), t.comm.string_().decode(), int(t.real_parent.tgid), task_state_to_char(t),
                             get_task_state(t), task_cpu(t)] for t in for_each_task(prog, idle=True)]
    out["helpers.cpus"] = [cpumask_to_cpulist(cpu_online_mask(prog)), cpumask_to_cpulist(cpu_possible_mask(prog)),
                           cpumask_to_cpulist(cpu_present_mask(prog)), num_online_cpus(prog)]
    out["helpers.pids"] = [int(p) for p in for_each_pid(prog)]
    out["helpers.cpu_curr"] = [[int(cpu_curr(prog, c)), int(idle_task(prog, c))] for c in for_each_possible_cpu(prog)]
    out["helpers.worker_pools"] = [[i, int(p)] for i, p in idr_for_each(prog["worker_pool_idr"])]
    out["helpers.timerqueue"] = [int(n) for c in for_each_possible_cpu(prog)
                                 for b in per_cpu(prog["hrtimer_bases"], c).clock_base
                                 for n in rbtree_inorder_for_each(b.active.rb_root)]
    vmap = [int(v.va_start) for r in _vmap_roots(prog)
            for v in rbtree_inorder_for_each_entry("struct vmap_area", r, "rb_node")]
    out["helpers.vmap_areas"] = vmap if "vmap_area_root" in prog else None
    out["helpers.vmap_nodes"] = None if "vmap_area_root" in prog else vmap
    out["helpers.modules_list"] = [int(m) for m in list_for_each_entry("struct module", prog["modules"], "list")]
    out["helpers.percpu_counter"] = percpu_counter_sum(prog["vm_committed_as"])
    return out


@suites
def test_helpers_agree_with_drgn(suite: str) -> None:
    dump = oracle_dump(suite)
    answers = ask_drgn(suite, dump.path, ORACLE_QUERIES)
    prog = kdbg.open_core(str(dump.path))
    try:
        ours = _kdbg_answers(prog)
    finally:
        prog.close()
    assert set(ours) == {q.key for q in ORACLE_QUERIES}
    for key, value in ours.items():
        rec = answers.records[key]
        assert rec["kind"] == "python", (key, rec)
        assert value == rec["value"], key
    assert len(ours["helpers.timerqueue"]) > 0 and len(ours["helpers.modules_list"]) > 0


# ---------------------------------------------------------------------- corrupt structures
@pytest.fixture(scope="module")
def bookworm() -> Iterator[Program]:
    prog = kdbg.open_core(str(resolve_dump("bookworm", "elf", "qemu").path))
    yield prog
    prog.close()


def patched(prog: Program, patches: Dict[int, int]) -> Program:
    """``prog`` over memory with the 8-byte words at the given addresses replaced."""
    assert prog.memory is not None
    memory = PatchedMemory(prog.memory, {a: v.to_bytes(8, "little") for a, v in patches.items()})
    out = Program(memory=memory, btf_loader=lambda: prog.btfs, symbol_loader=lambda: prog.symbol_table,
                  description="patched")
    return assemble(out, None)  # the declaration table and the unwinder, as every program has them


def one_line_validation_error(call: Callable[[], Any], *words: str) -> str:
    with pytest.raises(ValidationError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and isinstance(info.value, KdbgError)
    for w in words:
        assert w in text, text
    return text


def _task_links(prog: Program) -> List[int]:
    return [int(n) for n in list_for_each(prog["init_task"].tasks)]


def test_cyclic_list_is_a_validation_error(bookworm: Program) -> None:
    links = _task_links(bookworm)
    # node 9 -> node 3: the walk loops 3..9 forever without returning to init_task.tasks
    bad = patched(bookworm, {links[9]: links[3]})
    head = bad["init_task"].tasks
    for walk in (lambda: list(list_for_each(head)), lambda: list_count_nodes(head),
                 lambda: list(list_for_each_entry("struct task_struct", head, "tasks")),
                 lambda: list(for_each_task_in_list(bad))):
        one_line_validation_error(walk, "cycle", "init_task+0x", "list_head")
    # a node that points at itself
    selfish = patched(bookworm, {links[0]: links[0]})
    one_line_validation_error(lambda: list(list_for_each(selfish["init_task"].tasks)), "cycle", f"{links[0]:#x}")
    # reverse walk over a prev cycle
    back = patched(bookworm, {links[2] + 8: links[5]})
    one_line_validation_error(lambda: list(list_for_each_reverse(back["init_task"].tasks)), "cycle")


def for_each_task_in_list(prog: Program) -> Iterator[Object]:
    return list_for_each_entry("struct task_struct", prog["init_task"].tasks.address_of_(), "tasks")


def test_validate_list_checks_prev(bookworm: Program) -> None:
    links = _task_links(bookworm)
    bad = patched(bookworm, {links[4] + 8: links[1]})  # node 4's prev says node 1, not node 3
    head = bad["init_task"].tasks
    assert len(list(list_for_each(head))) == len(links)  # the plain walk does not look at prev
    text = one_line_validation_error(lambda: validate_list(head), f"{links[3]:#x}", f"{links[4]:#x}", "prev")
    assert f"{links[1]:#x}" in text
    one_line_validation_error(lambda: validate_list_count_nodes(head), "prev")
    one_line_validation_error(lambda: list(validate_list_for_each_entry("struct task_struct", head, "tasks")), "prev")


def test_cyclic_hlist_and_garbage_pointer(bookworm: Program) -> None:
    pid = find_pid(bookworm, 1)
    node = int(pid.tasks[0].first)
    bad = patched(bookworm, {node: node})  # the hlist node's next points at itself
    one_line_validation_error(lambda: list(hlist_for_each(find_pid(bad, 1).tasks[0])), "hlist_head", "cycle")
    links = _task_links(bookworm)
    wild = patched(bookworm, {links[2]: 0xDEAD000000000000})
    with pytest.raises(kdbg.FaultError) as info:
        list(list_for_each(wild["init_task"].tasks))
    assert info.value.address == 0xDEAD000000000000


def test_corrupt_trees_are_validation_errors(bookworm: Program) -> None:
    root = bookworm["vmap_area_root"]
    top = int(root.rb_node)
    leftmost = int(rb_first(root))
    loop = patched(bookworm, {leftmost + 16: top})  # rb_left of the leftmost node -> the root
    r = loop["vmap_area_root"]
    for walk in (lambda: list(rbtree_inorder_for_each(r)), lambda: list(rbtree_preorder_for_each(r)),
                 lambda: rb_first(r)):
        one_line_validation_error(walk, "vmap_area_root")
    ns = bookworm["init_pid_ns"]
    head = int(ns.idr.idr_rt.xa_head)
    assert head & 3 == 2  # an internal node: more than one PID
    shift_addr = head - 2  # struct xa_node.shift is its first byte
    word = bookworm.read_u64(shift_addr)
    bad = patched(bookworm, {shift_addr: (word & ~0xFF) | 5})
    xa = bad["init_pid_ns"].idr.idr_rt
    for walk in (lambda: list(xa_for_each(xa)), lambda: xa_load(xa, 1)):
        one_line_validation_error(walk, "xarray", "init_pid_ns+0x", "shift 5")


def test_walk_is_bounded(bookworm: Program) -> None:
    walk = Walk(bookworm, "list_head at 0x1000")
    assert walk.limit >= 1 << 16
    walk.limit = 1000
    with pytest.raises(ValidationError, match="more than 1000 nodes"):
        for i in range(2000):  # distinct addresses: only the limit can stop it
            walk.step(0x1000 + 16 * i)
    brent = Walk(bookworm, "x")
    seen = 0
    with pytest.raises(ValidationError, match="cycle"):
        for i in range(10**6):  # a tail of 37 then a cycle of 1000
            brent.step(i if i < 37 else 37 + (i - 37) % 1000)
            seen = i
    assert seen < 37 + 3 * 1000


# ---------------------------------------------------------------------- the API
def test_names_and_signatures_are_drgns() -> None:
    import drgn.helpers.linux as dh

    ours = set(helpers.__all__)
    assert "ValidationError" in ours and "list_for_each_entry" in ours and "for_each_task" in ours
    namespace: Dict[str, Any] = {}
    exec("from kdbg.helpers import *", namespace)
    assert ours <= set(namespace)
    import importlib

    core = [importlib.import_module(f"kdbg.helpers.{m}")
            for m in ("list", "rbtree", "xarray", "idr", "percpu", "cpumask", "sched", "pid", "utsname")]
    names = {n for m in core for n in m.__all__}
    assert names <= ours
    own = {"uts_name", "uts_release", "latest_rq_clock"}  # kdbg's own (documented as such)
    for name in names - own:
        theirs = getattr(dh, name, None)
        assert theirs is not None, f"{name} is not a drgn helper"
        try:
            sig = inspect.signature(theirs)
        except (TypeError, ValueError):
            continue  # drgn's C helpers carry no signature
        assert list(inspect.signature(getattr(helpers, name)).parameters) == list(sig.parameters), name


def test_wrong_arguments_are_one_line_errors(bookworm: Program) -> None:
    init = bookworm["init_task"]
    cases: List[Tuple[Callable[[], Any], str]] = [
        (lambda: list(list_for_each(init.comm)), "expected struct list_head or struct list_head *, not 'char [16]'"),
        (lambda: list_count_nodes(init.tasks.read_()), "expected struct list_head in memory"),
        (lambda: list(hlist_for_each(init.tasks)), "expected struct hlist_head"),
        (lambda: list(rbtree_inorder_for_each(init.tasks)), "expected struct rb_root"),
        (lambda: xa_load(init, 1), "expected struct xarray"),
        (lambda: per_cpu(bookworm["runqueues"], 1 << 20), "out of range"),
        (lambda: list(list_for_each_entry("struct task_struct", init.tasks, "no_such_member")), "no_such_member"),
    ]
    for call, message in cases:
        with pytest.raises(KdbgError) as info:
            call()
        assert message in str(info.value) and "\n" not in str(info.value)
