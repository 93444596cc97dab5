"""The expressions the drgn + DWARF oracle (``vmcores/oracle.py``) answers and kdbg must
answer the same way.

Each is Python in drgn's API, evaluated with ``prog`` and ``Object``, ``NULL``, ``cast``,
``reinterpret``, ``container_of``, ``sizeof``, ``offsetof`` in scope, so that kdbg
evaluates the very same text.  No helpers (``per_cpu``, ``list_for_each_entry``...):
per-CPU addresses are computed by hand from ``__per_cpu_offset``.  Where the kernels
differ (``task_struct.state`` became ``__state`` in 5.14, ``pcpu_hot`` appeared in 6.2,
``module.core_layout`` became ``module.mem[]`` in 6.4) an expression has one text per
kernel range under one key.  Every key has a text for every reference kernel (5.10, 6.1,
6.12): :func:`queries_for` checks that.

``format`` gives keyword arguments for one ``format_()`` call recorded besides ``str()``.

:func:`answers_for` gives drgn's answers on a suite (the ``elf-paging`` dump), once per
session; ``tests/test_oracle.py`` checks the oracle, ``tests/test_objects_vs_drgn.py``
checks kdbg against it.

Not here on purpose: ``linux_banner``, whose DWARF has a declaration (``const char []``)
and a definition (``const char [220]`` on 6.12) that drgn picks between at random.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from tests.conftest import resolve_crash_dump, resolve_dump
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM, OracleAnswers, Query, ask_drgn

Version = Tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Expr:
    """One oracle expression: ``key`` (stable across kernels), ``area`` (what part of the
    kernel it exercises), ``variants``: ``(since, before, text)`` with kernel versions as
    ``(major, minor)`` (``None``: unbounded), and optional ``format_()`` options."""

    key: str
    area: str
    variants: Tuple[Tuple[Optional[Version], Optional[Version], str], ...]
    format: Optional[Mapping[str, Any]] = None

    def text_for(self, version: Version) -> Optional[str]:
        """The text for a kernel of *version*, or ``None`` when no variant covers it."""
        for since, before, text in self.variants:
            if (since is None or version >= since) and (before is None or version < before):
                return text
        return None


def _e(key: str, area: str, text: str, format: Optional[Mapping[str, Any]] = None) -> Expr:
    return Expr(key, area, ((None, None, text),), format)


def _v(key: str, area: str, *variants: Tuple[Optional[Version], Optional[Version], str], **kw: Any) -> Expr:
    return Expr(key, area, tuple(variants), kw.get("format"))


IT = 'prog["init_task"]'
CPU1 = 'prog["__per_cpu_offset"][1].value_()'
RQ1 = f'Object(prog, "struct rq", address=prog["runqueues"].address_ + {CPU1})'
MOD = 'container_of(prog["modules"].next, "struct module", "list")'
PID1 = f'container_of({IT}.tasks.next, "struct task_struct", "tasks")'

EXPRESSIONS: List[Expr] = [
    # ---------------------------------------------------------------- task_struct
    _e("task.comm", "task", f"{IT}.comm"),
    _e("task.pid", "task", f"{IT}.pid"),
    _e("task.tgid", "task", f"{IT}.tgid"),
    _v("task.state", "task", (None, (5, 14), f"{IT}.state"), ((5, 14), None, f"{IT}.__state")),
    _e("task.prio", "task", f"{IT}.prio"),
    _e("task.flags", "task", f"{IT}.flags", format={"integer_base": 16}),
    _e("task.tasks", "task", f"{IT}.tasks"),
    _e("task.tasks.next", "task", f"{IT}.tasks.next", format={"dereference": False}),
    _e("task.mm", "task", f"{IT}.mm"),
    _e("task.se.load", "task", f"{IT}.se.load"),
    _e("task.thread_pid", "task", f"{IT}.thread_pid"),
    _e("task.pid_links", "array", f"{IT}.pid_links"),
    _e("task.real_parent.pid", "task", f"{IT}.real_parent.pid"),
    _e("task.cred.uid", "task", f"{IT}.cred.uid"),
    _e("task.thread.sp", "task", f"{IT}.thread.sp", format={"integer_base": 16}),
    _e("task.stack", "pointer", f"{IT}.stack"),
    _e("task.whole", "struct", IT),
    _e("task.pid1.comm", "task", f"{PID1}.comm"),
    _e("task.pid1.pid", "task", f"{PID1}.pid"),
    _e("task.pid1.parent.comm", "task", f"{PID1}.real_parent.comm"),
    _e("task.comm.string", "string", f"{IT}.comm.string_()"),
    _e("task.pid.int", "task", f"int({IT}.pid)"),
    _e("task.mm.bool", "pointer", f"bool({IT}.mm)"),
    # ---------------------------------------------------------------- bitfields
    _e("bitfield.sched_reset_on_fork", "bitfield", f"{IT}.sched_reset_on_fork"),
    _e("bitfield.sched_contributes_to_load", "bitfield", f"{IT}.sched_contributes_to_load"),
    _e("bitfield.in_execve", "bitfield", f"{IT}.in_execve"),
    _e("bitfield.in_iowait", "bitfield", f"{IT}.in_iowait"),
    _e("bitfield.pid1.in_execve", "bitfield", f"{PID1}.in_execve"),
    _e("bitfield.lo.reg_state", "bitfield", 'prog["init_net"].loopback_dev.reg_state'),
    _e("bitfield.lo.kobj", "bitfield", 'prog["init_net"].loopback_dev.dev.kobj'),
    _e("bitfield.lo.kobj.state_in_sysfs", "bitfield", 'prog["init_net"].loopback_dev.dev.kobj.state_in_sysfs'),
    _e(
        "bitfield.lo.kobj.state_add_uevent_sent",
        "bitfield",
        'prog["init_net"].loopback_dev.dev.kobj.state_add_uevent_sent',
    ),
    _e(
        "bitfield.lo.kobj.uevent_suppress",
        "bitfield",
        'prog["init_net"].loopback_dev.dev.kobj.member_("uevent_suppress")',
    ),
    # ---------------------------------------------------------------- enums
    _e("enum.system_state", "enum", 'prog["system_state"]'),
    _e("enum.system_state.int", "enum", 'prog["system_state"].value_()'),
    _e("enum.spectre_v2_enabled", "enum", 'prog["spectre_v2_enabled"]'),
    _e("enum.acpi_irq_model", "enum", 'prog["acpi_irq_model"]'),
    _e("enum.restart_block.nanosleep.type", "enum", f"{IT}.restart_block.nanosleep.type"),
    _e("enum.cast", "enum", 'cast("int", prog["system_state"])'),
    # ---------------------------------------------------------------- unions, anonymous
    _e("union.restart_block", "union", f"{IT}.restart_block"),
    _e("union.restart_block.futex", "union", f"{IT}.restart_block.futex"),
    _e("union.init_cred", "union", 'prog["init_cred"]'),
    _e("union.dentry.d_name", "union", 'prog["init_fs"].root.dentry.d_name'),
    # ---------------------------------------------------------------- function pointers
    _e("fn.idle.enqueue_task", "function pointer", f"{IT}.sched_class.enqueue_task"),
    _e("fn.idle.pick_next_task", "function pointer", f"{IT}.sched_class.pick_next_task"),
    _e("fn.sched_class", "function pointer", f"{IT}.sched_class"),
    _e("fn.restart_block.fn", "function pointer", f"{IT}.restart_block.fn"),
    _e("fn.lo.ndo_start_xmit", "function pointer", 'prog["init_net"].loopback_dev.netdev_ops.ndo_start_xmit'),
    _e("fn.schedule", "function", 'prog["schedule"]'),
    _e("fn.schedule.address_of", "function", 'prog["schedule"].address_of_()'),
    _e(
        "fn.fair.enqueue_task.nosym",
        "function pointer",
        'prog["fair_sched_class"].enqueue_task',
        format={"symbolize": False},
    ),
    # ---------------------------------------------------------------- mm
    _e("mm.map_count", "mm", 'prog["init_mm"].map_count'),
    _e("mm.pgd", "mm", 'prog["init_mm"].pgd'),
    _e("mm.mmap_base", "mm", 'prog["init_mm"].mmap_base'),
    _e("mm.mm_users", "mm", 'prog["init_mm"].mm_users'),
    _e("mm.cpu_bitmap", "array", 'prog["init_mm"].cpu_bitmap'),
    _e("mm.active_mm.is_init_mm", "mm", f'{IT}.active_mm == prog["init_mm"].address_of_()'),
    _e("mm.whole", "struct", 'prog["init_mm"]'),
    # ---------------------------------------------------------------- files, fs
    _e("files.count", "files", 'prog["init_files"].count'),
    _e("files.fdt", "files", 'prog["init_files"].fdt'),
    _e("files.fdt.max_fds", "files", 'prog["init_files"].fdt.max_fds'),
    _e("files.fd_array", "array", 'prog["init_files"].fd_array'),
    _e("files.whole", "struct", 'prog["init_files"]'),
    _e("fs.root", "files", 'prog["init_fs"].root'),
    _e("fs.root.d_iname", "string", 'prog["init_fs"].root.dentry.d_iname'),
    # ---------------------------------------------------------------- net
    _e("net.lo.ifindex", "net", 'prog["init_net"].loopback_dev.ifindex'),
    _e("net.lo.name", "string", 'prog["init_net"].loopback_dev.name'),
    _e("net.lo.mtu", "net", 'prog["init_net"].loopback_dev.mtu'),
    _e("net.lo.flags", "net", 'prog["init_net"].loopback_dev.flags', format={"integer_base": 16}),
    _e("net.lo.netdev_ops", "net", 'prog["init_net"].loopback_dev.netdev_ops'),
    _e("net.ifindex", "net", 'prog["init_net"].ifindex'),
    _e("net.ns", "net", 'prog["init_net"].ns'),
    _e("net.ip_default_ttl", "net", 'prog["init_net"].ipv4.sysctl_ip_default_ttl'),
    _e("net.somaxconn", "net", 'prog["init_net"].core.sysctl_somaxconn'),
    # ---------------------------------------------------------------- printk
    _e("printk.prb", "printk", 'prog["prb"]'),
    _e("printk.desc_ring.count_bits", "printk", 'prog["prb"].desc_ring.count_bits'),
    _e("printk.desc_ring.head_id", "printk", 'prog["prb"].desc_ring.head_id'),
    _e("printk.text_data_ring.size_bits", "printk", 'prog["prb"].text_data_ring.size_bits'),
    _e("printk.infos0", "printk", 'prog["prb"].desc_ring.infos[0]'),
    _e("printk.infos0.text_len", "printk", 'prog["prb"].desc_ring.infos[0].text_len'),
    _e("printk.descs0", "printk", 'prog["prb"].desc_ring.descs[0]'),
    _e("printk.text_data", "printk", 'prog["prb"].text_data_ring.data', format={"dereference": False}),
    _e("printk.console_printk", "array", 'prog["console_printk"]'),
    # ---------------------------------------------------------------- per-CPU by hand
    _e("percpu.runqueues.address", "per-CPU", 'prog["runqueues"].address_'),
    _e("percpu.runqueues.type", "per-CPU", 'prog["runqueues"].type_.type_name()'),
    _e("percpu.offset1", "per-CPU", 'prog["__per_cpu_offset"][1]', format={"integer_base": 16}),
    _e("percpu.rq1.cpu", "per-CPU", f"{RQ1}.cpu"),
    _e("percpu.rq1.idle.comm", "per-CPU", f"{RQ1}.idle.comm"),
    _e("percpu.rq1.nr_running", "per-CPU", f"{RQ1}.nr_running"),
    _e("percpu.rq1.cfs.load", "per-CPU", f"{RQ1}.cfs.load"),
    _e(
        "percpu.this_cpu_off1",
        "per-CPU",
        f'Object(prog, "unsigned long", address=prog["this_cpu_off"].address_ + {CPU1})',
    ),
    _v(
        "percpu.cpu_number1",
        "per-CPU",
        (None, (6, 2), f'Object(prog, "int", address=prog["cpu_number"].address_ + {CPU1})'),
        ((6, 2), None, f'Object(prog, "struct pcpu_hot", address=prog["pcpu_hot"].address_ + {CPU1}).cpu_number'),
    ),
    _v(
        "percpu.current_task1.comm",
        "per-CPU",
        (None, (6, 2), f'Object(prog, "struct task_struct *", address=prog["current_task"].address_ + {CPU1}).comm'),
        (
            (6, 2),
            None,
            f'Object(prog, "struct pcpu_hot", address=prog["pcpu_hot"].address_ + {CPU1}).current_task.comm',
        ),
    ),
    # ---------------------------------------------------------------- modules
    _e("modules.head", "modules", 'prog["modules"]'),
    _e("modules.first.name", "modules", f"{MOD}.name"),
    _e("modules.first.state", "modules", f"{MOD}.state"),
    _e("modules.first.refcnt", "modules", f"{MOD}.refcnt"),
    _e("modules.first.exit", "modules", f"{MOD}.exit"),
    _v(
        "modules.first.core_size",
        "modules",
        (None, (6, 4), f"{MOD}.core_layout.size"),
        ((6, 4), None, f"{MOD}.mem[0].size"),
    ),
    # ---------------------------------------------------------------- arrays, strings, pointers
    _e("array.comm0", "array", f"{IT}.comm[0]"),
    # slices (drgn's obj[start:stop]): of an array, a pointer and an array value
    _e("array.comm.slice", "array", f"{IT}.comm[1:3]"),
    _e("array.comm.slice_negative_start", "array", f"{IT}.comm[-2:]"),
    _e("array.comm.slice_negative_stop", "array", f"{IT}.comm[:-2]"),
    _e("array.comm.pointer_slice", "array", f"{IT}.comm[0].address_of_()[2:6]"),
    _e("array.comm.value_slice", "array", f"{IT}.comm.read_()[1:4]"),
    _e("array.cpus_mask.bits_slice", "array", f"{IT}.cpus_mask.bits[0:1]"),
    _e("array.cpus_mask", "array", f"{IT}.cpus_mask"),
    _e("array.cpu_online_mask", "array", 'prog["__cpu_online_mask"]'),
    _e("string.uts_release", "string", 'prog["init_uts_ns"].name.release'),
    _e("string.uts_version", "string", 'prog["init_uts_ns"].name.version'),
    _e("string.saved_command_line", "string", 'prog["saved_command_line"]'),
    _e("pointer.nsproxy", "pointer", f"{IT}.nsproxy"),
    _e("pointer.nsproxy.nodereference", "pointer", f"{IT}.nsproxy", format={"dereference": False}),
    _e("pointer.nsproxy.index0.count", "pointer", f"{IT}.nsproxy[0].count"),
    _e("pointer.nsproxy[0].uts_ns", "pointer", f"{IT}.nsproxy[0].uts_ns", format={"dereference": False}),
    _e("pointer.fs", "pointer", f"{IT}.fs"),
    _e("pointer.files", "pointer", f"{IT}.files", format={"dereference": False}),
    _e("pointer.address_of", "pointer", f"{IT}.address_of_()", format={"dereference": False}),
    _e("pointer.arith", "pointer", f"{IT}.pid_links[0].address_of_() + 1", format={"dereference": False}),
    _e("pointer.cast_ulong", "pointer", f'cast("unsigned long", {IT}.stack)', format={"integer_base": 16}),
    _e("pointer.jiffies", "pointer", 'prog["jiffies"]'),
    # ---------------------------------------------------------------- whole structs
    _e("struct.init_uts_ns", "struct", 'prog["init_uts_ns"]'),
    _e("struct.init_nsproxy", "struct", 'prog["init_nsproxy"]'),
    _e("struct.signal", "struct", f"{IT}.signal[0]"),
    _e("struct.pid1.signal.pids", "array", f"{PID1}.signal.pids"),
    _e("struct.read", "struct", f"{IT}.se.load.read_()"),
    _e("struct.reinterpret", "struct", f'reinterpret("unsigned char [4]", {IT}.comm)'),
    _e("struct.sizeof", "struct", f"sizeof({IT})"),
    _e("struct.offsetof", "struct", 'offsetof(prog.type("struct task_struct"), "tasks")'),
    # ---------------------------------------------------------------- format_() options
    _e("format.load.same_line", "format", f"{IT}.se.load", format={"members_same_line": True}),
    _e(
        "format.kobj.same_line.columns",
        "format",
        'prog["init_net"].loopback_dev.dev.kobj',
        format={"members_same_line": True, "columns": 40, "symbolize": False},
    ),
    _e("format.comm.nostring", "format", f"{IT}.comm", format={"string": False}),
    _e("format.comm.char", "format", f"{IT}.comm", format={"string": False, "char": True}),
    _e(
        "format.ns.no_member_types",
        "format",
        'prog["init_net"].ns',
        format={"member_type_names": False, "symbolize": False},
    ),
    _e("format.pids.element_types", "format", f"{PID1}.signal.pids", format={"element_type_names": True}),
    _e(
        "format.console_printk.element_types",
        "format",
        'prog["console_printk"]',
        format={"element_type_names": True},
    ),
    _e(
        "format.nsproxy.no_member_names",
        "format",
        'prog["init_nsproxy"]',
        format={"member_names": False, "dereference": False},
    ),
    _e("format.console_printk.columns", "format", 'prog["console_printk"]', format={"columns": 10}),
    _e(
        "format.kobj.no_implicit_members",
        "format",
        'prog["init_net"].loopback_dev.dev.kobj',
        format={"implicit_members": False},
    ),
    _e("format.console_printk.indices", "format", 'prog["console_printk"]', format={"element_indices": True}),
    _e("format.pid_links.implicit_elements", "format", f"{IT}.pid_links", format={"implicit_elements": True}),
    _e("format.cred.hex", "format", f"{IT}.cred.uid", format={"integer_base": 16, "type_name": False}),
]


def kernel_version(release: str) -> Version:
    """``(major, minor)`` of a ``uname -r`` string: ``6.12.117+deb13-cloud-amd64`` -> (6, 12)."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise ValueError(f"not a kernel release: {release!r}")
    return int(m.group(1)), int(m.group(2))


