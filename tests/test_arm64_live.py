"""kdbg on a live arm64 kernel's own ``/proc/kcore``, under the guest's own arm64 Python
(Debian's ``python3-minimal`` and ``libpython3-stdlib``): :mod:`vmcores.arm64_live` boots
each arm64 reference kernel once per tree under test and records kdbg's output beside the
guest's own truth of the same boot.

Ground truth, all from the same guest: ``uname -r``, ``/proc/PID/stat`` and
``/proc/PID/status`` before and after ``ps``, ``/proc/modules``, ``/proc/meminfo`` before
and after ``kmem -i``, ``/proc/cpuinfo``, ``/proc/kallsyms`` and the sysrq-t its kernel
printed for the ``sleep`` task ``bt`` shows. bookworm-cloud has no ``CONFIG_KALLSYMS_ALL``
(``init_task``, ``init_uts_ns``, ``__per_cpu_offset`` come from kdbg's other sources);
trixie-cloud runs 52-bit VA with LPA2 descriptors.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.helpers_support import comm_matches
from tests.test_arm64_stacks import BT_FRAME, sysrq_t
from vmcores.arm64 import KERNELS
from vmcores.arm64_live import LIVE_RUNS, SECTION, live_info, live_runs
from vmcores.dump_index import Dump

pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module", params=KERNELS)
def live(request: pytest.FixtureRequest) -> Dump:
    """The live run of one arm64 kernel (:attr:`Dump.truth`: what its guest sent)."""
    return live_runs([request.param])[0]


def _run_of(name: str) -> Tuple[str, int]:
    """``(run, number of sections)`` of the run whose output has section *name*."""
    return next((run, len(sections)) for run, _o, sections in LIVE_RUNS if name in (n for n, _a in sections))


def _out(live: Dump, name: str) -> str:
    """Section *name* of its run's stdout in the guest; the run must have succeeded with
    nothing on stderr."""
    run, count = _run_of(name)
    t = live.truth
    err = (t / f"{run}.err").read_text()
    assert (t / f"{run}.rc").read_text().strip() == "0" and err == "", err
    text = (t / f"{run}.out").read_text()
    if count == 1:
        return text
    parts = text.split(f"{SECTION}{name}\n", 1)
    assert len(parts) == 2, text
    return parts[1].split(SECTION, 1)[0]


def _snapshot(path: Path) -> Dict[int, Dict[str, object]]:
    """``{pid: {comm, state, ppid, switches}}`` of the guest's ``snapshot`` lines."""
    out: Dict[int, Dict[str, object]] = {}
    for line in path.read_text().splitlines():
        stat, _, switches = line.rpartition("|")
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        out[int(stat.split()[0])] = {"comm": comm, "state": state, "ppid": int(ppid), "switches": switches}
    return out


def _meminfo(path: Path) -> Dict[str, int]:
    return {ln.split(":")[0]: int(ln.split()[1]) for ln in path.read_text().splitlines()}


def test_kdbg_ran_under_the_guests_own_python(live: Dump) -> None:
    """kdbg ran in the guest under its own arm64 Python (the version of Debian's package of
    the kernel's suite), with Debian's capstone 5 beside it."""
    info = live_info(live.suite)
    suite = live.suite.split("-")[0]
    python = (live.truth / "python").read_text()
    minimal = info["python_packages"]["python3-minimal"]
    assert minimal.startswith(f"{suite} ") and python.startswith(minimal.split()[1].split("-")[0]), (python, minimal)
    assert info["python_packages"]["python3-capstone"].startswith("trixie 5.")
    for run, _options, _sections in LIVE_RUNS:
        t0, t1 = map(float, (live.truth / f"{run}.time").read_text().split())
        assert t1 >= t0, run


