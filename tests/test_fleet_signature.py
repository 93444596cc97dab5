"""Crash kinds and signatures (issue 17) on the crashed guests of ``vmcores.crash``.

Truth: what each guest printed when it crashed (its serial console: the panic line, the
oops report and the kernel's own Call Trace) and the scenario it was made to crash with.

* The kind kdbg reads from the dump's log is the scenario's, and the same as the kind of
  the guest's console log.
* The signature of kdbg's crashed stack equals the signature of the Call Trace the kernel
  printed (its reliable frames), on every form of the dump.
* The same scenario has the same signature on 5.10, 6.1 and 6.12 (one code path, three
  builds, three boots with their own KASLR slides); different scenarios differ.
* Each crash rebuilt from a second boot of the same kernel (its own KASLR slide, kept in
  the session cache under ``second-boot/``, so built once per cache) has the signature of
  the first.
* The same holds for the two watchdog scenarios (``vmcores.crash.LOCKUP_SCENARIOS``): a
  hung task, whose signature is the stack of the task the detector named (the console's
  ``INFO: task ... blocked`` and the trace printed under it), and a soft lockup, whose
  signature is the spinning code the timer interrupt found (the console's ``soft lockup``
  report).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from kdbg import target
from kdbg.fleet.kind import classify
from kdbg.fleet.signature import Signature, clean_name, signature
from kdbg.helpers.printk import get_dmesg
from kdbg.ui.report import crash_signature
from tests.conftest import SESSION_CACHE, resolve_crash_dump
from tests.stack_truth import console_lines, parse_hung_task, parse_panic
from vmcores.crash import ALL_SCENARIOS, LOCKUP_SCENARIOS, SCENARIOS, crash_dumps
from vmcores.debian import SUITES

#: The kind each scenario's crash is.
EXPECTED_KIND = {"panic": "sysrq", "oops": "null-deref", "nmi": "nmi", "hung": "hung-task",
                 "softlockup": "soft-lockup"}

#: The forms each crash is read from: QEMU's paging ELF and its kdump.
FORMS = ("elf-paging", "kdump-zlib")

_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")


def _kdbg_signature(suite: str, scenario: str, form: str, path: Optional[Path] = None) -> Tuple[str, Signature]:
    prog = target.open_core(str(path or resolve_crash_dump(suite, scenario, form).path))
    try:
        kind = classify(get_dmesg(prog, timestamps=False).decode("utf-8", "replace").splitlines())
        sig, task = crash_signature(prog, kind)
        if kind.kind == "hung-task":  # the hung task the log named, not the detector
            assert int(task.pid) == parse_hung_task(_console(suite, scenario)).pid
        else:
            assert int(task.pid) == prog.crashed_thread().tid
        return kind.kind, sig
    finally:
        prog.close()


def _console(suite: str, scenario: str) -> str:
    return (resolve_crash_dump(suite, scenario, FORMS[0]).truth / "console.log").read_text(errors="replace")


def _console_signature(suite: str, scenario: str) -> Tuple[str, Signature]:
    text = _console(suite, scenario)
    kind = classify([_TIMESTAMP.sub("", line) for line in text.splitlines()])
    if kind.kind == "hung-task":
        # the trace the detector printed under its INFO line: the hung task's own
        hung = [(f.function, f.module) for f in parse_hung_task(text).frames if f.reliable]
        return kind.kind, signature(kind.kind, hung)
    # the report's RIP: and every register dump inside its trace (the code a timer
    # interrupt or NMI stopped, printed after the entry frame) where the console put them
    frames = [(f.function, f.module) for f in parse_panic(text).stack() if f.reliable]
    return kind.kind, signature(kind.kind, frames)


_SEEN: Dict[Tuple[str, str], str] = {}


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", ALL_SCENARIOS)
@pytest.mark.parametrize("suite", SUITES)
def test_kind_and_signature_equal_the_kernels_own(suite: str, scenario: str) -> None:
    console_kind, console_sig = _console_signature(suite, scenario)
    assert console_kind == EXPECTED_KIND[scenario]
    assert console_sig.frames, f"the console's trace gave no meaningful frame: {console_sig}"
    for form in FORMS:
        kind, sig = _kdbg_signature(suite, scenario, form)
        assert kind == console_kind, form
        assert sig == console_sig, f"{form}: kdbg {sig} != console {console_sig}"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("suite", SUITES)
def test_lockup_report_and_panic_trace_give_one_signature(suite: str) -> None:
    """The soft-lockup report and the panic it raises are printed by one timer interrupt,
    so both traces the console holds are of one moment and must give one signature: the
    report's (its RIP: and the registers inside its trace) and the panic's own, whose
    interrupted RIP: is printed inside its trace after the interrupt's entry frame. When
    the timer stops a softirq the report's trace has an <IRQ> part too, and its RIP: is the
    softirq's; only the register dump inside the trace names the spinning code then."""
    text = _console(suite, "softlockup")
    lines = text.splitlines()
    panic_at = max(i for i, line in enumerate(lines)
                   if _TIMESTAMP.sub("", line).startswith("Kernel panic - not syncing: softlockup"))
    panic = parse_panic("\n".join(lines[panic_at:]))
    assert panic.kind == "panic" and panic.interrupted, panic.text
    report_kind, report_sig = _console_signature(suite, "softlockup")
    panic_sig = signature(report_kind, [(f.function, f.module) for f in panic.stack() if f.reliable])
    assert report_sig == panic_sig
    assert report_sig.frames[0] == "kdbg_spin_loop [kdbg_lockup]", report_sig


