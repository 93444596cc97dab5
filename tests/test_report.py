"""``kdbg report`` (issue 17) against what each guest recorded and printed.

Truth: the crashed guests' ``crash.json`` (the task that triggered the crash, the task that
hung), ``uname``,
``modules`` and ``mounts`` recorded before the crash, and the serial console, whose last
lines are the kernel's own account of the crash; the reference (uncrashed) guests for the
no-crash case; a dump filtered with ``makedumpfile -d 31`` and one cut short for sections
that cannot be read.
"""

from __future__ import annotations

import html.parser
import json
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.cli_support import run_kdbg
from tests.conftest import resolve_crash_dump, resolve_dump
from tests.stack_truth import console_seconds, parse_hung_task, parse_panic
from vmcores.crash import CRASHING, LOCKUP_SCENARIOS, SCENARIOS
from vmcores.debian import SUITES

EXPECTED_KIND = {"panic": "sysrq", "oops": "null-deref", "nmi": "nmi", "hung": "hung-task",
                 "softlockup": "soft-lockup"}
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")


def _report(path: Path, *extra: str) -> Dict[str, Any]:
    r = run_kdbg("report", str(path), "--format", "json", *extra, timeout=900)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _in_order(lines: List[str], console: List[str]) -> bool:
    """Whether ``lines`` appear in ``console`` in order (the console also has what the
    guest's init wrote to it, which is not in the kernel's log)."""
    it = iter(ln.rstrip() for ln in console)
    return all(any(c == ln for c in it) for ln in lines)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("suite", SUITES)
def test_report_of_a_crash_is_the_guests_account(suite: str, scenario: str) -> None:
    dump = resolve_crash_dump(suite, scenario, "elf-paging")
    truth = dump.truth
    r = _report(dump.path)
    assert r["schema"] == "kdbg-report/1"
    s = r["summary"]
    assert s["release"] == (truth / "uname").read_text().strip()
    assert s["kind"]["kind"] == EXPECTED_KIND[scenario]
    assert s["signature"]["digest"] and s["signature"]["frames"]
    crash = json.loads((truth / "crash.json").read_text())
    if scenario != "nmi":  # an NMI panics whatever the CPU ran; the trigger wrote on another
        assert s["crashed"]["pid"] == crash["crash_pid"]
    assert s["crashed"]["pid"] in {c["pid"] for c in r["cpus"] if c["cpu"] == s["crashed"]["cpu"]}
    letters = {f["letter"] for f in s["taint"]["flags"]}
    if scenario == "oops":
        assert {"D", "O", "E"} <= letters  # it died, in an out-of-tree unsigned module
    # Modules and mounts as the guest listed them before crashing.
    modules = {line.split()[0]: line for line in (truth / "modules").read_text().splitlines()}
    assert sorted(m["name"] for m in r["modules"]) == sorted(modules)
    for m in r["modules"]:
        listed = re.search(r"\(([A-Z]+)\)$", modules[m["name"]])
        assert m["taint"] == (listed.group(1) if listed else "")
        assert m["size"] == int(modules[m["name"]].split()[1])
    mounts = [line.split()[:3] for line in (truth / "mounts").read_text().splitlines()]
    assert [[m["source"], m["target"], m["type"]] for m in r["mounts"]] == mounts
    # The log ends as the console does: the kernel's own last words.
    console = [_TIMESTAMP.sub("", ln) for ln in (truth / "console.log").read_text(errors="replace").splitlines()
               if _TIMESTAMP.match(ln)]
    tail = [ln.rstrip() for ln in r["log"][-30:]]
    assert tail == [ln.rstrip() for ln in console[len(console) - len(tail):]] or _in_order(tail, console)
    assert any(ln.startswith("Kernel panic - not syncing") for ln in r["log"])
    assert r["oops"] and r["oops"][-1].startswith("Kernel panic - not syncing")


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", LOCKUP_SCENARIOS)
@pytest.mark.parametrize("suite", SUITES)
def test_report_of_a_lockup_is_the_guests_account(suite: str, scenario: str, tmp_path: Path) -> None:
    """A hung task and a soft lockup are named as the guest's console named them; a hung
    task's report lists the task the detector named among the D-state tasks, with the stack
    the detector printed and a wait at least the detector's and at most the time from the
    trigger to the panic."""
    dump = resolve_crash_dump(suite, scenario, "elf-paging")
    console = (dump.truth / "console.log").read_text(errors="replace")
    crash = json.loads((dump.truth / "crash.json").read_text())
    done = run_kdbg("report", str(dump.path), "-o", str(tmp_path), timeout=900)
    assert done.returncode == 0, done.stderr
    r = json.loads((tmp_path / "report.json").read_text())
    s = r["summary"]
    assert s["kind"]["kind"] == EXPECTED_KIND[scenario]
    assert s["kind"]["evidence"] in [ln.strip() for ln in _console_text(console)]
    panic = parse_panic(console)  # the report of the task that panicked
    assert (s["crashed"]["pid"], s["crashed"]["cpu"]) == (panic.pid, panic.cpu)
    if scenario == "softlockup":
        assert s["crashed"]["pid"] == crash["crash_pid"] == s["signature"]["pid"]
        assert "kdbg_spin_loop [kdbg_lockup]" in s["signature"]["frames"]
        return
    hung = parse_hung_task(console)
    assert hung.pid == crash["blocked_pid"] == s["signature"]["pid"] != panic.pid
    blocked = {t["pid"]: t for t in r["blocked"]}
    assert hung.pid in blocked, sorted(blocked)
    task = blocked[hung.pid]
    names = [f["function"] for f in task["stack"]["frames"] if not f["user"]]
    assert names == [f.function for f in hung.frames if f.reliable]
    waited = task["waiting_ns"] / 1e9
    trigger_to_panic = console_seconds(console, "Kernel panic - not syncing") - console_seconds(console, CRASHING)
    assert hung.seconds <= waited <= trigger_to_panic + 1.0, (hung.seconds, waited, trigger_to_panic)
    assert f"(not run for {waited:.1f} s)" in (tmp_path / "report.txt").read_text()