def test_sys(live: Dump) -> None:
    """``sys`` names the live kernel: /proc/kcore, the guest's release, its CPUs, aarch64."""
    rows = dict(ln.strip().split(": ", 1) for ln in _out(live, "sys").splitlines() if ": " in ln)
    assert rows["RELEASE"] == (live.truth / "uname").read_text().strip()
    assert rows["MACHINE"] == "aarch64"
    cpus = len(re.findall(r"^processor\s*:", (live.truth / "cpuinfo").read_text(), re.M))
    assert int(rows["CPUS"]) == cpus == 2
    assert "/proc/kcore" in rows["DUMPFILE"], rows


def test_ps_equals_the_guests_proc(live: Dump) -> None:
    """``ps`` lists every process /proc showed before and after it ran (with the same comm)
    with /proc's ppid and comm, and its state where the task kept one state throughout (the
    same state and context-switch counts in both records); what else it lists is kdbg's own
    process, a child of PID 1, and kernel threads that lived only while kdbg ran."""
    rows = {r["pid"]: r for r in json.loads(_out(live, "ps")) if r["pid"]}
    before = _snapshot(live.truth / "ps-before")
    after = _snapshot(live.truth / "ps-after")
    stable = {p: v for p, v in before.items() if p in after and after[p]["comm"] == v["comm"]}
    assert len(stable) > 20
    assert not [p for p in stable if p not in rows]
    extra = [r for p, r in rows.items() if p not in before and p not in after]
    # kdbg's own process; besides it only kernel threads that kthreadd started and that
    # ended while kdbg ran (a workqueue's kworker), which neither record can show
    mine = [r for r in extra if (r["comm"], r["ppid"]) == ("python3", 1)]
    assert len(mine) == 1, extra
    assert all(r["ppid"] == 2 for r in extra if r not in mine), extra
    wrong = []
    compared = 0
    for p, v in stable.items():
        r = rows[p]
        if not comm_matches(str(v["comm"]), r["comm"]) or r["ppid"] != v["ppid"]:
            wrong.append((p, v, r))
        if p != 1 and (v["state"], v["switches"]) == (after[p]["state"], after[p]["switches"]):
            compared += 1
            if r["state"] != v["state"]:
                wrong.append((p, v, r))
    assert not wrong
    assert compared > 20, compared


def test_bt_of_a_sleeping_task_is_the_kernels_sysrq_t(live: Dump) -> None:
    """``bt`` of the ``sleep`` task prints the frames the guest's own sysrq-t printed for it
    (it slept from before the sysrq-t until after kdbg read it), PAC stripped."""
    pid = int((live.truth / "sleeper").read_text())
    console = sysrq_t((live.truth / "console.log").read_text(errors="replace"))
    want = console[pid]
    assert len(want) >= 4 and want[-1].startswith("el0t_64_sync+"), want
    lines = _out(live, "bt").splitlines()
    assert re.match(rf"PID: {pid}\s+TASK: [0-9a-f]{{16}}\s+CPU: \d+\s+COMMAND: \"sleep\"", lines[0]), lines[0]
    got = [m.group(1) for ln in lines[1:] if (m := BT_FRAME.match(ln))]
    assert got == want


def test_mod_equals_proc_modules(live: Dump) -> None:
    """``mod``: every module of /proc/modules, with its base address and size."""
    want = {}
    for line in (live.truth / "modules").read_text().splitlines():
        f = line.split()
        want[f[0]] = (int(f[-1], 16), int(f[1]))
    got = {}
    for line in _out(live, "mod").splitlines()[1:]:
        f = line.split()
        got[f[1]] = (int(f[2], 16), int(f[3]))
    assert got == want and len(want) >= 2  # trixie-cloud builds virtio_console in


def _kmem_i_rows(text: str) -> Dict[str, int]:
    """``kmem -i``: label -> pages (the lines before the process status kdbg printed)."""
    out = {}
    for line in text.split("\nName:", 1)[0].splitlines()[1:]:
        if line.strip():
            out[line[:13].strip()] = int(line[13:].split()[0])
    return out


