"""The ``bt`` command against what the crashed guests printed on their own consoles.

For every crash dump (:mod:`vmcores.crash`: sysrq ``c`` panics, a NULL write in the
``kdbg_oops`` module, and a panic from an NMI injected into the idle guest, on 5.10, 6.1
and 6.12, ELF and kdump forms):

* plain ``bt`` shows the task the console's report names (``CPU: N PID: N Comm: X``), in
  crash's header line;
* its frame lines hold the console's own Call Trace (the reliable frames, as the kernel
  printed them: ``function+0xoff/0xsize [module]``) in order, down to the syscall entry;
* for the oops, the page fault's register block is printed line for line as the kernel's
  ``__show_regs`` printed it (``RIP: 0010:...``, ``RSP:``, ``RAX:`` ... ``R15:``), for the
  NMI the interrupted idle task's block (the trace crosses from the NMI stack to the task
  stack there), and the user-mode block ends a syscall's trace as the console's
  ``RIP: 0033:`` block does;
* ``foreach bt --json`` lists every task the guest listed, and for each task that stayed asleep
  from the guest's ``echo t > /proc/sysrq-trigger`` to the crash, its frames are the
  frames the guest printed without ``?``. Stayed asleep, from independent records only
  (:func:`tests.dump_moment.sysrq_t_still_true`): the guest's context-switch counts of
  the task did not change across the sysrq-t, drgn reads the same counts in the dump
  (a task may run between the guest's last reading and the crash: RCU's kthreads do),
  and it is on no CPU at the dump; every such task is compared.
* on the panic dumps, ``bt -p`` and ``bt -c CPU`` show the task the report names, ``bt -r``
  the whole kernel stack as Debian's crash 8.0.2 prints it (symbol cells held to the
  guest's kallsyms); ``bt -l`` (DWARF's line numbers) is refused.

Bad requests are one line each and exit 1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.cli_support import kdbg_commands, run_kdbg
from tests.conftest import resolve_crash_dump
from tests.dump_moment import drgn_view, sysrq_t_still_true
from tests.kernel_names import kallsyms_addresses
from tests.stack_truth import NMI_LINES, parse_panic
from vmcores.build import reference_dumps
from vmcores.crash import CrashDump, crash_dumps
from vmcores.crash_oracle import ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM

ROOT = Path(__file__).resolve().parent.parent
CASES = [(suite, scenario, form) for suite in ("bookworm", "trixie", "bullseye")
         for scenario in ("panic", "oops", "nmi") for form in ("elf", "kdump-zlib")]
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


kdbg = run_kdbg


def dump_of(suite: str, scenario: str, form: str) -> CrashDump:
    dumps = crash_dumps(suites=[suite], scenarios=[scenario], forms=[form])
    assert dumps, f"no {suite} {scenario} {form} crash dump was built"
    return dumps[0]


def shown_frames(out: str) -> List[str]:
    """The ``function+0xoff/0xsize [module]`` of each frame line of a ``bt`` output."""
    return [m.group(1) for m in re.finditer(r"^ ?#\d+ \[[0-9a-f]{16}\] (.+)$", out, re.M)]


def contains_in_order(haystack: List[str], needle: List[str]) -> bool:
    """Whether ``needle`` is a contiguous run of ``haystack``."""
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def register_blocks(report: str) -> List[List[str]]:
    """Each ``RIP:`` .. ``R15:`` register block of the console's report, as printed
    (another CPU's NMI message, printed in the middle of a block with the empty line
    after it, is not part of it)."""
    blocks: List[List[str]] = []
    cur: List[str] = []
    for line in report.splitlines():
        line = _TIMESTAMP.sub("", line).strip()
        if cur and (not line or line.startswith(NMI_LINES)):
            continue
        if line.startswith("RIP: "):
            cur = [line]
        elif cur and re.match(r"^(RSP|RAX|RDX|RBP|R10|R13): ", line):
            cur.append(re.sub(r" ORIG_RAX: [0-9a-f]+$", "", line))
            if line.startswith("R13: "):
                blocks.append(cur)
                cur = []
        elif not line.startswith("Code: "):
            cur = []
    return blocks


@pytest.mark.parametrize("suite,scenario,form", CASES, ids=lambda v: str(v))
def test_bt_shows_the_crash_as_the_console_did(suite: str, scenario: str, form: str) -> None:
    dump = dump_of(suite, scenario, form)
    report = parse_panic((dump.truth / "console.log").read_text(errors="replace"))
    r = kdbg("-c", str(dump.path), "-x", "bt")
    assert r.returncode == 0, r.stderr
    head = r.stdout.splitlines()[0]
    m = re.match(r'^PID: (\d+) +TASK: ([0-9a-f]{16})  CPU: (\d+) +COMMAND: "(.*)"$', head)
    assert m, head
    assert (int(m.group(1)), int(m.group(3)), m.group(4)) == (report.pid, report.cpu, report.comm)
    shown = shown_frames(r.stdout)
    # the faulting or interrupted pcs: printed as RIP:, each a frame to kdbg
    console = [str(f) for f in report.stack() if f.reliable]
    if report.kind == "panic":
        # printed by panic()'s own dump_stack: from the caller of panic() on, the stack is
        # the same at the dump (panic() itself has moved on to its final delay loop)
        assert "panic" in [f.function for f in report.frames]
        console = console[[f.split("+")[0] for f in console].index("panic") + 1:]
        assert any(s.startswith("panic+") for s in shown[:shown.index(console[0])])
    assert len(console) >= 5 and contains_in_order(shown, console), (console, shown)
    printed = [[ln.strip() for ln in block] for block in register_blocks(r.stdout)]
    expected = register_blocks(report.text)
    if report.rip is not None:  # the oops' fault, the NMI's interrupted context
        assert expected[0][0] == f"RIP: 0010:{report.rip}"
        assert printed[0] == expected[0]
    if scenario == "oops":
        assert report.rip is not None and str(report.rip).endswith("[kdbg_oops]")
        assert any(s.endswith("[kdbg_oops]") for s in shown[shown.index(str(report.rip)):])
    if scenario == "nmi":  # from the NMI stack into the idle task's stack, down to its start
        assert [f.context for f in report.frames if f.reliable][-1] == "TASK" and report.pid == 0
        assert "end_repeat_nmi" in [f.split("+")[0] for f in console]
        assert re.match(r"(secondary|common)_startup_64", console[-1])
        return
    assert console[-1].startswith("entry_SYSCALL_64")
    user = [b for b in expected if b[0].startswith("RIP: 0033:")]
    assert user and printed[-1] == user[0]


@pytest.mark.parametrize("suite", ["bookworm", "trixie", "bullseye"])
@pytest.mark.parametrize("scenario", ["panic", "nmi"])
def test_foreach_bt_json_matches_sysrq_t(suite: str, scenario: str) -> None:
    dump = dump_of(suite, scenario, "kdump-zlib")
    console = (dump.truth / "console.log").read_text(errors="replace")
    sysrq, asleep = sysrq_t_still_true(dump.truth, drgn_view(suite, dump_of(suite, scenario, ORACLE_FORM).path))
    assert {"sleep", "kdbg-sleeper", "cat"} <= {sysrq[pid].comm for pid in asleep}, asleep
    r = kdbg("-c", str(dump.path), "-x", "foreach bt --json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    by_pid: Dict[int, List[dict]] = {}
    for row in rows:
        by_pid.setdefault(row["pid"], []).append(row)
    listed = json.loads((dump.truth / "ps.json").read_text())
    assert {p["pid"] for p in listed} <= set(by_pid)
    wrong: List[Tuple[int, List[str], List[str]]] = []
    for pid in sorted(asleep):  # every one of them (none is PID 0: the idle tasks are not in switches)
        assert pid in by_pid, f"pid {pid} ({sysrq[pid].comm}) is not in foreach bt"
        row = by_pid[pid][0]
        assert "frames" in row, row
        ours = [f"{f['function']}+{f['offset']:#x}/{f['size']:#x}" for f in row["frames"] if not f["user"]]
        theirs = [f"{f.function}+{f.offset:#x}/{f.size:#x}" for f in sysrq[pid].frames if f.reliable]
        if ours != theirs:
            wrong.append((pid, ours, theirs))
    assert not wrong, wrong[:3]
    report = parse_panic(console)
    crashed = [row for row in rows if row["pid"] == report.pid and row["cpu"] == report.cpu]
    assert crashed and crashed[0]["stop_reason"] is None and crashed[0]["comm"] == report.comm
    assert crashed[0]["frames"][-1]["user"] == (scenario == "panic")  # a syscall ends in user mode


def test_bt_errors_are_one_line() -> None:
    dump = dump_of("bookworm", "panic", "kdump-zlib")
    plain = [d for d in reference_dumps(suites=["bookworm"]) if d.form == "kdump-zlib"][0]
    cases = [
        ((str(plain.path), "bt"), "did not panic"),  # a dump of a kernel that did not crash
        ((str(dump.path), "bt 99999"), "no task with PID 99999"),
        ((str(dump.path), "bt -a 1"), "either -a or"),
        ((str(dump.path), "bt nosuchsymbol_xyz"), "neither a PID nor a task address"),
    ]
    for (path, cmd), words in cases:
        r = kdbg("-c", path, "-x", cmd)
        assert r.returncode == 1 and words in r.stderr, (cmd, r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


# ------------------------------------------------------------------- bt -c, -p, -r, -l

BT_COMMANDS = ["bt -p", "bt -c 0", "bt -c 1", "bt -r"]


def _symbolic_cells_match(mine: List[str], theirs: List[str], syms: Dict[str, List[int]], words: List[int]) -> None:
    """``rd -s``-style cells: hex alike; a symbol cell names the word's value in the
    guest's kallsyms (crash's vmlinux has aliases and section names kallsyms lacks)."""
    assert len(mine) == len(theirs) == len(words)
    for a, b, value in zip(mine, theirs, words, strict=True):
        if re.fullmatch(r"[0-9a-f]{16}", b):
            assert a == b, (a, b)
            continue
        name, _, off = a.partition("+")
        assert any(x + int(off or "0") == value for x in syms.get(name, [])), (a, b, hex(value))


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_bt_options(suite: str) -> None:
    """On the panic dumps: -p and -c CPU are the task the kernel's own report names (its
    CPU's active task), -r the whole kernel stack as crash prints it; -l is refused."""
    c = resolve_crash_dump(suite, "panic", "kdump-zlib")
    report = parse_panic((c.truth / "console.log").read_text(errors="replace"))
    r = kdbg_commands(c.path, "bt -p", f"bt -c {report.cpu}", "bt -r", "bt -p --json", "bt -c a --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    panic_json, all_json = json.loads(lines[-2]), json.loads(lines[-1])
    assert [(t["pid"], t["comm"], t["cpu"]) for t in panic_json] == [(report.pid, report.comm, report.cpu)]
    assert [t["cpu"] for t in all_json] == list(range(len(all_json))) and all_json[report.cpu] == panic_json[0]
    text = "\n".join(lines[:-2]) + "\n"
    first, rest = text.split("\nPID: ", 1)
    by_cpu, raw = ("PID: " + rest).split("\nPID: ", 1)
    raw = "PID: " + raw
    assert first + "\n" == by_cpu + "\n"  # -p and -c of the panic CPU: the same task and trace
    raw_lines = raw.splitlines()
    assert raw_lines[0] == first.splitlines()[0]
    assert len(raw_lines) - 1 == 16384 // 16 or len(raw_lines) - 1 == 32768 // 16
    r = kdbg_commands(c.path, "bt -l", "bt -c 9", "bt -c x", "bt -p 1", "bt -a -p")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 5, r.stderr
    assert "DWARF" in r.stderr.splitlines()[0]
    if not crash_can_open(suite):
        return
    theirs = ask_crash(suite, c.path, BT_COMMANDS).outputs
    assert theirs["bt -p"].splitlines()[0] == first.splitlines()[0]
    assert theirs[f"bt -c {report.cpu}"].splitlines()[0] == first.splitlines()[0]
    crash_raw = theirs["bt -r"].splitlines()
    assert crash_raw[0] == raw_lines[0] and len(crash_raw) == len(raw_lines)
    syms = kallsyms_addresses(c.truth)
    hexed = kdbg_commands(c.path, f"rd {raw_lines[1].split(':')[0]} {(len(raw_lines) - 1) * 2}")
    words = [int(w, 16) for ln in hexed.stdout.splitlines() for w in ln.split(":  ", 1)[1].split()[:2]]
    for i in range(1, len(raw_lines)):
        assert raw_lines[i].split(":")[0] == crash_raw[i].split(":")[0]
        _symbolic_cells_match(raw_lines[i].split(":  ", 1)[1].split(), crash_raw[i].split(":  ", 1)[1].split(), syms,
                              words[2 * (i - 1): 2 * i])
