"""The crash dumps of ``vmcores.crash`` and the console parsers of ``tests/stack_truth.py``.

Ground truth is what each crashed guest printed itself (its serial console: the sysrq-t
dump of every task's stack and the crash report) and recorded in ``/proc`` before it
crashed (``proc-stat``, ``modules``, ``kallsyms``, ``switches``).  These tests check that
the builds hold what the stack-trace tests rely on, and that the parsers read all three
kernels' formats (5.10 without ``<TASK>`` markers, 6.1, 6.12 with ``tgid:``).
"""

from __future__ import annotations

import dataclasses
import json
import mmap
import re
import struct
from pathlib import Path
from typing import Dict, List

import pytest

import kdbg
from kdbg.memory import open_physical
from tests.conftest import CRASH_DUMP_IDS, CRASH_IDS, dump_id
from tests.dump_moment import drgn_view, parse_switches, stayed_asleep, sysrq_t_still_true
from tests.helpers_support import comm_matches
from tests.stack_truth import KERNEL_STACK_ENDS, Frame, Oops, parse_frame, parse_panic, parse_regs, parse_sysrq_t
from vmcores.build import parse_proc_stat
from vmcores.crash_module import MODULE_NAME
from vmcores.dump_index import Dump, dump_from_json

MODULE_FUNCTIONS = ["kdbg_oops_level2", "kdbg_oops_level1", "kdbg_oops_write"]
"""The module's callers of kdbg_oops_crash, innermost first (as the oops trace lists them)."""


def _base(function: str) -> str:
    """``kdbg_oops_write.cold`` -> ``kdbg_oops_write`` (gcc's split-off parts)."""
    return re.sub(r"\.(?:cold|isra|constprop|part)(?:\.\d+)?.*$", "", function)


def _procs(truth: Path) -> List[Dict[str, object]]:
    return parse_proc_stat((truth / "proc-stat").read_text(errors="replace"))


def _console(truth: Path) -> str:
    return (truth / "console.log").read_text(errors="replace")


# --------------------------------------------------------------------------- parsers


def test_parse_frame_forms() -> None:
    assert parse_frame("__schedule+0x34d/0x9e0") == Frame("__schedule", 0x34D, 0x9E0, None, True)
    assert parse_frame("? kthread_complete_and_exit+0x20/0x20") == Frame(
        "kthread_complete_and_exit", 0x20, 0x20, None, False
    )
    assert parse_frame("kdbg_oops_write.cold+0xa/0x1c [kdbg_oops]") == Frame(
        "kdbg_oops_write.cold", 0xA, 0x1C, "kdbg_oops", True
    )
    assert parse_frame("foo+0x1/0x2 [mod 0123abcd]") == Frame("foo", 1, 2, "mod", True)
    assert parse_frame("? 0xffffffffc0123456") == Frame("0xffffffffc0123456", 0, 0, None, False)
    assert parse_frame("arch_exit_to_user_mode_prepare.isra.0+0x16/0xa0") is not None
    for line in ("Call Trace:", "<TASK>", "RIP: 0033:0x47b7a0", "Code: 40 00 48", "task:init state:R"):
        assert parse_frame(line) is None
    assert str(Frame("f", 1, 0x20, "m", False)) == "? f+0x1/0x20 [m]"


def test_parse_regs_user_and_kernel() -> None:
    regs = parse_regs(
        [
            "RIP: 0033:0x47b7a0",
            "RSP: 002b:00007ffcb9f1ddb8 EFLAGS: 00000202 ORIG_RAX: 0000000000000001",
            "RAX: ffffffffffffffda RBX: 0000000000000001 RCX: 000000000047b7a0",
            "FS:  00000000315db3c0(0000) GS:ffff8aebc7900000(0000) knlGS:0000000000000000",
            "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033",
        ]
    )
    assert regs["cs"] == 0x33 and regs["rip"] == 0x47B7A0
    assert regs["ss"] == 0x2B and regs["rsp"] == 0x7FFCB9F1DDB8
    assert regs["eflags"] == 0x202 and regs["orig_rax"] == 1 and regs["rax"] == 0xFFFFFFFFFFFFFFDA
    assert regs["cs"] == 0x33  # CS: on its own line is the CPU's current selector
    assert regs["fs"] == 0x315DB3C0 and regs["gs"] == 0xFFFF8AEBC7900000 and regs["cr0"] == 0x80050033