def test_kmem_i_within_the_guests_meminfo(live: Dump) -> None:
    """``kmem -i`` against /proc/meminfo read just before and after it: the totals that
    cannot move equal both; each moving counter lies within the two reads' range widened by
    the peak resident size of kdbg's own process (read in the same process: the memory the
    reader itself may have taken or given back while it read). On bookworm-cloud (no
    ``CONFIG_KALLSYMS_ALL``) the statics it reads (``swap_info``, ``nr_swapfiles``,
    ``hstates``, ``sysctl_overcommit_ratio``, ...) are found in the code of the functions
    that use them; the memory map (linear map, ``vmemmap``) comes from the VMCOREINFO note
    of the guest's /proc/kcore."""
    text = _out(live, "kmem")
    rows = _kmem_i_rows(text)
    hwm_kb = int(re.search(r"^VmHWM:\s+(\d+) kB$", text, re.M).group(1))  # type: ignore[union-attr]
    before, after = _meminfo(live.truth / "meminfo-before"), _meminfo(live.truth / "meminfo-after")
    page_kb = 4
    for label, key in [("TOTAL MEM", "MemTotal"), ("COMMIT LIMIT", "CommitLimit"), ("TOTAL SWAP", "SwapTotal"),
                       ("TOTAL HUGE", "HugePages_Total")]:
        scale = 1 if key.startswith("HugePages") else page_kb
        assert before[key] == after[key] == rows[label] * scale, (label, rows[label], before[key], after[key])
    assert rows["USED"] == rows["TOTAL MEM"] - rows["FREE"]
    moving = [("FREE", "MemFree"), ("BUFFERS", "Buffers"), ("SLAB", "Slab"), ("SHARED", "Shmem")]
    for label, key in moving:
        low, high = min(before[key], after[key]) - hwm_kb, max(before[key], after[key]) + hwm_kb
        assert low <= rows[label] * page_kb <= high, (label, rows[label] * page_kb, before[key], after[key], hwm_kb)
    assert 0 < hwm_kb < before["MemTotal"] // 2


def test_struct_comm_of_init(live: Dump) -> None:
    """``struct task_struct.comm`` at PID 1's task (``ps 1``'s TASK) is /proc/1/stat's comm."""
    comm = _snapshot(live.truth / "ps-before")[1]["comm"]
    assert _out(live, "struct").strip() == f'comm = "{comm}",'


def test_typed_global_init_uts_ns(live: Dump) -> None:
    """``prog["init_uts_ns"].name.release`` is ``uname -r``."""
    release = (live.truth / "uname").read_text().strip()
    assert _out(live, "release").strip() == f'(char [65])"{release}"'


def _midrs(cpuinfo: str) -> List[Tuple[int, int]]:
    """``(cpu, MIDR_EL1)`` of each processor of /proc/cpuinfo (rebuilt from its implementer,
    variant, architecture 0xf, part and revision fields)."""
    out = []
    for block in cpuinfo.strip().split("\n\n"):
        f = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in block.splitlines())}
        midr = (int(f["CPU implementer"], 16) << 24 | int(f["CPU variant"], 16) << 20 | 0xF << 16
                | int(f["CPU part"], 16) << 4 | int(f["CPU revision"]))
        out.append((int(f["processor"]), midr))
    return out


def test_per_cpu_cpu_data_is_the_guests_cpuinfo(live: Dump) -> None:
    """The per-CPU ``cpu_data`` (``struct cpuinfo_arm64``) of each online CPU holds the
    ``MIDR_EL1`` /proc/cpuinfo prints for that CPU."""
    got = ast.literal_eval(_out(live, "percpu").strip())
    assert got == _midrs((live.truth / "cpuinfo").read_text())


def test_dis_decodes_with_debians_capstone(live: Dump) -> None:
    """``dis schedule 4`` decodes four instructions from ``schedule``'s address in the guest's
    /proc/kallsyms, with Debian's arm64 capstone."""
    kallsyms = {ln.split()[2]: int(ln.split()[0], 16) for ln in (live.truth / "kallsyms-some").read_text().splitlines()}
    lines = _out(live, "dis").splitlines()
    assert len(lines) == 4, lines
    assert [int(ln.split()[0], 16) for ln in lines] == [kallsyms["schedule"] + 4 * i for i in range(4)], lines
