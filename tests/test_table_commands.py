"""The table commands shipped as plugins (``plugins/ps.py``, ``plugins/files.py``), run as
``python3 -m kdbg -c DUMP -x ...`` on the reference dumps of the three kernels (and forky's 7.2).

Ground truth: the guest's own process list (``truth/ps.json``: pid, ppid, state, comm, as
its /proc showed them), its /proc/kallsyms (``init_task``, the first idle task), its
/proc/cpuinfo (one idle task per CPU), and drgn 0.3.0 with Debian's DWARF
(``for_each_file`` + ``d_path`` of every task, from ``tests/helpers_oracle.py``) for PID 1's
open files. Caveats as in ``test_helpers_core``: ``/proc``'s comm may be a kthread's full
name or a kworker's name plus ``+workqueue`` or ``-workqueue`` (``comm_matches``). What the guest read of a
task (state, CPU, memory) still holds at the dump only for a task that stayed asleep from
before the guest recorded its truth to the dump (:func:`tests.dump_moment.unchanged_since_truth`:
the guest's dmesg and drgn's reading of the dump, never kdbg's): those are compared, every
one of them; the others (the guest's shell reading /proc, kworkers, RCU) may have changed
any of it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from tests.cli_support import run_kdbg
from tests.conftest import resolve_dump
from tests.dump_moment import drgn_view, unchanged_since_truth
from tests.helpers_oracle import helper_answers
from tests.helpers_support import comm_matches
from tests.kallsyms_truth import truth_vmlinux
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM

#: Two forms per kernel: QEMU's ELF and its kdump-compressed dump; and forky's (Linux 7.2) ELF.
DUMPS = [(s, f, "qemu") for s in SUITES for f in ("elf", "kdump-zlib")] + [("forky", "elf", "qemu")]

#: crash's two-letter state names (crash's task.c ``task_state_string``) for /proc's letters.
CRASH_ST = {"R": "RU", "S": "IN", "D": "UN", "I": "ID", "T": "ST", "t": "TR", "Z": "ZO", "X": "DE", "P": "PA"}

PS_KEYS = {"pid": int, "ppid": int, "cpu": int, "task": int, "state": str, "mem": float, "vsz": int,
           "rss": int, "comm": str, "kthread": bool, "active": bool}


def kdbg(dump: Path, *args: str) -> subprocess.CompletedProcess:
    return run_kdbg("-q", "-c", str(dump), *args)


def _ids(d: Tuple[str, str, str]) -> str:
    return "-".join(d)


def ncpus(truth: Path) -> int:
    return sum(1 for line in (truth / "cpuinfo").read_text().splitlines() if line.startswith("processor"))


def unchanged(dump_id: Tuple[str, str, str]) -> Set[int]:
    """The PIDs whose ``ps.json``/``proc-stat`` still hold at the dump (drgn reads the
    suite's ``elf-paging`` form: every form holds the same memory)."""
    oracle = resolve_dump(dump_id[0], ORACLE_FORM, "qemu")
    return unchanged_since_truth(oracle.truth, drgn_view(dump_id[0], oracle.path))


def kallsyms_address(truth: Path, name: str) -> int:
    return next(addr for addr, _t, sym in truth_vmlinux(truth) if sym == name)


@pytest.mark.parametrize("dump_id", DUMPS, ids=_ids)
def test_ps_equals_the_guests_process_list(dump_id: Tuple[str, str, str]) -> None:
    dump = resolve_dump(*dump_id)
    p = kdbg(dump.path, "-x", "ps")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0] == "      PID    PPID  CPU       TASK        ST  %MEM      VSZ      RSS  COMM"  # crash 8.0.2's
    rows: List[Dict[str, Any]] = []
    for line in lines[1:]:
        mark, rest = line[0], line[1:].split(None, 8)
        assert mark in " >" and len(rest) == 9, line
        rows.append({"active": mark == ">", "pid": int(rest[0]), "ppid": int(rest[1]), "cpu": int(rest[2]),
                     "task": int(rest[3], 16), "st": rest[4], "mem": float(rest[5]), "vsz": int(rest[6]),
                     "rss": int(rest[7]), "comm": rest[8]})
    n = ncpus(dump.truth)
    idle = rows[:n]
    # each CPU's idle task first, as crash lists them; swapper/0 is init_task
    assert [(r["pid"], r["comm"], r["cpu"]) for r in idle] == [(0, f"[swapper/{c}]", c) for c in range(n)]
    assert idle[0]["task"] == kallsyms_address(dump.truth, "init_task")
    tasks = {r["pid"]: r for r in rows[n:]}
    assert len(tasks) == len(rows) - n  # every thread once
    listed = json.loads((dump.truth / "ps.json").read_text())
    assert listed and not [t for t in listed if t["pid"] not in tasks]
    asleep = unchanged(dump_id)
    assert {"sleep", "kdbg-sleeper", "cat"} <= {t["comm"] for t in listed if t["pid"] in asleep}
    wrong = []
    for t in listed:
        r = tasks[t["pid"]]
        comm = r["comm"][1:-1] if r["comm"].startswith("[") else r["comm"]
        if not comm_matches(t["comm"], comm) or r["ppid"] != t["ppid"]:
            wrong.append((t, r))
        if t["pid"] in asleep and r["st"] != CRASH_ST[t["state"]]:
            wrong.append((t, r))
        if r["cpu"] not in range(n) or r["task"] < 0xFFFF800000000000:
            wrong.append((t, r))
    assert not wrong
    # kernel threads (children of kthreadd, and kthreadd) are bracketed, user processes not
    assert tasks[2]["comm"] == "[kthreadd]" and tasks[1]["comm"] == "init"
    assert all(tasks[t["pid"]]["comm"].startswith("[") for t in listed if t["ppid"] == 2)
    # one task is running on each CPU in a dump of a live guest
    assert 1 <= sum(r["active"] for r in rows) <= n