SYSRQ_510 = """\
[    6.119169] sysrq: Show State
[    6.129471] task:kthreadd        state:S stack:    0 pid:    2 ppid:     0 flags:0x00004000
[    6.129870] Call Trace:
[    6.130165]  __schedule+0x282/0x870
[    6.130338]  schedule+0x46/0xb0
[    6.130484]  kthreadd+0x2d6/0x2f0
[    6.130640]  ? kthread_is_per_cpu+0x30/0x30
[    6.130822]  ret_from_fork+0x22/0x30
[    6.135229] task:kworker/0:0     state:I stack:    0 pid:    5 ppid:     2 flags:0x00004000
[    6.135824] Workqueue:  0x0 (events)
[    6.136071] Call Trace:
[    6.136199]  __schedule+0x282/0x870
[    6.137356] some other message
[    6.136498]  worker_thread+0xd1/0x3e0
[    6.137193]  ret_from_fork+0x22/0x30
[    6.137194] Sched Debug Version: v0.11, 5.10.0-32-cloud-amd64 #1
[    6.137195]  I    kworker/u4:0     9      3342.241337        41   120
"""

SYSRQ_612 = """\
[    7.404344] KDBG-SYSRQ-T-BEGIN
[    7.406381] sysrq: Show State
task:init            state:R  running task     stack:0     pid:1     tgid:1     ppid:0      flags:0x00000000
[    7.408027] Call Trace:
[    7.409343]  <TASK>
[    7.410596]  sched_show_task+0x11c/0x140
[    7.415509]  entry_SYSCALL_64_after_hwframe+0x76/0x7e
[    7.416119] RIP: 0033:0x47b7a0
[    7.417794] RSP: 002b:00007ffe918c29c8 EFLAGS: 00000202 ORIG_RAX: 0000000000000001
[    7.420520]  </TASK>
[    7.423766] task:pool_workqueue_ state:S stack:0     pid:3     tgid:3     ppid:2      flags:0x00004000
[    7.424149] Call Trace:
[    7.424276]  <TASK>
[    7.424433]  __schedule+0x4ea/0xbe0
[    7.422938]  ret_from_fork+0x34/0x50
[    7.423112]  ? __pfx_kthreadd+0x10/0x10
[    7.423330]  ret_from_fork_asm+0x1a/0x30
[    7.423615]  </TASK>
[    7.653749] KDBG-SYSRQ-T-END
[    7.653750] task:notatask        state:S stack:0     pid:99    tgid:99    ppid:2      flags:0x0
"""


def test_parse_sysrq_t_510_format() -> None:
    tasks = parse_sysrq_t(SYSRQ_510)
    assert sorted(tasks) == [2, 5]
    k = tasks[2]
    assert (k.comm, k.state, k.ppid, k.tgid, k.flags, k.running) == ("kthreadd", "S", 0, None, 0x4000, False)
    assert [str(f) for f in k.frames] == [
        "__schedule+0x282/0x870",
        "schedule+0x46/0xb0",
        "kthreadd+0x2d6/0x2f0",
        "? kthread_is_per_cpu+0x30/0x30",
        "ret_from_fork+0x22/0x30",
    ]
    w = tasks[5]
    assert w.workqueue == "0x0 (events)"
    # an interleaved message is skipped; the scheduler dump after the tasks is not a frame
    assert [f.function for f in w.frames] == ["__schedule", "worker_thread", "ret_from_fork"]


def test_parse_sysrq_t_612_format() -> None:
    tasks = parse_sysrq_t(SYSRQ_612)
    assert sorted(tasks) == [1, 3]  # nothing after the END marker
    init = tasks[1]
    assert init.running and init.state == "R" and init.tgid == 1
    assert init.user_regs["cs"] == 0x33 and init.user_regs["rip"] == 0x47B7A0 and init.user_regs["rsp"]
    pw = tasks[3]
    assert pw.comm == "pool_workqueue_" and pw.user_regs == {}
    assert [f.function for f in pw.reliable_frames] == ["__schedule", "ret_from_fork", "ret_from_fork_asm"]


OOPS_TEXT = """\
[   16.088894] KDBG-CRASHING echo 1 > /proc/kdbg_oops
[   16.096310] BUG: kernel NULL pointer dereference, address: 0000000000000000
[   16.097340] Oops: 0002 [#1] PREEMPT SMP NOPTI
[   16.097620] CPU: 1 PID: 1 Comm: init Tainted: G           OE      6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1
[   16.098408] RIP: 0010:kdbg_oops_crash+0x1d/0x28 [kdbg_oops]
[   16.098956] RSP: 0018:ffffcf7780013b18 EFLAGS: 00000246
[   16.098956] RAX: 0000000000000000 RBX: 0000000000000064 RCX: c0000000ffffefff
[   16.098956] CR2: 0000000000000000 CR3: 0000000001066000 CR4: 00000000000006a0
[   16.098956] Call Trace:
[   16.098956]  <TASK>
[   16.098956]  kdbg_oops_level2+0xd/0x25 [kdbg_oops]
[   16.098956]  ? do_syscall_64+0x69/0x90
[   16.098956]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[   16.098956] RIP: 0033:0x47b7a0
[   16.098956] RSP: 002b:00007ffd7f376798 EFLAGS: 00000202 ORIG_RAX: 0000000000000001
[   16.098956]  </TASK>
[   16.098956] Modules linked in: kdbg_oops(OE) qemu_fw_cfg
[   16.111504] ---[ end trace 0000000000000000 ]---
[   16.111739] RIP: 0010:kdbg_oops_crash+0x1d/0x28 [kdbg_oops]
[   16.114475] Kernel panic - not syncing: Fatal exception
[   16.118055] ---[ end Kernel panic - not syncing: Fatal exception ]---
"""

