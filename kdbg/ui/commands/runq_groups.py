"""``runq -g``: each CPU's run queues by task group, as crash's ``runq -g`` prints them.

crash's walk (``dump_tasks_by_task_group`` in its ``task.c``), over kdbg's helpers: the
task groups are gathered from ``root_task_group`` down its ``children`` lists (depth
first, then ordered by depth, a stable sort), each with crash's name (its cgroup's
kernfs name, ``/`` for the root cgroup, none for a group without a cgroup such as an
autogroup).  For every CPU: ``CPU N`` (`` [OFFLINE]``), the task on it, then the root
group's RT queue (kernels with ``CONFIG_RT_GROUP_SCHED`` only, where ``task_group`` has
``rt_rq``) and its CFS queue: the queue's current entity first (a group's queue in
place, or the running task marked ``[CURRENT]``), then the red-black tree in vruntime
order with each group's queue in place under a ``TASK_GROUP: ... CFS_RQ: ...`` line
(`` <name>``, `` (THROTTLED)``), then the groups of the next depth that are not queued
but hold tasks, under their parents' lines; ``[no tasks queued]`` for an empty queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

from kdbg.core.conversions import container_of
from kdbg.helpers.cgroup import cgroup_name
from kdbg.helpers.common import has_member
from kdbg.helpers.cpumask import for_each_online_cpu, for_each_possible_cpu
from kdbg.helpers.list import list_for_each_entry
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry

__all__ = ["runq_group_lines"]

#: The most task groups gathered (a bound on a corrupt ``children`` list).
_MAX_GROUPS = 1 << 16


@dataclass
class _Group:
    """crash's ``task_group_info``."""

    tg: Any
    depth: int
    name: Optional[str]
    parent: Optional[_Group]
    use: bool = False


def _group_name(tg: Any) -> Optional[str]:
    cgrp = tg.css.cgroup.read_()
    if not int(cgrp):
        return None
    return cgroup_name(cgrp).decode("utf-8", "replace")


def _gather(root: Any) -> List[_Group]:
    """Every task group under (and with) ``root``, depth first, then by depth (stable)."""
    out: List[_Group] = []

    def visit(tg: Any, depth: int, parent: Optional[_Group]) -> None:
        if len(out) >= _MAX_GROUPS:
            raise ValueError(f"more than {_MAX_GROUPS} task groups: the children lists loop")
        g = _Group(tg, depth, _group_name(tg), parent)
        out.append(g)
        for child in list_for_each_entry("struct task_group", tg.children.address_of_(), "siblings"):
            visit(child[0], depth + 1, g)

    visit(root, 0, None)
    return sorted(out, key=lambda g: g.depth)


def _entry(task: Any, current: bool = False) -> str:
    comm = task.comm.string_().decode("utf-8", "replace")
    return (f'[{int(task.prio):3d}] PID: {int(task.pid):<5d}  TASK: {int(task.address_of_()):x}  COMMAND: "{comm}"'
            + (" [CURRENT]" if current else ""))