def proc_stat(truth: Path) -> Dict[int, Tuple[int, int, int]]:
    """PID -> (vsize in bytes, rss in pages, processor) from the guest's /proc/PID/stat."""
    out = {}
    for line in (truth / "proc-stat").read_text().splitlines():
        fields = line[line.rindex(")") + 2:].split()  # fields 3.. of proc(5)
        out[int(line.split()[0])] = (int(fields[20]), int(fields[21]), int(fields[36]))
    return out


def mem_total_kib(truth: Path) -> int:
    line = next(ln for ln in (truth / "meminfo").read_text().splitlines() if ln.startswith("MemTotal:"))
    return int(line.split()[1])


@pytest.mark.parametrize("dump_id", DUMPS, ids=_ids)
def test_ps_cpu_vsz_rss_equal_proc_stat(dump_id: Tuple[str, str, str]) -> None:
    """VSZ and RSS (KiB) are /proc/PID/stat's vsize and rss, CPU its processor, %MEM the RSS
    share of MemTotal, for every task that stayed asleep from the guest's reads to the
    dump; a task that ran meanwhile (PID 1 ran the reads) may have moved or grown, but a
    per-CPU kthread (ksoftirqd/N, kworker/N:M...) never moves."""
    dump = resolve_dump(*dump_id)
    p = kdbg(dump.path, "--json", "-x", "ps")
    assert p.returncode == 0, p.stderr
    rows = {r["pid"]: r for r in json.loads(p.stdout) if r["pid"]}
    stat = proc_stat(dump.truth)
    assert len(stat) > 40
    total = mem_total_kib(dump.truth)
    asleep = unchanged(dump_id)
    assert 1 not in asleep and rows[1]["rss"] > 0
    wrong = []
    for pid, (vsize, rss, cpu) in stat.items():
        r = rows[pid]
        if pid in asleep and ((r["vsz"], r["rss"], r["cpu"]) != (vsize // 1024, rss * 4, cpu)):
            wrong.append((pid, r, vsize, rss, cpu))
        if re.search(r"/\d+(:|$)", r["comm"]) and not r["comm"].startswith("kworker/u") and r["cpu"] != cpu:
            wrong.append((pid, r, "a per-CPU kthread moved", cpu))
        assert r["cpu"] in range(ncpus(dump.truth))
        assert abs(r["mem"] - r["rss"] * 100 / total) <= 0.1
    assert not wrong
    assert any(r["rss"] > 0 and r["mem"] > 0 for r in rows.values())


@pytest.mark.parametrize("dump_id", DUMPS, ids=_ids)
def test_ps_json(dump_id: Tuple[str, str, str]) -> None:
    dump = resolve_dump(*dump_id)
    p = kdbg(dump.path, "--json", "-x", "ps")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert isinstance(rows, list) and rows
    for r in rows:
        assert set(r) == set(PS_KEYS)
        assert all(type(r[k]) is t for k, t in PS_KEYS.items()), r
        assert r["state"] in "RSDTtXZPI" and len(r["state"]) == 1
    by_pid = {r["pid"]: r for r in rows if r["pid"]}
    asleep = unchanged(dump_id)
    for t in json.loads((dump.truth / "ps.json").read_text()):
        r = by_pid[t["pid"]]
        assert comm_matches(t["comm"], r["comm"]) and r["ppid"] == t["ppid"]
        assert t["pid"] not in asleep or r["state"] == t["state"]
        assert r["kthread"] == (t["pid"] == 2 or t["ppid"] == 2)
    # the command's own --json is the same; PIDs select rows
    assert json.loads(kdbg(dump.path, "-x", "ps --json").stdout) == rows
    sel = json.loads(kdbg(dump.path, "-x", "ps --json 2 1").stdout)
    assert sel == [by_pid[1], by_pid[2]]


@pytest.mark.parametrize("suite", SUITES)
def test_files_of_pid_1_equal_drgn(suite: str) -> None:
    """``files 1``: the descriptors and paths drgn's for_each_file + d_path give for PID 1,
    with the file, dentry and inode addresses the JSON gives, and the file types."""
    dump = resolve_dump(suite, "kdump-zlib", "qemu")
    drgn = helper_answers(suite)["fs.files"]["1"]
    p = kdbg(dump.path, "--json", "-x", "files 1")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert set(info) == {"pid", "task", "cpu", "comm", "root", "cwd", "files"}
    assert (info["pid"], info["comm"], info["root"], info["cwd"]) == (1, "init", "/", "/")
    assert [[f["fd"], f["path"]] for f in info["files"]] == drgn
    for f in info["files"]:
        assert set(f) == {"fd", "file", "dentry", "inode", "type", "path"}
        assert f["type"] == {"/dev/console": "CHR"}.get(f["path"], f["type"])
    assert [f["type"] for f in info["files"][:3]] == ["CHR"] * 3
    p = kdbg(dump.path, "-x", "files 1")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["PID:", "1", "TASK:", f"{info['task']:016x}"]
    assert lines[0].endswith('COMMAND: "init"')
    assert lines[1].split() == ["ROOT:", "/", "CWD:", "/"]
    assert lines[2].split() == ["FD", "FILE", "DENTRY", "INODE", "TYPE", "PATH"]
    assert [ln.split() for ln in lines[3:]] == [
        [str(f["fd"]), f"{f['file']:016x}", f"{f['dentry']:016x}", f"{f['inode']:016x}", f["type"], f["path"]]
        for f in info["files"]]
    # the task is ps's PID 1
    ps = json.loads(kdbg(dump.path, "-x", "ps --json 1").stdout)
    assert ps[0]["task"] == info["task"]


def test_files_bad_input_is_one_line(sample_dump) -> None:  # type: ignore[no-untyped-def]
    # no PID: the current context (crash's), which a dump of a kernel that did not panic lacks
    for arg, why in [("files", "files: panic_cpu is not set: the kernel did not panic before this dump; name a PID"),
                     ("files one", "invalid int value: 'one'"),
                     ("files 999999", "no task with PID 999999")]:
        p = kdbg(sample_dump.path, "-x", arg)
        assert p.returncode == 1 and p.stdout == "", arg
        assert p.stderr.count("\n") == 1 and why in p.stderr and p.stderr.startswith("kdbg: "), p.stderr


LIVE_PS = r"""
python3 - <<'PY'
import json, os, subprocess, sys

def snapshot():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            try:
                status = dict(line.split(":", 1) for line in open(f"/proc/{d}/status").read().splitlines())
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
            switches = [int(status[k]) for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")]
            out[int(d)] = {"comm": comm, "state": state, "ppid": int(ppid), "switches": switches}
    return out

before = snapshot()
run = subprocess.run([sys.executable, "-m", "kdbg", "-q", "--json", "-x", "ps"], capture_output=True, text=True)
after = snapshot()
print("==PS")
print(json.dumps({"rc": run.returncode, "stderr": run.stderr, "kdbg": json.loads(run.stdout or "null"),
                  "before": before, "after": after, "me": os.getpid()}))
print("==END")
PY
"""


@pytest.mark.live(LIVE_PS, suite="bookworm")
def test_ps_live_kcore_equals_the_guests_proc(live_result) -> None:  # type: ignore[no-untyped-def]
    """``-x ps`` on the guest's own /proc/kcore: every process /proc showed before and after
    it ran (and that did not change meanwhile) is listed with /proc's ppid and comm, and its
    state where the task kept one state throughout: the same state in both records and the
    same voluntary and involuntary context-switch counts (``/proc/PID/status``), so it was
    never switched out or in between them.  The same state alone is not enough: an empty-cache
    run saw ``rcu_preempt`` running in both records (woken by the records' own reads) and
    asleep when kdbg read /proc/kcore between them."""
    res = live_result
    assert res.returncode == 0, res.output[-3000:]
    text = res.output.replace("\r\n", "\n")
    data = json.loads(text.split("==PS\n", 1)[1].split("\n==END", 1)[0])
    assert data["rc"] == 0, data["stderr"]
    assert data["stderr"] == ""
    rows = {r["pid"]: r for r in data["kdbg"] if r["pid"]}
    before = {int(k): v for k, v in data["before"].items()}
    after = {int(k): v for k, v in data["after"].items()}
    stable = {p: v for p, v in before.items() if p in after and after[p]["comm"] == v["comm"]}
    assert len(stable) > 20
    missing = [p for p in stable if p not in rows]
    assert not missing
    busy = {data["me"], before[data["me"]]["ppid"]}
    wrong = []
    compared = 0
    for p, v in stable.items():
        r = rows[p]
        if not comm_matches(v["comm"], r["comm"]) or r["ppid"] != v["ppid"]:
            wrong.append((p, v, r))
        if p not in busy and (v["state"], v["switches"]) == (after[p]["state"], after[p]["switches"]):
            compared += 1
            if r["state"] != v["state"]:
                wrong.append((p, v, r))
    assert not wrong
    assert compared > 20, compared
