"""Build vmcores of *crashed* Debian kernels whose guests printed their own stack traces.

The reference dumps of :mod:`vmcores.build` are of a healthy, idle guest.  These are of
guests that crashed, so a stack-trace unwinder can be checked against the kernel's own
ORC unwinder: before crashing, every guest prints every task's stack on the serial
console (``echo t > /proc/sysrq-trigger``) and records how often each task was switched
out before and after that, then crashes in one of three *scenarios*:

``panic``
    ``echo c > /proc/sysrq-trigger`` from PID 1 (a NULL write in ``sysrq_handle_crash``;
    with ``oops=panic`` the oops panics).
``oops``
    a write to ``/proc/kdbg_oops``, created by the tiny out-of-tree module
    ``vmcores/oops_module/kdbg_oops.c``: ``write -> vfs_write -> proc_reg_write ->
    kdbg_oops_write -> kdbg_oops_level1 -> kdbg_oops_level2 -> kdbg_oops_crash`` writes
    through a NULL pointer.  The module is built against Debian's own
    ``linux-headers-<release>`` of that exact kernel with the host's gcc.
``nmi``
    what ``virsh inject-nmi`` does to a hung guest: PID 1 sets
    ``/proc/sys/kernel/unknown_nmi_panic``, prints ``KDBG-NMI-READY`` and sleeps; 2 s
    later the host injects an NMI (QMP ``inject-nmi``; ``apic_extnmi=all`` so every CPU
    takes it, as under KVM).  The kernel panics in NMI context (``Uhhuh. NMI received for
    unknown reason ...``, ``Kernel panic - not syncing: NMI: Not continuing``): the
    panicking CPU's trace runs from the ``<NMI>`` stack into the interrupted idle task;
    the other CPU parks in ``nmi_panic_self_stop`` on its NMI stack.

The kernel boots with ``panic=0`` (the panic loops forever), so once the console shows
``---[ end Kernel panic`` (for ``nmi`` on 5.10, which never prints it: silence after the
panic line) the host stops the guest over QMP and dumps it
(:func:`vmcores.dump_forms.qemu_dumps`): QEMU ELF (``elf``), ELF with virtual addresses
(``elf-paging``, what drgn's oracle reads), and kdump-zlib (``kdump-zlib-flat`` as QEMU
writes it, ``kdump-zlib`` reassembled with ``makedumpfile -R``).

Usage::

    python -m vmcores.crash [--suite S ...] [--scenario panic|oops|nmi ...] [--force]

Layout: ``<cache>/vmcores/crash/<suite>-<scenario>/`` holds the dumps, ``truth/`` and
``dumps.json``; ``<cache>/vmcores/crash/manifest.json`` lists them all;
``<cache>/vmcores/crash/module/<release>/`` the built module (or why it failed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, List, Optional, Sequence, Tuple

from vmcores.build import _unpack_truth, built_from_current_kernel
from vmcores.crash_module import (
    LOCKUP_MODULE,
    MODULE_NAME,
    MODULE_RECIPE,
    ModuleBuildError,
    _module_source_hash,
    build_module,
    crash_root,
    module_dir,
)
from vmcores.debian import (
    SUITES,
    FetchError,
    debian_kernel,
)
from vmcores.dump_forms import qemu_dumps
from vmcores.dump_index import (
    BuildError,
    Dump,
    cached_dumps,
    dump_from_json,
    dump_json,
    finish_build,
    rebased_json,
)
from vmcores.initramfs import FW_CFG_MODULES, INIT_PROC_STAT, INIT_SLEEPERS, INIT_TRUTH, make_initramfs
from vmcores.qemu import BOOT_ATTEMPTS, BOOT_TIMEOUT, DEFAULT_MEMORY, KERNEL_CMDLINE, Guest

SCENARIOS: Tuple[str, ...] = ("panic", "oops", "nmi")
"""Crash scenarios: ``panic`` (sysrq ``c``), ``oops`` (NULL write in a module) and ``nmi``
(an NMI injected by the host into an idle guest with ``unknown_nmi_panic`` set)."""

LOCKUP_SCENARIOS: Tuple[str, ...] = ("hung", "softlockup")
"""Crashes the kernel's watchdogs raise (built only when asked for, not by default):
``hung`` (PID 1 sleeps uninterruptibly in ``kdbg_lockup``, the hung-task detector panics)
and ``softlockup`` (PID 1 spins in ``kdbg_lockup`` with preemption off, the soft-lockup
detector panics from its timer interrupt)."""

ALL_SCENARIOS: Tuple[str, ...] = SCENARIOS + LOCKUP_SCENARIOS

CRASH_FORMS: Tuple[str, ...] = ("elf", "elf-paging", "kdump-zlib-flat", "kdump-zlib")
"""Forms every crash dump is written in (all of the same stopped guest)."""

CRASH_CMDLINE = "panic=0 loglevel=8"
"""Appended to :data:`vmcores.qemu.KERNEL_CMDLINE` (the later ``panic=`` wins): the panic
loops forever instead of rebooting, and the console prints every message level."""

SCENARIO_CMDLINE: Dict[str, str] = {"nmi": "apic_extnmi=all"}
"""More kernel parameters per scenario.  ``apic_extnmi=all``: QEMU's ``inject-nmi`` raises
LINT1 on every CPU, which Linux by default leaves unmasked on the boot CPU only; under KVM
the NMI reaches every vCPU regardless (``KVM_NMI``), so this makes TCG guests see what a
``virsh inject-nmi`` does to a KVM guest: every CPU takes the NMI.  The watchdog scenarios set ``hung_task_panic=1`` and
``softlockup_panic=1`` with their sysctls in the trigger (:data:`TRIGGERS`), not on the
command line: a TCG guest on a loaded host can stall long enough during boot for a
spurious soft lockup, which then must not panic it.  (Every x86 guest boots with
``no_timer_check``: :data:`vmcores.qemu.KERNEL_CMDLINE`.)"""

CRASHING = "KDBG-CRASHING"
"""Printed (through /dev/kmsg) by the guest right before it triggers the crash."""
SYSRQ_T_BEGIN = "KDBG-SYSRQ-T-BEGIN"
SYSRQ_T_END = "KDBG-SYSRQ-T-END"
"""Written to /dev/kmsg around ``echo t > /proc/sysrq-trigger`` (the console block between
them is the sysrq-t output)."""
PANIC_END = "---[ end Kernel panic"
PANIC_LINE = "Kernel panic - not syncing"
PANIC_QUIET = 10.0
"""Seconds of console silence after the panic line that end an ``nmi`` crash whose end line
never reaches the console (5.10, see :func:`_wait_panic`)."""
PANIC_TIMEOUT = 180.0
"""Seconds from the crash marker until the console must show the end of the panic."""
NMI_READY = "KDBG-NMI-READY"
"""Printed (through /dev/kmsg) by the ``nmi`` guest once ``unknown_nmi_panic`` is set; PID 1
then only sleeps.  The host waits :data:`NMI_SETTLE` seconds more and injects the NMI."""
NMI_SETTLE = 2.0
NMI_READY_TIMEOUT = 60.0

SCENARIO_MODULES: Dict[str, str] = {"oops": MODULE_NAME, "hung": LOCKUP_MODULE, "softlockup": LOCKUP_MODULE}
MODULE_SCENARIOS: Tuple[str, ...] = tuple(SCENARIO_MODULES)
"""Scenarios whose guest loads a module: their ``dumps.json`` records it (``module``, with
its ``source`` hash, :func:`_module_source_hash`) and a dump of another source is rebuilt."""

#: How each scenario crashes the guest (run by PID 1, the busybox ``init`` shell) and a
#: string the console's oops report must contain for the crash to be the intended one.
TRIGGERS: Dict[str, Tuple[str, str]] = {
    "panic": ("echo c > /proc/sysrq-trigger", "sysrq_handle_crash"),
    "oops": ("echo 1 > /proc/kdbg_oops", "kdbg_oops_crash"),
    "nmi": ("echo 1 > /proc/sys/kernel/unknown_nmi_panic", "NMI: Not continuing"),
    # the watchdogs panic and their thresholds drop only now, so nothing fires while the truth is recorded
    "hung": ("echo 1 > /proc/sys/kernel/hung_task_panic; echo 2 > /proc/sys/kernel/hung_task_timeout_secs; "
             "echo 1 > /proc/kdbg_hang", "kdbg_hang_wait"),
    "softlockup": ("echo 1 > /proc/sys/kernel/softlockup_panic; echo 1 > /proc/sys/kernel/watchdog_thresh; "
                   "echo 1 > /proc/kdbg_spin", "kdbg_spin_loop"),
}

#: The PID of the task that panics, where it is known in advance (``crash.json`` ``crash_pid``):
#: ``None`` for ``nmi`` (whatever the NMI interrupted) and ``hung`` (``khungtaskd``; the task
#: that hung is PID 1, ``crash.json`` ``blocked_pid``).
CRASH_PIDS: Dict[str, Optional[int]] = {"nmi": None, "hung": None}

#: What PID 1 prints after the trigger: for ``panic``/``oops`` it should never get there;
#: for ``nmi`` the guest is ready for the host's NMI and goes idle.
AFTER_TRIGGER: Dict[str, str] = {
    "panic": 'echo "kdbg-init: still alive after the crash trigger" > /dev/kmsg',
    "oops": 'echo "kdbg-init: still alive after the crash trigger" > /dev/kmsg',
    "hung": 'echo "kdbg-init: still alive after the crash trigger" > /dev/kmsg',
    "softlockup": 'echo "kdbg-init: still alive after the crash trigger" > /dev/kmsg',
    "nmi": f'echo "{NMI_READY}" > /dev/kmsg',
}

# The guest's /init after vmcores.initramfs.INIT_COMMON (mounts, modules, send()).
# Switch counts are read with shell builtins only, so no helper process runs in between.
INIT_CRASH = r"""
echo 8 > /proc/sys/kernel/printk
@LOAD@
""" + INIT_SLEEPERS + INIT_TRUTH + INIT_PROC_STAT + r"""
switches() {  # pid tid voluntary nonvoluntary comm, for every task (kernel threads too)
    for s in /proc/[0-9]*/task/[0-9]*/status; do
        c=; v=; n=
        while read -r k val; do
            case $k in
                Name:) c=$val ;;
                voluntary_ctxt_switches:) v=$val ;;
                nonvoluntary_ctxt_switches:) n=$val ;;
            esac
        done < $s 2>/dev/null
        t=${s%/status}; p=${s#/proc/}
        [ -n "$v" ] && echo "${p%%/*} ${t##*/} $v $n $c"
    done
}
@SYSRQ_T@
dmesg > $T/dmesg
tar -czf /tmp/truth.tgz -C $T .
send /tmp/truth.tgz
rm -rf /tmp/truth.tgz $T
sleep 1
echo "@CRASHING@ @TRIGGER@" > /dev/kmsg
@TRIGGER@
@AFTER@
while :; do sleep 100000; done
"""


INIT_SYSRQ_T = r"""
switches > $T/switches-before
echo "@SYSRQ_T_BEGIN@" > /dev/kmsg
echo t > /proc/sysrq-trigger
echo "@SYSRQ_T_END@" > /dev/kmsg
switches > $T/switches-after
"""
"""Every task's stack on the console (sysrq-t) between two switch-count snapshots: the truth
of the stack-trace tests, recorded by the scenarios of :data:`SCENARIOS`.  The watchdog
scenarios (:data:`LOCKUP_SCENARIOS`) record neither it nor ``kallsyms``: their truth is the
watchdog's report, and without the ~3 MB of both their guests reach the crash in time on a
loaded host (they also get :data:`LOCKUP_BOOT_TIMEOUT`)."""

LOCKUP_BOOT_TIMEOUT = 3 * BOOT_TIMEOUT
"""Seconds a watchdog scenario's guest has to reach its crash (each boots three kernels twice
in a test session, often beside other QEMU guests)."""


@dataclasses.dataclass(frozen=True)
class CrashDump(Dump):
    """One vmcore of a crashed guest.

    ``scenario`` is ``panic``, ``oops`` or ``nmi`` (see the module doc); ``form`` and ``tool`` are as
    in :class:`vmcores.dump_index.Dump`; ``truth`` is the directory with what the guest
    recorded before crashing (``uname``, ``kallsyms``, ``modules``, ``proc-stat``,
    ``switches``, ``console.log``, ``crash.json``, ...; see ``vmcores/README.md``).
    """

    scenario: str = ""


def crash_dir(suite: str, scenario: str) -> Path:
    """The directory of one suite's scenario: ``<cache>/vmcores/crash/<suite>-<scenario>``."""
    return crash_root() / f"{suite}-{scenario}"