class _CpuWalk:
    """One CPU's ``runq -g`` block."""

    def __init__(self, groups: List[_Group], cpu: int) -> None:
        self.groups = groups
        self.cpu = cpu
        self.lines: List[str] = []
        for g in groups:
            g.use = g.depth > 0  # crash's reuse_task_group_info_array

    def _cfs_rq(self, g: _Group) -> Any:
        return g.tg.cfs_rq[self.cpu].read_()

    def _fair_header(self, depth: int, cfs_rq: Any, g: _Group) -> None:
        line = " " * (2 + 3 * depth) + f"TASK_GROUP: {int(g.tg.address_of_()):x}  CFS_RQ: {int(cfs_rq):x} "
        if g.name is not None:
            line += f" <{g.name}>"
        if has_member(cfs_rq.prog_, "struct cfs_rq", "throttled") and int(cfs_rq.throttled):
            line += " (THROTTLED)"
        self.lines.append(line)

    def _parents_fair(self, g: _Group) -> None:
        parent = g.parent
        if parent is None or not parent.use:
            return
        self._parents_fair(parent)
        self._fair_header(parent.depth, self._cfs_rq(parent), parent)
        parent.use = False

    def cfs(self, depth: int, cfs_rq: Any, current: Any) -> int:
        """crash's ``dump_tasks_in_task_group_cfs_rq``: the tasks shown."""
        total = 0
        if depth:
            tg = int(cfs_rq.tg)
            for g in self.groups:
                if int(g.tg.address_of_()) == tg:
                    self._fair_header(depth, cfs_rq, g)
                    g.use = False
                    break
        curr = cfs_rq.curr.read_()
        curr_my_q = curr.my_q.read_() if int(curr) and has_member(curr.prog_, "struct sched_entity", "my_q") else None
        if curr_my_q is not None and int(curr_my_q):
            total += 1 + self.cfs(depth + 1, curr_my_q, current)
        elif current is not None and int(curr) and int(curr) == int(current.se.address_of_()):
            total += 1
            self.lines.append(" " * (5 + 3 * depth) + _entry(current, True))
        if int(cfs_rq.tasks_timeline.rb_leftmost):
            for se in rbtree_inorder_for_each_entry("struct sched_entity", cfs_rq.tasks_timeline.rb_root.address_of_(),
                                                    "run_node"):
                my_q = se.my_q.read_() if has_member(se.prog_, "struct sched_entity", "my_q") else None
                if my_q is not None and int(my_q):
                    total += 1 + self.cfs(depth + 1, my_q, current)
                    continue
                self.lines.append(" " * (5 + 3 * depth) + _entry(container_of(se, "struct task_struct", "se")[0]))
                total += 1
        total += self._lower_dequeued_cfs(depth, cfs_rq, current)
        if not total:
            self.lines.append(" " * (5 + 3 * depth) + "[no tasks queued]")
        return total

    def _lower_dequeued_cfs(self, depth: int, cfs_rq: Any, current: Any) -> int:
        total = 0
        for g in self.groups:
            if not g.use or g.depth - depth != 1 or g.parent is None:
                continue
            if int(cfs_rq.tg) != int(g.parent.tg.address_of_()):
                continue
            child = self._cfs_rq(g)
            if int(child) == int(cfs_rq):
                continue
            if not int(child.nr_running):
                total += self._lower_dequeued_cfs(depth + 1, child, current)
                continue
            self._parents_fair(g)
            total += 1 + self.cfs(depth + 1, child, current)
        return total

    def rt(self, depth: int, rt_rq: Any) -> int:
        """crash's ``dump_tasks_in_task_group_rt_rq`` (``CONFIG_RT_GROUP_SCHED``)."""
        total = 0
        if depth:
            tg = int(rt_rq.tg)
            for g in self.groups:
                if int(g.tg.address_of_()) == tg:
                    self._rt_header(rt_rq, g)
                    g.use = False
                    break
        queue = rt_rq.active.queue
        for prio in range(len(queue)):
            for rt_se in list_for_each_entry("struct sched_rt_entity", queue[prio].address_of_(), "run_list"):
                my_q = rt_se.my_q.read_() if has_member(rt_se.prog_, "struct sched_rt_entity", "my_q") else None
                indent = " " * (5 + 6 * depth) + f"[{prio:3d}] "
                total += 1
                if my_q is not None and int(my_q):
                    before = len(self.lines)
                    self.rt(depth + 1, my_q)
                    self.lines[before] = indent + self.lines[before]
                    continue
                task = container_of(rt_se, "struct task_struct", "rt")[0]
                self.lines.append(indent + _entry(task)[6:])
        if not total:
            self.lines.append(" " * (5 + 6 * depth) + "[no tasks queued]")
        return total

    def _rt_header(self, rt_rq: Any, g: _Group) -> None:
        line = f"TASK_GROUP: {int(g.tg.address_of_()):x}  RT_RQ: {int(rt_rq):x}"
        if g.name is not None:
            line += f" <{g.name}>"
        if int(rt_rq.rt_throttled):
            line += " (THROTTLED)"
        self.lines.append(line)


def runq_group_lines(prog: Any) -> List[List[str]]:
    """crash's ``runq -g`` blocks, one per possible CPU."""
    root = prog["root_task_group"]
    groups = _gather(root)
    online = set(for_each_online_cpu(prog))
    blocks = []
    for cpu in for_each_possible_cpu(prog):
        walk = _CpuWalk(groups, cpu)
        if cpu not in online:
            blocks.append([f"CPU {cpu} [OFFLINE]"])
            continue
        curr = per_cpu(prog["runqueues"], cpu).curr[0]
        comm = curr.comm.string_().decode("utf-8", "replace")
        walk.lines += [f"CPU {cpu}",
                       f'  CURRENT: PID: {int(curr.pid):<5d}  TASK: {int(curr.address_of_()):x}  COMMAND: "{comm}"']
        address = int(root.address_of_())
        if has_member(prog, "struct task_group", "rt_rq"):
            rt_rq = root.rt_rq[cpu].read_()
            walk.lines.append(f"  ROOT_TASK_GROUP: {address:x}  RT_RQ: {int(rt_rq):x}")
            for g in groups:
                g.use = g.depth > 0
            walk.rt(0, rt_rq)
        cfs_rq = root.cfs_rq[cpu].read_()
        walk.lines.append(f"  ROOT_TASK_GROUP: {address:x}  CFS_RQ: {int(cfs_rq):x}")
        for g in groups:
            g.use = g.depth > 0
        walk.cfs(0, cfs_rq, curr)
        blocks.append(walk.lines)
    return blocks