def _console_text(console: str) -> List[str]:
    return [_TIMESTAMP.sub("", ln) for ln in console.splitlines() if _TIMESTAMP.match(ln)]


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_report_of_a_live_like_dump_says_no_crash(suite: str) -> None:
    dump = resolve_dump(suite, "elf-paging", "qemu")
    r = _report(dump.path)
    assert r["summary"]["kind"]["kind"] == "none"
    assert r["summary"]["signature"] is None and r["summary"]["crashed"] is None
    ps = json.loads((dump.truth / "ps.json").read_text())
    assert r["summary"]["tasks"] >= len(ps)


class _Html(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: List[str] = []
        self.text: List[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.timeout(1800)
def test_formats_and_output_directory(tmp_path: Path) -> None:
    dump = resolve_crash_dump("bookworm", "oops", "elf-paging")
    r = run_kdbg("report", str(dump.path), "-o", str(tmp_path / "out"), timeout=900)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["report.html", "report.json", "report.txt"]
    text = (tmp_path / "out" / "report.txt").read_text()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["summary"]["signature"]["digest"] in text
    page = _Html()
    page.feed((tmp_path / "out" / "report.html").read_text())
    assert "script" not in page.tags and "pre" in page.tags
    assert data["summary"]["signature"]["digest"] in "".join(page.text)


@pytest.mark.timeout(1800)
def test_unreadable_sections_say_so_and_never_stop_the_report(tmp_path: Path) -> None:
    full = resolve_crash_dump("bookworm", "oops", "kdump-zlib")
    cut = tmp_path / "cut.kdump"
    size = full.path.stat().st_size
    with open(full.path, "rb") as src, open(cut, "wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
        dst.truncate(size * 9 // 10)
    r = run_kdbg("report", str(cut), "--format", "json", timeout=900)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert any("truncated" in w for w in data["target"]["warnings"])
    assert data["summary"]["kind"]["kind"] in ("null-deref", "unknown")  # never "no crash"
    sections = ("crashed_stack", "blocked", "cpus", "memory", "slabs", "modules", "mounts", "log")
    unreadable = [k for k in sections if isinstance(data[k], dict) and "error" in data[k]]
    assert unreadable and len(unreadable) < len(sections), unreadable
    text = run_kdbg("report", str(cut), timeout=900)
    assert text.returncode == 0
    assert text.stdout.count("(cannot be read:") >= len(unreadable)


@pytest.mark.timeout(900)
def test_bad_input_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus"
    bogus.write_text("no dump\n")
    r = run_kdbg("report", str(bogus))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and not r.stdout
    r = run_kdbg("report", str(bogus), "--format", "pdf")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