# --------------------------------------------------------------------------- build


def _init_script(scenario: str) -> str:
    trigger = TRIGGERS[scenario][0]
    name = SCENARIO_MODULES.get(scenario, MODULE_NAME)
    load = f"insmod /lib/modules/{name}.ko || echo 'kdbg-init: insmod {name} failed'"
    script = INIT_CRASH.replace("@SYSRQ_T@", "" if scenario in LOCKUP_SCENARIOS else INIT_SYSRQ_T)
    if scenario in LOCKUP_SCENARIOS:
        script = script.replace("cat /proc/kallsyms > $T/kallsyms\n", "")
    return (
        script.replace("@LOAD@", load if scenario in MODULE_SCENARIOS else "")
        .replace("@SYSRQ_T_BEGIN@", SYSRQ_T_BEGIN)
        .replace("@SYSRQ_T_END@", SYSRQ_T_END)
        .replace("@CRASHING@", CRASHING)
        .replace("@TRIGGER@", trigger)
        .replace("@AFTER@", AFTER_TRIGGER[scenario])
    )


def _read_switches(path: Path) -> Dict[Tuple[int, int], Tuple[int, int, str]]:
    out: Dict[Tuple[int, int], Tuple[int, int, str]] = {}
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        f = line.split(" ", 4)
        if len(f) >= 4 and f[0].isdigit() and f[1].isdigit() and f[2].isdigit() and f[3].isdigit():
            out[(int(f[0]), int(f[1]))] = (int(f[2]), int(f[3]), f[4] if len(f) > 4 else "")
    return out