PANIC_510_TEXT = """\
[   14.905272] Kernel panic - not syncing: sysrq triggered crash
[   14.907708] CPU: 0 PID: 1 Comm: init Tainted: G            E     5.10.0-32-cloud-amd64 #1 Debian 5.10.223-1
[   14.910416] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   14.910416] Call Trace:
[   14.910416]  dump_stack+0x6b/0x83
[   14.911792]  panic+0x114/0x2f1
[   14.911792]  ? printk+0x58/0x73
[   14.911792]  sysrq_handle_crash+0x16/0x20
[   14.911792]  entry_SYSCALL_64_after_hwframe+0x67/0xd1
[   14.911792] RIP: 0033:0x47b7a0
[   14.911792] RSP: 002b:00007ffc2b11da48 EFLAGS: 00000202 ORIG_RAX: 0000000000000001
[   14.916430] Kernel Offset: 0x29200000 from 0xffffffff81000000 (relocation range: ...)
[   14.916430] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---
"""


def test_parse_panic_module_oops() -> None:
    o = parse_panic(OOPS_TEXT)
    assert (o.kind, o.pid, o.comm, o.cpu, o.message) == ("oops", 1, "init", 1, "Fatal exception")
    assert o.bug.startswith("BUG: kernel NULL pointer dereference")
    assert o.rip == Frame("kdbg_oops_crash", 0x1D, 0x28, "kdbg_oops", True)
    assert o.regs["rsp"] == 0xFFFFCF7780013B18 and o.regs["ss"] == 0x18 and o.regs["cr2"] == 0
    assert [str(f) for f in o.frames] == [
        "kdbg_oops_level2+0xd/0x25 [kdbg_oops]",
        "? do_syscall_64+0x69/0x90",
        "entry_SYSCALL_64_after_hwframe+0x6e/0xd8",
    ]
    assert o.user_regs["rip"] == 0x47B7A0 and o.panic_frames == []


def test_parse_panic_without_markers_510() -> None:
    o = parse_panic("[    1.0] unrelated\n" + PANIC_510_TEXT)
    assert (o.kind, o.pid, o.comm, o.cpu, o.rip) == ("panic", 1, "init", 0, None)
    assert o.message == "sysrq triggered crash"
    assert [f.function for f in o.frames if f.reliable] == [
        "dump_stack",
        "panic",
        "sysrq_handle_crash",
        "entry_SYSCALL_64_after_hwframe",
    ]
    assert o.panic_frames == o.frames and o.user_regs["cs"] == 0x33
    with pytest.raises(ValueError, match="CPU: N PID: N"):
        parse_panic("no report here\n")


NMI_61_TEXT = """\
[   18.644412] KDBG-CRASHING echo 1 > /proc/sys/kernel/unknown_nmi_panic
[   18.659192] KDBG-NMI-READY
[   20.793757] Uhhuh. NMI received for unknown reason 31 on CPU 0.
[   20.793757] Kernel panic - not syncing: NMI: Not continuing
[   20.793757] CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.1.0-50-cloud-amd64 #1  Debian 6.1.176-1
[   20.793757] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   20.793757] Call Trace:
[   20.793757]  <NMI>
[   20.782223] Uhhuh. NMI received for unknown reason 21 on CPU 1.
[   20.793757]  dump_stack_lvl+0x44/0x5c
[   20.793757]  panic+0x118/0x2f4
[   20.793757]  ? _printk+0x68/0x83
[   20.793757]  nmi_panic.cold+0xc/0xc
[   20.793757]  unknown_nmi_error.cold+0x3b/0x49
[   20.793757]  exc_nmi+0x11e/0x150
[   20.793757]  end_repeat_nmi+0x16/0x67
[   20.793757] RIP: 0010:native_safe_halt+0xb/0x10
[   20.793757] Code: 7f c3 cc cc cc cc 65 48 8b 04 25 80 fb 01 00 f0 80 48 02 20 48 8b 00 a8 08 fb f4 <c3> cc cc
[   20.793757] RSP: 0018:ffffffffb8403e90 EFLAGS: 00000246
[   20.793757] RAX: 000000000001ad40 RBX: 0000000000000000 RCX: 0000000000000001
[   20.793757] RBP: ffffffffb841aa40 R08: 0000000000000000 R09: 000000003457d34c
[   20.793757]  ? native_safe_halt+0xb/0x10
[   20.793757]  </NMI>
[   20.793757]  <TASK>
[   20.793757]  amd_e400_idle+0x3d/0x50
[   20.793757]  default_idle_call+0x38/0xf0
[   20.793757]  do_idle+0x206/0x2b0
[   20.793757]  secondary_startup_64_no_verify+0xe4/0xeb
[   20.793757]  </TASK>
[   20.793757] Shutting down cpus with NMI
[   20.793757] Kernel Offset: 0x35a00000 from 0xffffffff81000000 (relocation range: ...)
[   20.793757] ---[ end Kernel panic - not syncing: NMI: Not continuing ]---
"""