@pytest.mark.timeout(1800)
def test_same_scenario_same_signature_different_scenarios_differ() -> None:
    digests = {(suite, scenario): _kdbg_signature(suite, scenario, FORMS[0])[1].digest
               for suite in SUITES for scenario in ALL_SCENARIOS}
    for scenario in ALL_SCENARIOS:
        assert len({digests[(suite, scenario)] for suite in SUITES}) == 1, scenario
    for suite in SUITES:
        assert len({digests[(suite, scenario)] for scenario in ALL_SCENARIOS}) == len(ALL_SCENARIOS), suite


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "clean"), [
    ("kdbg_oops_write.cold", "kdbg_oops_write"), ("no_context.constprop.0", "no_context"),
    ("tcp_v4_rcv.isra.0.part.12", "tcp_v4_rcv"), ("__handle_sysrq", "__handle_sysrq"),
    ("foo.llvm.1234567", "foo"),
])
def test_clean_name(name: str, clean: str) -> None:
    assert clean_name(name) == clean


#: The kernel's own words for crashes the guests do not make (from the kernel's sources:
#: kernel/watchdog.c, kernel/hung_task.c, arch/x86/kernel/traps.c, mm/oom_kill.c,
#: kernel/rcu/tree_stall.h, lib/bug.c), each ending in the panic those settings raise.
KERNEL_WORDS = {
    "soft-lockup": ["watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spin:123]",
                    "Kernel panic - not syncing: softlockup: hung tasks"],
    "hard-lockup": ["NMI watchdog: Watchdog detected hard LOCKUP on cpu 1",
                    "Kernel panic - not syncing: Hard LOCKUP"],
    "hung-task": ["INFO: task sleeper:95 blocked for more than 120 seconds.",
                  "Kernel panic - not syncing: hung_task: blocked tasks"],
    "gpf": ["general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP",
            "Kernel panic - not syncing: Fatal exception"],
    "bug": ["kernel BUG at mm/slub.c:400!", "invalid opcode: 0000 [#1] SMP NOPTI",
            "Kernel panic - not syncing: Fatal exception"],
    "bad-pointer": ["BUG: unable to handle page fault for address: ffffc90000abc000",
                    "Kernel panic - not syncing: Fatal exception"],
    "oom": ["Kernel panic - not syncing: Out of memory: compulsory panic_on_oom is enabled"],
    "rcu-stall": ["rcu: INFO: rcu_preempt self-detected stall on CPU", "Kernel panic - not syncing: RCU Stall"],
    "warning": ["WARNING: CPU: 0 PID: 1 at fs/inode.c:300 drop_nlink+0x2a/0x30",
                "Kernel panic - not syncing: kernel: panic_on_warn set ..."],
    "none": ["Linux version 6.1.0", "sysrq: Show State"],
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", sorted(KERNEL_WORDS))
def test_classify_the_kernels_words(kind: str) -> None:
    assert classify(KERNEL_WORDS[kind]).kind == kind


@pytest.mark.timeout(60)
def test_a_hung_task_names_the_task_that_hung() -> None:
    """The PID of the detector's line (kernel/hung_task.c's words), for hung tasks only."""
    assert classify(KERNEL_WORDS["hung-task"]).blocked_pid == 95
    assert all(classify(KERNEL_WORDS[k]).blocked_pid is None for k in KERNEL_WORDS if k != "hung-task")


@pytest.mark.timeout(60)
def test_console_lines_helper_is_the_console() -> None:
    """The console parser the truth side uses keeps every line of a report."""
    text = "[    1.000000] a\n[    2.000000] Kernel panic - not syncing: x\n"
    assert [ln for ln in console_lines(text) if ln] == ["a", "Kernel panic - not syncing: x"]


def _second_boot(suite: str, scenario: str) -> Path:
    """The elf-paging dump of a second boot of *suite*'s *scenario*, built in the session
    cache's ``second-boot`` root (sharing its kernel packages) the first time."""
    root = Path(str(SESSION_CACHE)) / "second-boot"
    root.mkdir(parents=True, exist_ok=True)
    kernels = root / "debian"
    if not kernels.exists():
        kernels.symlink_to(Path(str(SESSION_CACHE)) / "debian")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDBG_CACHE", str(root))
        dumps = crash_dumps([suite], [scenario], forms=["elf-paging"])
    assert dumps, f"{suite}-{scenario}: no second-boot dump"
    return dumps[0].path


def _kernel_offset(path: Path) -> int:
    prog = target.open_core(str(path))
    try:
        vmcoreinfo = prog.memory.vmcoreinfo
        assert vmcoreinfo is not None
        return vmcoreinfo.kerneloffset
    finally:
        prog.close()


def _same_on_a_second_boot(suite: str, scenarios: Tuple[str, ...]) -> None:
    offsets = []
    for scenario in scenarios:
        first = resolve_crash_dump(suite, scenario, FORMS[0]).path
        second = _second_boot(suite, scenario)
        assert _kdbg_signature(suite, scenario, FORMS[0], second) == _kdbg_signature(suite, scenario, FORMS[0])
        offsets.append((_kernel_offset(first), _kernel_offset(second)))
    # the boots really differ: KASLR put the kernel elsewhere at least once
    assert any(a != b for a, b in offsets), offsets


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("suite", SUITES)
def test_a_second_boot_has_the_same_signature(suite: str) -> None:
    _same_on_a_second_boot(suite, SCENARIOS)


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("suite", SUITES)
def test_a_second_boot_of_a_lockup_has_the_same_signature(suite: str) -> None:
    _same_on_a_second_boot(suite, LOCKUP_SCENARIOS)