def boot_crash_and_dump(
    boot: Callable[[], ContextManager[Guest]],
    outdir: Path,
    expect: str,
    info: Dict[str, Any],
    say: Callable[[str], None],
    nmi: bool = False,
) -> List[Tuple[str, str, Path]]:
    """Boot a crash guest (``boot()``, up to :data:`BOOT_ATTEMPTS` times), take the truth
    it sent, wait for its panic (*expect*; an NMI injected first if *nmi*), write QEMU's
    dumps into *outdir* and its truth into ``outdir/truth`` (with ``switches`` and the
    console).  The x86 and arm64 crash builds (:mod:`vmcores.arm64_crash`) share it."""
    made: List[Tuple[str, str, Path]] = []
    last: Optional[BuildError] = None
    payload = b""
    for attempt in range(1, BOOT_ATTEMPTS + 1):
        made = []
        t_boot = time.monotonic()
        with boot() as g:
            say(f"guest recorded its truth after {time.monotonic() - t_boot:.1f}s; crashing")
            payload = g.received()
            try:
                if nmi:
                    _inject_nmi(g)
                _tail, info["panic_end_printed"] = _wait_panic(g, expect, PANIC_TIMEOUT, quiet_end=nmi)
            except BuildError as e:
                last = e
                say(f"attempt {attempt}/{BOOT_ATTEMPTS}: {str(e).splitlines()[0]}")
                continue
            time.sleep(1.0)
            assert g.qmp is not None
            made, failed, _formats = qemu_dumps(g.qmp, outdir, kdump_forms=("kdump-zlib",))
            info["failed"].update(failed)
        last = None
        break
    if last is not None:
        raise last
    truth = outdir / "truth"
    work = outdir / "guest"
    _unpack_truth(payload, truth)
    write_switches(truth)
    shutil.copy(work / "console.log", truth / "console.log")
    (work / "initramfs.cpio").unlink(missing_ok=True)
    return made