# 5.10: no <TASK> marker, no end line; 6.1: the other CPU's NMI line can come in the middle
# of the trace (NMI printk is deferred: where it lands varies from boot to boot)
NMI_510_TEXT = """\
[   22.413899] Uhhuh. NMI received for unknown reason 21 on CPU 0.
[   22.413899] Do you have a strange power saving mode enabled?
[   22.413899] Kernel panic - not syncing: NMI: Not continuing
[   22.413899] CPU: 0 PID: 0 Comm: swapper/0 Tainted: G            E     5.10.0-32-cloud-amd64 #1 Debian 5.10.223-1
[   22.413899] Call Trace:
[   22.413899]  <NMI>
[   22.413899]  dump_stack+0x6b/0x83
[   22.413899]  panic+0x114/0x2f1
[   22.413899]  nmi_panic.cold+0xc/0xc
[   22.413899]  exc_nmi+0x14f/0x170
[   22.413899]  end_repeat_nmi+0x16/0x67
[   22.413899] RIP: 0010:native_safe_halt+0xe/0x20
[   22.413899] RSP: 0018:ffffffff85003eb8 EFLAGS: 00000246
[   22.413899] RBP: ffffffff85013940 R08: 0000000000000046 R09: 0000000000000001
[   22.413899]  ? native_safe_halt+0xe/0x20
[   22.413899] Uhhuh. NMI received for unknown reason 31 on CPU 1.
[   22.413899]  </NMI>
[   22.413899]  amd_e400_idle+0x40/0x50
[   22.413899]  do_idle+0x20c/0x2b0
[   22.413899]  secondary_startup_64_no_verify+0xb1/0xbb
[   22.413899] Uhhuh. NMI received for unknown reason 31 on CPU 1.
[   22.413899] Do you have a strange power saving mode enabled?
[   22.413899] Shutting down cpus with NMI
[   22.413899] Kernel Offset: 0x2a00000 from 0xffffffff81000000 (relocation range: ...)
"""


@pytest.mark.parametrize("text", [NMI_61_TEXT, NMI_510_TEXT], ids=["6.1", "5.10"])
def test_parse_panic_in_nmi_context(text: str) -> None:
    """A panic in NMI context: the <NMI> part, the interrupted registers, the task part."""
    for variant in (text, "\n".join(ln for ln in text.splitlines() if "KDBG-" not in ln)):
        o = parse_panic(variant)
        assert (o.kind, o.pid, o.comm, o.cpu, o.message) == ("panic", 0, "swapper/0", 0, "NMI: Not continuing")
        assert o.nmi and o.bug.startswith("Uhhuh. NMI received for unknown reason") and o.bug.endswith(" on CPU 0.")
        ctx = [(f.context, f.function, f.reliable) for f in o.frames]
        nmi = [c[1] for c in ctx if c[0] == "NMI" and c[2]]
        task = [c[1] for c in ctx if c[0] == "TASK"]
        assert nmi[:2] in (["dump_stack_lvl", "panic"], ["dump_stack", "panic"]) and nmi[-1] == "end_repeat_nmi"
        assert task[0] == "amd_e400_idle" and task[-1] == "secondary_startup_64_no_verify"
        assert [c[0] for c in ctx] == ["NMI"] * (len(ctx) - len(task)) + ["TASK"] * len(task)
        assert o.rip is not None
        assert (o.rip.function, o.rip.context, o.rip.reliable) == ("native_safe_halt", "TASK", True)
        # after the registers, the NMI part's stack scan finds the interrupted pc again
        assert o.frames[len(ctx) - len(task) - 1] == dataclasses.replace(o.rip, reliable=False, context="NMI")
        assert o.rip_index == len(nmi) + (1 if "_printk" in text else 0)
        assert o.regs["cs"] == 0x10 and o.regs["ss"] == 0x18
        assert o.regs["rsp"] in (0xFFFFFFFFB8403E90, 0xFFFFFFFF85003EB8)
        assert o.user_regs == {} and o.panic_frames == o.frames


def test_parse_switches_and_stayed_asleep(tmp_path: Path) -> None:
    (tmp_path / "switches").write_text(
        "1 1 114 182 114 188 init\n2 2 75 1 75 1 kthreadd\n7 7 - - 3 0 kworker/0:1\n8 9 4 0 4 0 two words\n"
    )
    sw = parse_switches((tmp_path / "switches").read_text())
    assert sw[7].vol_before is None and sw[7].vol_after == 3
    assert sw[9].pid == 8 and sw[9].comm == "two words"
    assert stayed_asleep(tmp_path) == {2, 9}