def queries_for(release: str) -> List[Query]:
    """The oracle queries for a kernel of *release* (every key, its text for that kernel)."""
    version = kernel_version(release)
    out: List[Query] = []
    missing = []
    for e in EXPRESSIONS:
        text = e.text_for(version)
        if text is None:
            missing.append(e.key)
            continue
        out.append(Query(e.key, text, e.format))
    if missing:
        raise ValueError(f"no expression text for {release}: {missing}")
    return out


def by_key() -> Dict[str, Expr]:
    """The expressions by key."""
    return {e.key: e for e in EXPRESSIONS}


_ANSWERS: Dict[str, OracleAnswers] = {}


def oracle_dump(suite: str) -> Dump:
    """The dump the oracle is asked on (QEMU's ``elf-paging`` form of *suite*; built if
    missing)."""
    return resolve_dump(suite, ORACLE_FORM, "qemu")


def answers_for(suite: str) -> OracleAnswers:
    """drgn's answers to every expression on *suite* (asked once per session, cached on
    disk by :func:`vmcores.oracle.ask_drgn`)."""
    if suite not in _ANSWERS:
        dump = oracle_dump(suite)
        _ANSWERS[suite] = ask_drgn(suite, dump.path, queries_for(dump.release))
    return _ANSWERS[suite]


def drgn_answers_at(suite: str, scenario: Any, texts: Dict[str, str]) -> Dict[str, Any]:
    """drgn's values on the ELF form of the reference dump or of a crash dump."""
    path = (resolve_dump(suite, ORACLE_FORM, "qemu") if scenario is None
            else resolve_crash_dump(suite, scenario, ORACLE_FORM)).path
    answers = ask_drgn(suite, path, [Query(k, t) for k, t in texts.items()])
    out = {}
    for k in texts:
        rec = answers.records[k]
        assert rec["kind"] != "error", rec
        out[k] = rec["value"]
    return out