def finish_crash_build(
    outdir: Path,
    final: Path,
    info: Dict[str, Any],
    made: List[Tuple[str, str, Path]],
    t0: float,
    say: Callable[[str], None],
    crash_extra: Optional[Dict[str, Any]] = None,
) -> List[CrashDump]:
    """The end of a crash build (x86's :func:`build_crash` and :mod:`vmcores.arm64_crash`'s):
    check that the guest ran ``info["release"]`` (its ``uname -r``), write
    ``truth/crash.json`` (the build's ``suite``, ``scenario``, ``release``, ``trigger``,
    ``crash_pid``, ``cmdline``, ``panic_end_printed``, and *crash_extra*), record the
    dumps *made* (:func:`boot_crash_and_dump`) and the seconds since *t0* in *info*, and put
    *outdir* in place of *final* (:func:`vmcores.dump_index.finish_build`).  Returns the dumps
    as they are in *final*."""
    truth = outdir / "truth"
    release = (truth / "uname").read_text().strip()
    if release != info["release"]:
        raise BuildError(f"guest uname -r {release!r} != package release {info['release']!r}")
    keys = ("suite", "scenario", "release", "trigger", "crash_pid", "cmdline", "panic_end_printed")
    crash = {**{k: info[k] for k in keys}, **(crash_extra or {})}
    (truth / "crash.json").write_text(json.dumps(crash, indent=1) + "\n")
    dumps = [CrashDump(suite=info["suite"], release=release, form=f, tool=t, path=final / p.name,
                       truth=final / "truth", scenario=info["scenario"]) for f, t, p in made]
    info["build_seconds"] = round(time.monotonic() - t0, 1)
    info["dumps"] = [{**dump_json(d, final), "size": p.stat().st_size}
                     for d, (_f, _t, p) in zip(dumps, made, strict=True)]
    finish_build(outdir, final, info)
    say(f"done: {len(dumps)} dumps ({info['build_seconds']}s)")
    return dumps