# --------------------------------------------------------------------------- builds


@pytest.mark.parametrize("crash_truth", CRASH_IDS, ids=dump_id, indirect=True)
def test_truth_files(crash_truth: Path) -> None:
    """The truth of a crash build is complete and about the dumped kernel."""
    info = json.loads((crash_truth.parent / "dumps.json").read_text())
    crash = json.loads((crash_truth / "crash.json").read_text())
    assert (crash_truth / "uname").read_text().strip() == info["release"] == crash["release"]
    cmdline = (crash_truth / "cmdline").read_text()
    assert "panic=0" in cmdline.split() and "oops=panic" in cmdline.split() and "loglevel=8" in cmdline.split()
    assert ("apic_extnmi=all" in cmdline.split()) == (crash["scenario"] == "nmi")
    assert len((crash_truth / "kallsyms").read_text().splitlines()) > 50000
    procs = _procs(crash_truth)
    sw = parse_switches((crash_truth / "switches").read_text())
    # every process (thread group leader) has its switch counts, kernel threads included
    assert {p["pid"] for p in procs} <= set(sw)
    assert any(s.comm == "kthreadd" for s in sw.values()) and sw[1].comm == "init"
    ends = _console(crash_truth).count("---[ end Kernel panic")
    if crash["scenario"] == "nmi" and crash["release"].startswith("5.10."):
        # 5.10's printk in NMI context writes to a per-CPU buffer; the panic's last line
        # comes after its last flush, so it stays there: in the dump's memory, not on the console
        assert ends == 0
        elf = next(dump_from_json(Dump, d, crash_truth.parent).path for d in info["dumps"] if d["form"] == "elf")
        with open(elf, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mem:
            assert mem.find(b"\x010---[ end Kernel panic - not syncing: NMI: Not continuing ]---\n") > 0
    else:
        assert ends == 1
    modules = (crash_truth / "modules").read_text()
    if crash["scenario"] == "oops":
        assert re.search(rf"^{MODULE_NAME} \d+ 0 - Live 0x[0-9a-f]+", modules, re.M)
        assert re.search(rf" t kdbg_oops_crash\t\[{MODULE_NAME}\]$", (crash_truth / "kallsyms").read_text(), re.M)
    else:
        assert MODULE_NAME not in modules


@pytest.mark.parametrize("crash_truth", CRASH_IDS, ids=dump_id, indirect=True)
def test_sysrq_t_lists_every_task(crash_truth: Path) -> None:
    """Every process has a sysrq-t entry with its comm, except zombies (the kernel prints
    nothing for a task whose stack is gone); every thread in ``switches`` has one too."""
    tasks = parse_sysrq_t(_console(crash_truth))
    procs = _procs(crash_truth)
    zombies = {p["pid"] for p in procs if p["state"] == "Z"}
    assert zombies, "the init script leaves a zombie sleep"
    for p in procs:
        if p["pid"] in zombies:
            assert p["pid"] not in tasks
            continue
        assert p["pid"] in tasks, f"pid {p['pid']} ({p['comm']}) has no sysrq-t entry"
        assert comm_matches(str(p["comm"]), tasks[p["pid"]].comm), (p, tasks[p["pid"]].comm)
    sw = parse_switches((crash_truth / "switches").read_text())
    both = {s.tid for s in sw.values() if s.vol_before is not None and s.vol_after is not None}
    assert both - zombies <= set(tasks)
    assert tasks[1].running and tasks[1].state == "R"
    assert [f.function for f in tasks[1].reliable_frames][:1] in (["sched_show_task"], ["sched_show_task.cold"])


@pytest.mark.parametrize("crash_truth", CRASH_IDS, ids=dump_id, indirect=True)
def test_sysrq_t_sleepers_unwind_from_schedule_to_an_entry(crash_truth: Path) -> None:
    """A task that stayed asleep across the sysrq-t has a complete reliable trace: from
    ``__schedule`` (where it switched out) to a known end of a kernel stack; tasks in a
    system call end with their user-mode registers."""
    tasks = parse_sysrq_t(_console(crash_truth))
    asleep = stayed_asleep(crash_truth)
    checked = 0
    for tid in sorted(asleep & set(tasks)):
        t = tasks[tid]
        if t.running:
            continue
        rel = t.reliable_frames
        assert rel, f"{tid} {t.comm}: no reliable frame"
        assert rel[0].function == "__schedule", f"{tid} {t.comm}: {[str(f) for f in t.frames]}"
        assert rel[-1].function in KERNEL_STACK_ENDS, f"{tid} {t.comm}: {[str(f) for f in t.frames]}"
        if rel[-1].function.startswith("entry_SYSCALL"):
            assert t.user_regs.get("cs") == 0x33 and t.user_regs.get("rip"), t.text
        else:
            assert t.user_regs == {}
        checked += 1
    assert checked >= 40
    # the recognizable sleepers of the init script are there, asleep in nanosleep / a fifo read
    comms = {tasks[t].comm for t in asleep & set(tasks)}
    assert {"sleep", "cat", "kdbg-sleeper", "kthreadd"} <= comms
    sleeps = [t for t in tasks.values() if t.comm == "sleep" and t.pid in asleep]
    assert all(any(f.function == "do_nanosleep" for f in t.reliable_frames) for t in sleeps)


@pytest.mark.parametrize("crash_truth", CRASH_IDS, ids=dump_id, indirect=True)
def test_crash_report(crash_truth: Path) -> None:
    """The crash report names the task that triggered it (PID 1, the init shell that
    wrote to sysrq-trigger or /proc/kdbg_oops) and shows the path through the kernel;
    the NMI's report (see :func:`_check_nmi_report`) the task it interrupted."""
    crash = json.loads((crash_truth / "crash.json").read_text())
    o = parse_panic(_console(crash_truth))
    ps = {p["pid"]: p for p in _procs(crash_truth)}
    if crash["scenario"] == "nmi":
        _check_nmi_report(o, _console(crash_truth), ps)
        return
    assert not o.nmi and all(f.context == "TASK" for f in o.frames)
    assert o.pid == crash["crash_pid"] == 1 and o.comm == ps[1]["comm"] == "init"
    assert o.cpu in (0, 1)
    rel = [f for f in o.frames if f.reliable]
    names = [_base(f.function) for f in rel]
    assert names[-1] == "entry_SYSCALL_64_after_hwframe"
    assert o.user_regs["cs"] == 0x33 and o.user_regs["rip"]
    assert "proc_reg_write" in names and "vfs_write" in names and "ksys_write" in names
    if crash["scenario"] == "panic":
        assert (o.kind, o.message, o.rip) == ("panic", "sysrq triggered crash", None)
        assert names[:2] in (["dump_stack", "panic"], ["dump_stack_lvl", "panic"])
        assert names[2:5] == ["sysrq_handle_crash", "__handle_sysrq", "write_sysrq_trigger"]
        assert o.panic_frames == o.frames
    else:
        assert (o.kind, o.message) == ("oops", "Fatal exception")
        assert o.bug.startswith("BUG: kernel NULL pointer dereference, address: 0000000000000000")
        assert o.rip is not None and (o.rip.function, o.rip.module) == ("kdbg_oops_crash", MODULE_NAME)
        assert 0 < o.rip.offset < o.rip.size
        assert o.regs["cr2"] == 0 and o.regs["cs"] == 0x10 and o.regs["rsp"] >> 63
        # the module's own frames, each tagged with the module, then the write path
        assert [_base(f.function) for f in rel[:3]] == MODULE_FUNCTIONS
        assert all(f.module == MODULE_NAME for f in rel[:3])
        assert all(f.module is None for f in rel[3:])
        assert names[3] == "proc_reg_write"
        assert o.panic_frames == []  # panic() after an oops does not dump the stack again
        # the RIP lies in the module's text, as /proc/modules and kallsyms placed it
        m = re.search(rf"^{MODULE_NAME} (\d+) .* Live (0x[0-9a-f]+)", (crash_truth / "modules").read_text(), re.M)
        assert m
        base, size = int(m[2], 16), int(m[1])
        ks = re.search(r"^([0-9a-f]+) t kdbg_oops_crash\t", (crash_truth / "kallsyms").read_text(), re.M)
        assert ks and base <= int(ks[1], 16) + o.rip.offset < base + size


NMI_HANDLER = ("nmi_panic", "unknown_nmi_error", "default_do_nmi", "exc_nmi")
"""What a panic in NMI context runs through between ``panic`` and the NMI entry code."""
IDLE_TASK = ("do_idle", "cpu_startup_entry")
IDLE_ENDS = ("secondary_startup_64", "secondary_startup_64_no_verify", "common_startup_64")
"""Where an idle task's stack ends: the boot CPU's and the others' entry code (6.12: one)."""


def _check_nmi_report(o: Oops, console: str, ps: Dict[int, Dict[str, object]]) -> None:
    """The NMI scenario's report: every CPU took the host's NMI (``Uhhuh`` line each),
    the panicking one printed its trace in two parts: the ``<NMI>`` part from
    ``dump_stack`` through the NMI handler to the NMI entry code, then the registers of
    the context it interrupted (a kernel RIP on that context's stack), then that
    context's frames (the idle task's, from its idle loop to the CPU's start)."""
    assert (o.kind, o.message, o.nmi) == ("panic", "NMI: Not continuing", True)
    uhhuh = re.findall(r"Uhhuh\. NMI received for unknown reason [0-9a-f]{2} on CPU (\d)\.", console)
    # unknown_nmi_error() prints this line with pr_emerg_ratelimited(), whose ratelimit
    # takes a trylock in NMI context: with both CPUs in the NMI at once (apic_extnmi=all)
    # a line can be dropped, and one 6.12 boot printed none at all. So each line printed
    # names a different CPU, and the panicking CPU's, when printed, is the report's cause.
    assert set(uhhuh) <= {"0", "1"} and len(uhhuh) == len(set(uhhuh)), uhhuh
    if str(o.cpu) in uhhuh:
        assert o.bug.startswith("Uhhuh. NMI received") and o.bug.endswith(f" on CPU {o.cpu}.")
    contexts = [f.context for f in o.frames]
    assert contexts[0] == "NMI" and "TASK" in contexts
    first_task = contexts.index("TASK")
    assert set(contexts[:first_task]) == {"NMI"} and "NMI" not in contexts[first_task:], contexts
    nmi = [_base(f.function) for f in o.frames[:first_task] if f.reliable]
    assert nmi[:2] in (["dump_stack", "panic"], ["dump_stack_lvl", "panic"]), nmi
    assert [n for n in nmi if n in NMI_HANDLER][:1] == ["nmi_panic"] and "exc_nmi" in nmi, nmi
    assert nmi[-1] in ("end_repeat_nmi", "nmi"), nmi
    # the interrupted context: its registers, printed at the end of the <NMI> part
    assert o.rip is not None and o.rip.reliable and o.rip.context != "NMI"
    assert o.rip_index is not None and 0 < o.rip_index <= first_task
    assert o.regs["cs"] == 0x10 and o.regs["ss"] == 0x18 and o.regs["rsp"] >> 63 and o.regs["rbp"]
    assert o.user_regs == {}
    task = [_base(f.function) for f in o.frames[first_task:] if f.reliable]
    assert o.cpu in (0, 1) and task
    if o.pid == 0:  # the guest idled (init asleep): the NMI hit the idle task
        assert o.comm == f"swapper/{o.cpu}"
        assert all(n in task for n in IDLE_TASK), task
        assert task[-1] in IDLE_ENDS, task
    else:
        assert o.pid in ps and comm_matches(str(ps[o.pid]["comm"]), o.comm)


@pytest.mark.parametrize("crash_truth", CRASH_IDS, ids=dump_id, indirect=True)
def test_parsers_do_not_need_the_markers(crash_truth: Path) -> None:
    """Without the guest's KDBG-* marker lines (any other console log) the parsers find
    the same sysrq-t tasks and the same crash report."""
    text = _console(crash_truth)
    bare = "\n".join(ln for ln in text.splitlines() if "KDBG-" not in ln)
    a, b = parse_panic(text), parse_panic(bare)
    assert (a.rip_index, a.nmi) == (b.rip_index, b.nmi)
    assert (a.kind, a.pid, a.comm, a.cpu, a.rip, a.frames, a.regs, a.user_regs, a.bug, a.message) == (
        b.kind,
        b.pid,
        b.comm,
        b.cpu,
        b.rip,
        b.frames,
        b.regs,
        b.user_regs,
        b.bug,
        b.message,
    )
    assert b.text.splitlines()[0].startswith(("BUG: ", "Kernel panic - not syncing", "Uhhuh. NMI received"))
    ta, tb = parse_sysrq_t(text), parse_sysrq_t(bare)
    assert sorted(ta) == sorted(tb) and all(ta[p].frames == tb[p].frames for p in ta)


@pytest.mark.parametrize("crash_dump", CRASH_DUMP_IDS, ids=dump_id, indirect=True)
def test_crash_dump_opens_with_kdbg(crash_dump) -> None:  # type: ignore[no-untyped-def]
    """Every crash dump opens: the kernel of the truth, both CPUs' PRSTATUS notes."""
    prog = kdbg.open_core(crash_dump.path)
    assert prog["init_task"].comm.string_() == b"swapper/0"
    release = (crash_dump.truth / "uname").read_text().strip()
    assert prog["init_uts_ns"].name.release.string_().decode() == release == crash_dump.release
    phys = open_physical(str(crash_dump.path))
    try:
        assert len(phys.prstatus) == 2
    finally:
        phys.close()


# drgn names the label entry_SYSCALL_64_after_hwframe (kallsyms' nearest symbol) by the
# function around it in the ELF symbol table
_DRGN_NAMES = {"entry_SYSCALL_64_after_hwframe": "entry_SYSCALL_64"}

_DRGN_TASKS = (
    "[(t.pid.value_(), t.nvcsw.value_(), t.nivcsw.value_(), [f.name or hex(f.pc) for f in prog.stack_trace(t)])"
    " for t in __import__('drgn.helpers.linux.pid', fromlist=['x']).for_each_task(prog) if not t.exit_state]"
)


def _subsequence(short: List[str], long: List[str]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


@pytest.mark.parametrize("crash_truth", CRASH_IDS, ids=dump_id, indirect=True)
def test_dump_stacks_are_the_console_stacks(crash_truth: Path) -> None:
    """The premise of the crash dumps, checked with drgn + Debian's DWARF vmlinux on the
    ``elf-paging`` dump: a task that stayed asleep across the sysrq-t and until the dump
    (:func:`tests.dump_moment.sysrq_t_still_true`: its ``nvcsw``/``nivcsw`` in the dump
    equal the ``after`` counts, and it is on no CPU at the dump) has in the dump the stack
    the console printed: the kernel's reliable frames, in order, among drgn's (which adds
    inlined functions such as ``context_switch`` and the user-mode frame)."""
    from vmcores.oracle import Query, ask_drgn

    info = json.loads((crash_truth.parent / "dumps.json").read_text())
    elf = next(dump_from_json(Dump, d, crash_truth.parent).path for d in info["dumps"] if d["form"] == "elf-paging")
    rows = ask_drgn(info["suite"], elf, [Query("tasks", _DRGN_TASKS)]).records["tasks"]["value"]
    tasks, expected = sysrq_t_still_true(crash_truth, drgn_view(info["suite"], elf))
    assert {r[0] for r in rows} >= set(tasks) - {1}  # drgn sees every task the console listed
    assert {"sleep", "kdbg-sleeper", "cat"} <= {tasks[pid].comm for pid in expected}
    compared = set()
    for pid, _nvcsw, _nivcsw, names in rows:
        if pid in expected:
            console = [_DRGN_NAMES.get(_base(f.function), _base(f.function)) for f in tasks[pid].reliable_frames]
            assert _subsequence(console, names), f"{pid} {tasks[pid].comm}: console {console}, dump {names}"
            compared.add(pid)
    assert compared == expected


NMI_SELF_STOP = ("nmi_panic_self_stop", "panic_smp_self_stop")
"""Where a CPU that takes an NMI while another one panics parks (``nmi_panic``)."""
CPU_ENTRY_AREA = (0xFFFFFE0000000000, 0xFFFFFE8000000000)
"""x86-64 (4-level) ``cpu_entry_area`` range: the CPUs' exception (NMI, #DF, ...) stacks."""


def _prstatus(elf: Path) -> Dict[int, Dict[str, int]]:
    """``{cpu: {rip, rsp, cs}}`` from the NT_PRSTATUS notes of a QEMU ELF dump (read with
    pyelftools; QEMU numbers ``pr_pid`` = CPU + 1)."""
    from elftools.elf.elffile import ELFFile

    out: Dict[int, Dict[str, int]] = {}
    with open(elf, "rb") as f:
        for seg in ELFFile(f).iter_segments():
            if seg["p_type"] != "PT_NOTE":
                continue
            for note in seg.iter_notes():
                if note["n_type"] == "NT_PRSTATUS":
                    desc = note["n_desc"]
                    (pid,) = struct.unpack_from("<I", desc, 32)
                    regs = struct.unpack_from("<27Q", desc, 112)  # struct user_regs_struct
                    out[pid - 1] = {"rip": regs[16], "cs": regs[17], "rsp": regs[19]}
    return out


def _kallsyms_name(truth: Path, addr: int) -> str:
    best, name = 0, "?"
    for line in (truth / "kallsyms").read_text().splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] in "tTwW":
            a = int(f[0], 16)
            if best < a <= addr:
                best, name = a, f[2]
    return name


@pytest.mark.parametrize("crash_truth", [i for i in CRASH_IDS if i[1] == "nmi"], ids=dump_id, indirect=True)
def test_nmi_dump_cpus_are_on_their_nmi_stacks(crash_truth: Path) -> None:
    """At the dump both CPUs are still in NMI context (QEMU's PRSTATUS notes, symbolized
    with the guest's kallsyms): the panicking CPU (the console's ``CPU:``) loops in
    ``panic()`` on its NMI stack, the other one, which took the same NMI, parks in
    ``nmi_panic_self_stop`` on its own; both stacks in the ``cpu_entry_area``.  The
    interrupted context's RSP (the console's registers) is below neither."""
    info = json.loads((crash_truth.parent / "dumps.json").read_text())
    elf = next(dump_from_json(Dump, d, crash_truth.parent).path for d in info["dumps"] if d["form"] == "elf")
    o = parse_panic(_console(crash_truth))
    cpus = _prstatus(elf)
    assert sorted(cpus) == [0, 1]
    for cpu, regs in cpus.items():
        assert regs["cs"] == 0x10 and CPU_ENTRY_AREA[0] <= regs["rsp"] < CPU_ENTRY_AREA[1], (cpu, regs)
    assert cpus[0]["rsp"] >> 12 != cpus[1]["rsp"] >> 12  # each CPU its own NMI stack
    other = cpus[1 - o.cpu]
    assert _kallsyms_name(crash_truth, other["rip"]) in NMI_SELF_STOP
    assert not CPU_ENTRY_AREA[0] <= o.regs["rsp"] < CPU_ENTRY_AREA[1]