def write_switches(truth: Path) -> None:
    """Join ``switches-before`` and ``switches-after`` into ``switches``: one line per task,
    ``pid tid vol_before nonvol_before vol_after nonvol_after comm`` sorted by tid (``-``
    where a task exists in only one of the two snapshots)."""
    before = _read_switches(truth / "switches-before")
    after = _read_switches(truth / "switches-after")
    lines = []
    for key in sorted(set(before) | set(after), key=lambda k: (k[1], k[0])):
        b = before.get(key)
        a = after.get(key)
        comm = (a or b or (0, 0, ""))[2]
        fb = f"{b[0]} {b[1]}" if b else "- -"
        fa = f"{a[0]} {a[1]}" if a else "- -"
        lines.append(f"{key[0]} {key[1]} {fb} {fa} {comm}\n")
    (truth / "switches").write_text("".join(lines))


def _wait_panic(g: Guest, expect: str, timeout: float, quiet_end: bool = False) -> Tuple[str, bool]:
    """Wait for the end of the panic on the console; return the console text after the
    crash marker and whether the panic's end line was printed.  With *quiet_end*, a panic
    line followed by :data:`PANIC_QUIET` seconds of silence ends it too (a panic in NMI
    context on 5.10 prints its last line into the per-CPU NMI printk buffer, which nothing
    flushes any more).  Raises BuildError if the guest dies, hangs or crashed elsewhere."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while True:
        text = g.console.read_text(errors="replace")
        tail = text[text.find(CRASHING) :] if CRASHING in text else ""
        if PANIC_END in tail:
            ended = True
            break
        if len(text) != size:
            size, since = len(text), time.monotonic()
        elif quiet_end and PANIC_LINE in tail and time.monotonic() - since > PANIC_QUIET:
            ended = False
            break
        if g.proc.poll() is not None:
            raise BuildError(f"QEMU exited during the crash ({g.proc.returncode}): {text[-1500:]}")
        if time.monotonic() > deadline:
            raise BuildError(f"timed out after {timeout:.0f}s waiting for {PANIC_END!r}; console:\n{text[-1500:]}")
        time.sleep(0.25)
    if expect not in tail:
        raise BuildError(f"the guest panicked, but not in {expect}: {tail[-1500:]}")
    return tail, ended


def _inject_nmi(g: Guest) -> None:
    """Wait for the guest's :data:`NMI_READY`, let it go idle, inject an NMI (QMP
    ``inject-nmi``: every CPU's LINT1, as ``virsh inject-nmi``)."""
    g.wait_console(NMI_READY, NMI_READY_TIMEOUT)
    time.sleep(NMI_SETTLE)
    assert g.qmp is not None
    g.qmp.execute("inject-nmi")


def build_crash(
    suite: str,
    scenario: str,
    memory: str = DEFAULT_MEMORY,
    log: Optional[Any] = None,
    extra_cmdline: str = "",
) -> List[CrashDump]:
    """Boot *suite*'s cloud kernel, record truth, crash it as *scenario* and dump it
    (*extra_cmdline* appended to the kernel's command line).

    Writes ``<cache>/vmcores/crash/<suite>-<scenario>/`` (built in a sibling directory,
    renamed into place when complete).  For ``oops``, a kernel the module cannot be built
    for gets a ``dumps.json`` with no dumps and the reason under ``failed``.
    """
    if scenario not in TRIGGERS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(ALL_SCENARIOS)}")
    say = log or (lambda msg: print(f"[vmcores crash {suite}-{scenario}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    kernel = debian_kernel(suite, "cloud")
    final = crash_dir(suite, scenario)
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    trigger, expect = TRIGGERS[scenario]
    cmdline = f"{CRASH_CMDLINE} {SCENARIO_CMDLINE.get(scenario, '')} {extra_cmdline}".strip()
    if scenario == "nmi":
        trigger += "; host: QMP inject-nmi"
    info: Dict[str, Any] = {
        "suite": suite,
        "scenario": scenario,
        "release": kernel.release,
        "package": f"{kernel.package}={kernel.version}",
        "memory": memory,
        "cmdline": f"{KERNEL_CMDLINE} {cmdline}",
        "trigger": trigger,
        "crash_pid": CRASH_PIDS.get(scenario, 1),
        "dumps": [],
        "failed": {},
    }
    extra: Dict[str, bytes] = {}
    if scenario in MODULE_SCENARIOS:
        try:
            ko = build_module(kernel, SCENARIO_MODULES[scenario])
        except (ModuleBuildError, FetchError) as e:  # a FetchError is not cached: retried next time
            say(str(e))
            info["failed"]["module"] = str(e)
            finish_build(outdir, final, info)
            return []
        extra[f"lib/modules/{ko.name}"] = ko.read_bytes()
        info["module"] = json.loads((ko.parent / "module.json").read_text())
    initramfs = make_initramfs(kernel, FW_CFG_MODULES, _init_script(scenario), extra=extra)
    work = outdir / "guest"
    timeout = LOCKUP_BOOT_TIMEOUT if scenario in LOCKUP_SCENARIOS else BOOT_TIMEOUT
    made = boot_crash_and_dump(
        lambda: Guest.boot(kernel, initramfs, work, CRASHING, timeout, memory=memory, cmdline=cmdline),
        outdir, expect, info, say, nmi=scenario == "nmi")
    return finish_crash_build(outdir, final, info, made, t0, say,
                              {"blocked_pid": 1} if scenario == "hung" else None)


def _load(suite: str, scenario: str) -> Optional[List[CrashDump]]:
    """The recorded dumps of one suite's scenario, or None when a build is needed."""
    f = crash_dir(suite, scenario) / "dumps.json"
    if not f.exists():
        return None
    try:
        info = json.loads(f.read_text())
        dumps = [dump_from_json(CrashDump, d, f.parent) for d in info["dumps"]]
        failed = info.get("failed", {})
    except (ValueError, KeyError, TypeError):
        return None
    if not built_from_current_kernel(suite, info):
        return None  # another kernel than the suite's now (a pinned ABI changed)
    if not dumps:
        # only a recorded module failure of the same source and recipe stands; anything else rebuilds
        name = SCENARIO_MODULES.get(scenario, MODULE_NAME)
        module = module_dir(info.get("release", "?"), name) / "module.json"
        if "module" in failed and module.exists():
            with_err = json.loads(module.read_text())
            if (with_err.get("source"), with_err.get("recipe")) == (_module_source_hash(name), MODULE_RECIPE) and \
                    with_err.get("error"):
                return []
        return None
    built = info.get("module") or {}
    if scenario in MODULE_SCENARIOS and (built.get("source"), built.get("recipe")) != (
            _module_source_hash(SCENARIO_MODULES[scenario]), MODULE_RECIPE):
        return None  # dumped with another kdbg_oops.c or build of it (or no record of it): rebuild
    if not all(d.path.exists() for d in dumps) or not (dumps[0].truth / "console.log").exists():
        return None
    return dumps


def _write_manifest() -> None:
    entries = []
    root = crash_root()
    for f in sorted(root.glob("*/dumps.json")):
        try:
            entry = json.loads(f.read_text())
        except ValueError:
            continue
        entry["dumps"] = [rebased_json(d, f.parent, root) for d in entry.get("dumps", [])]
        entries.append(entry)
    manifest = {  # paths relative to the manifest's directory, as each dumps.json's are
        "dumps": [d for e in entries for d in e["dumps"]],
        "builds": {f"{e['suite']}-{e['scenario']}": {k: v for k, v in e.items() if k != "dumps"} for e in entries},
    }
    path = crash_root() / "manifest.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)


def crash_dumps(
    suites: Optional[Sequence[str]] = None,
    scenarios: Optional[Sequence[str]] = None,
    forms: Optional[Sequence[str]] = None,
    build: bool = True,
    force: bool = False,
    memory: str = DEFAULT_MEMORY,
    extra_cmdline: str = "",
) -> List[CrashDump]:
    """Crash dumps of *suites* (default bookworm, trixie, bullseye) x *scenarios*
    (default ``panic``, ``oops``, ``nmi``), filtered by *forms* (:data:`CRASH_FORMS`);
    *memory* and *extra_cmdline* apply to a build (a cache root of their own keeps such
    dumps apart from the reference ones).

    Missing ones are built (``build=True``) or raise :class:`BuildError`.  A scenario that
    cannot be built for a kernel (the oops module, see ``dumps.json`` ``failed``) yields
    no dumps.  Builds are serialized per suite and scenario with a lock file.
    """
    keys = [(suite, scenario) for suite in suites or SUITES for scenario in scenarios or SCENARIOS]
    for _suite, scenario in keys:
        if scenario not in TRIGGERS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {', '.join(ALL_SCENARIOS)}")
    return cached_dumps(
        keys, lambda key: crash_root() / f".{key[0]}-{key[1]}.lock", lambda key: _load(*key),
        lambda key: build_crash(*key, memory=memory, extra_cmdline=extra_cmdline),
        lambda key: f"no {key[1]} crash dumps for {key[0]}: run python -m vmcores.crash",
        forms, build, force, (crash_root() / "manifest.json", _write_manifest))


def crash_failures(suite: str, scenario: str) -> Dict[str, str]:
    """What could not be made for one suite's scenario (``dumps.json`` ``failed``)."""
    f = crash_dir(suite, scenario) / "dumps.json"
    return dict(json.loads(f.read_text()).get("failed", {})) if f.exists() else {}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores.crash``."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.crash", description=__doc__.split("\n")[0])
    ap.add_argument("--suite", action="append", choices=SUITES, help=f"repeatable; default {', '.join(SUITES)}")
    ap.add_argument("--scenario", action="append", choices=ALL_SCENARIOS,
                    help=f"repeatable; default {', '.join(SCENARIOS)}")
    ap.add_argument("--force", action="store_true", help="rebuild even if the dumps exist")
    ap.add_argument("--memory", default=DEFAULT_MEMORY, help=f"guest RAM (default {DEFAULT_MEMORY})")
    args = ap.parse_args(argv)
    try:
        print_crash_dumps(args.suite, args.scenario, force=args.force, memory=args.memory)
    except BuildError as e:
        print(f"vmcores.crash: {e}", file=sys.stderr)
        return 1
    return 0


def print_crash_dumps(
    suites: Optional[Sequence[str]] = None,
    scenarios: Optional[Sequence[str]] = None,
    force: bool = False,
    memory: str = DEFAULT_MEMORY,
) -> None:
    """Build what is missing and print one line per crash dump (and per failure)."""
    for suite in suites or SUITES:
        for scenario in scenarios or SCENARIOS:
            for d in crash_dumps([suite], [scenario], force=force, memory=memory):
                print(f"{d.suite}\t{d.release}\t{d.scenario}\t{d.form:16}\t{d.path}\t[{d.tool}]")
            for what, why in crash_failures(suite, scenario).items():
                print(f"{suite}\t{scenario}\tFAILED {what}: {why}")


if __name__ == "__main__":
    sys.exit(main())

