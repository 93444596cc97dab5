"""crash's ``kmem -v/-n/-g/-p``, ``kmem ADDR``, ``dev -p``, ``waitq`` and ``bpf`` on the
*state* dumps of 5.10, 6.1 and 6.12 (:mod:`vmcores.state`) and on crashed dumps
(:mod:`vmcores.crash`), held to what the guest recorded first (``/proc/vmallocinfo``,
``/proc/zoneinfo``), then to Debian's crash 8.0.2 with the ``-dbg`` vmlinux
(:mod:`vmcores.crash_oracle`), line by line.

What has no guest truth in these dumps, and why: the builders record no
``/proc/kpageflags`` and no PCI listing (adding them would rebuild every reference dump),
so ``kmem -p``, ``kmem -g``, ``dev -p``, ``waitq`` and ``kmem ADDR`` are held to crash with
DWARF on the ELF dumps (``bpf`` too here; the state guest's BPF objects are held to its
``/proc/PID/fdinfo`` in ``tests/test_crash_bpf.py``; ``kmem -p``, ``kmem -g`` and ``dev -p`` are also held to a live
6.1 guest's own ``/proc/kpageflags``, ``/proc/kpagecount``, BTF and ``/sys/bus/pci`` in
``tests/test_crash_pages_live.py``); trixie 6.12 does not open in crash 8.0.2
(:data:`~vmcores.crash_oracle.CRASH_CANNOT_OPEN`), so there only the guest's files and
the kdump form's agreement with the ELF form check them. On bookworm 6.1 crash's task
table is wrong (:data:`~vmcores.crash_oracle.CRASH_WRONG_TASKS`): the addresses inside a
task are compared there on what does not depend on it (``kmem ADDR``'s context lines
are dropped from both sides and said so).

The addresses ``kmem ADDR`` is asked about come from crash's own answers (``ps``, ``sym``,
``kmem -v``, ``kmem -p``, ``kmem -F``, ``task -R signal``), not from kdbg.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands, run_kdbg
from tests.command_checks import output_lines
from tests.conftest import dump_id, resolve_state_dump
from vmcores.crash import CrashDump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CRASH_WRONG_TASKS, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.state import StateDump
from vmcores.state_bpf import bpf_objects

pytestmark = pytest.mark.timeout(2400)

#: The forms each command is checked on: QEMU's ELF and its kdump-compressed form.
FORMS = ("elf", "kdump-zlib")
STATE_IDS = [(suite, form) for suite in SUITES for form in FORMS]
OOPS_IDS = [(suite, "oops", form) for suite in SUITES for form in FORMS]

#: ``/proc/vmallocinfo`` lines of areas without a ``vm_struct`` (``vm_map_ram``) or freed
#: lazily (``unpurged vm_area``): crash lists neither, nor does kdbg.
NOT_LISTED = ("vm_map_ram", "unpurged")
#: The most stacks of processes that ran while the truth was recorded (``cat``, the shell's
#: children) and were freed before the dump; seen: one on bookworm.
MAX_GONE_STACKS = 4
#: x86-64's pages per memory section.
PAGES_PER_SECTION = 1 << (27 - 12)


def _release(truth: Path) -> Tuple[int, int]:
    major, minor = re.findall(r"\d+", (truth / "uname").read_text())[:2]
    return int(major), int(minor)


# ------------------------------------------------------------------------------- kmem -v


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_kmem_v_against_the_guests_vmallocinfo(state_dump: StateDump) -> None:
    """Every area ``/proc/vmallocinfo`` lists with a ``vm_struct``, with its size and
    allocating function, is a row of ``kmem -v``; the only areas the guest listed that the
    dump no longer has are stacks of processes that exited while the truth was recorded
    (``kernel_clone``), and the only rows it did not list are stacks of tasks it started after
    (PIDs above every process the truth lists). Rows go up by address (crash sorts them; 6.12's
    vmallocinfo lists node by node) without overlapping, and the text is the JSON's."""
    r = kdbg_commands(state_dump.path, "kmem -v --json", "kmem -v")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    first, *text = r.stdout.splitlines()
    rows = json.loads(first)
    truth = [line.split() for line in (state_dump.truth / "vmallocinfo").read_text().splitlines()]
    theirs = collections.Counter((int(f[1]), f[2]) for f in truth if f[2] not in NOT_LISTED)
    ours = collections.Counter((row["size"], row["caller"]) for row in rows)
    new = ours - theirs
    if new:  # stacks of tasks the guest started after it read vmallocinfo (its last sleep)
        assert all(caller.startswith("kernel_clone+") for _size, caller in new), new
        listed = max(int(d.name) for d in (state_dump.truth / "proc").iterdir())
        tasks = run_kdbg("-q", "-c", str(state_dump.path), "-e",
                         "for t in for_each_task(): print(int(t.stack), int(t.pid))")
        assert tasks.returncode == 0, tasks.stderr
        stacks = {int(a): int(b) for a, b in map(str.split, tasks.stdout.splitlines())}
        for key, count in new.items():
            started_later = [r for r in rows if (r["size"], r["caller"]) == key and stacks.get(r["start"], 0) > listed]
            assert count <= len(started_later) <= MAX_GONE_STACKS, (key, count, started_later, listed)
    gone = theirs - ours
    assert all(caller.startswith("kernel_clone+") for _size, caller in gone), gone
    assert sum(gone.values()) <= MAX_GONE_STACKS and len(rows) >= 50
    starts = [row["start"] for row in rows]
    assert starts == sorted(starts)
    assert all(rows[i]["end"] <= rows[i + 1]["start"] for i in range(len(rows) - 1))
    assert text[0].split() == ["VMAP_AREA", "VM_STRUCT", "ADDRESS", "RANGE", "SIZE"]
    assert [line.split() for line in text[1:]] == [
        [f"{row['vmap_area']:016x}", f"{row['vm_struct']:016x}", f"{row['start']:016x}", "-", f"{row['end']:016x}",
         str(row["size"])] for row in rows]


# ------------------------------------------------------------------------------- kmem -n


def _zoneinfo(truth: Path) -> List[Dict[str, int]]:
    """``spanned`` and (where printed) ``start_pfn`` of each zone of ``/proc/zoneinfo``."""
    zones: List[Dict[str, int]] = []
    for line in (truth / "zoneinfo").read_text().splitlines():
        f = line.split()
        if line.startswith("Node"):
            zones.append({})
        elif f[:1] == ["spanned"]:
            zones[-1]["spanned"] = int(f[1])
        elif f[:1] == ["start_pfn:"]:
            zones[-1]["start_pfn"] = int(f[1])
    return zones


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_kmem_n_against_the_guests_zoneinfo(state_dump: StateDump) -> None:
    """``kmem -n``'s zones: the size is ``/proc/zoneinfo``'s ``spanned`` and the start
    address its ``start_pfn`` (a zone the guest gives none is empty); each present
    section starts where its number says, and the zones' pages lie in them."""
    r = kdbg_commands(state_dump.path, "kmem -n --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    data = json.loads(r.stdout)
    zones = [z for node in data["nodes"] for z in node["zones"]]
    truth = _zoneinfo(state_dump.truth)
    assert len(zones) == len(truth) >= 3
    for z, t in zip(zones, truth, strict=True):
        assert z["size"] == t["spanned"], (z, t)
        if "start_pfn" in t and t["spanned"]:
            assert z["start_paddr"] == t["start_pfn"] << 12 and z["start_mapnr"] == t["start_pfn"], (z, t)
    sections = data["sections"]
    assert sections and all("P" in s["state"] and "M" in s["state"] for s in sections)
    # x86-64's sections are 2**27 bytes (SECTION_SIZE_BITS): 32768 pages of 4 KiB
    assert all(s["pfn"] == s["nr"] * PAGES_PER_SECTION for s in sections)
    covered = {s["nr"] for s in sections}
    for z in zones:
        if z["size"]:
            first, last = z["start_mapnr"], z["start_mapnr"] + z["size"] - 1
            assert set(range(first // PAGES_PER_SECTION, last // PAGES_PER_SECTION + 1)) <= covered, z


# ---------------------------------------------------------------------- against crash

#: The commands crash 8.0.2 is asked first on each ELF state dump (one run, cached).
FIRST = ["kmem -v", "kmem -n", "kmem -g", "kmem -g 4000000000000204", "kmem -p", "dev -p", "bpf", "ps",
         "sym init_task", "sym jiffies", "sym schedule", "task -R signal 1", "kmem -s kmalloc-32", "waitq log_wait",
         "kmem -F"]
#: What only crash is asked (the addresses the second round asks about come from it).
CRASH_ONLY = ("ps", "task -R signal 1", "kmem -F")

_SYM = re.compile(r"^([0-9a-f]+) \((\w)\) (\S+)")
_DWARF_LINE = re.compile(r"^([0-9a-f]+ \([Tt]\) \S+) \S+: \d+$")


def _crash_symbol(text: str) -> int:
    m = _SYM.match(output_lines(text)[0])
    assert m, text
    return int(m.group(1), 16)


def _free_blocks(text: str) -> List[Tuple[int, str]]:
    """``(order, first struct page)`` of each free block crash's ``kmem -F`` lists."""
    out, order = [], -1
    for line in output_lines(text):
        f = line.split()
        if len(f) == 3 and f[1].endswith("k") and f[0].isdigit():
            order = int(f[0])
        elif len(f) == 1 and order >= 0:
            out.append((order, f[0]))
    return out


def _free_pages(first: Dict[str, str]) -> List[str]:
    """``kmem ADDR`` inside free buddy blocks crash listed: a block's first page, its
    3rd page by ``struct page``, its 11th (crash writes ``11st``) and the last of the
    largest block by physical address inside the page, and an order-0 block's page.
    crash's search also takes the page just past a free block for one of its pages (and
    then prints nothing: its callback compares ``<=`` the block's end, its printer ``<``);
    the first pages asked about are ones no free block ends right before."""
    rows = [line.split() for line in output_lines(first["kmem -p"])[1:]]
    index = {r[0]: i for i, r in enumerate(rows)}
    blocks = _free_blocks(first["kmem -F"])
    past = {index[page] + (1 << order) for order, page in blocks}
    big = max(blocks)
    mid = next(b for b in blocks if b[0] >= 4 and index[b[1]] not in past)
    single = next(b for b in blocks if b[0] == 0 and index[b[1]] not in past)
    return [f"kmem {mid[1]}", f"kmem {rows[index[mid[1]] + 2][0]}", f"kmem {int(rows[index[mid[1]] + 10][1], 16):x}",
            f"kmem {int(rows[index[big[1]] + (1 << big[0]) - 1][1], 16) + 0x10:x}", f"kmem {single[1]}"]


def _second(first: Dict[str, str]) -> List[str]:
    """``kmem ADDR`` and friends on addresses crash itself printed."""
    vm = [line.split() for line in output_lines(first["kmem -v"])[1:]]
    slab_pages = [line.split() for line in output_lines(first["kmem -p"])[1:] if line.endswith(" slab")]
    out = [f"kmem {_crash_symbol(first['sym init_task']) + 16:x}", f"kmem {_crash_symbol(first['sym jiffies']):x}",
           f"kmem {_crash_symbol(first['sym schedule']) + 16:x}", f"kmem {int(vm[0][2], 16) + 16:x}",
           f"kmem -v {int(vm[1][2], 16) + 16:x}", f"kmem {slab_pages[0][0]}", f"kmem -p {slab_pages[0][0]}",
           f"kmem -p {slab_pages[0][1]}", "kmem 1000000",
           # the kmem_cache of a slab's cache: an allocated object of the kmem_cache cache
           f"kmem {int(slab_pages[1][2], 16) + 8:x}"]
    init = [line.split() for line in output_lines(first["ps"]) if line.split()[:1] == ["1"]]
    if init:  # crash found init (not on bookworm: CRASH_WRONG_TASKS)
        task = int(init[0][3], 16)
        signal = re.search(r"signal = 0x([0-9a-f]+)", first["task -R signal 1"])
        assert signal, first["task -R signal 1"]
        out += [f"kmem {task + 16:x}", f"waitq signal_struct.wait_chldexit {signal.group(1)}"]
    return out + _free_pages(first)


def _comparable(text: str, wrong_tasks: bool) -> List[str]:
    """crash's or kdbg's lines, the source line crash adds to a text symbol dropped (it
    needs DWARF); where crash's task table is wrong, the context lines dropped too."""
    out = []
    for line in output_lines(text):
        m = _DWARF_LINE.match(line)
        line = m.group(1) if m else line
        if wrong_tasks and line.lstrip().split(":")[0] in ("PID", "COMMAND", "TASK", "CPU", "STATE"):
            continue
        out.append(line)
    return out


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_kmem_dev_waitq_bpf_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2 with DWARF on the ELF state dump: ``kmem -v``, ``-n``, ``-g``, ``-g
    FLAGS``, every row of ``kmem -p``, ``dev -p``, ``bpf`` (the guest's three programs and two maps),
    ``kmem -s``, ``waitq``; then ``kmem ADDR`` on a symbol, a text address, a vmalloc
    address, a slab page's ``struct page``, a physical address, a free or allocated slab
    object and init's ``task_struct``, ``kmem -p`` by page and by physical address,
    ``kmem -v ADDR``, init's ``wait_chldexit`` and pages inside free buddy blocks crash's
    ``kmem -F`` lists (their zone, free list and block): line for line (crash's DWARF source
    line dropped)."""
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    first = ask_crash(state_dump.suite, state_dump.path, FIRST).outputs
    second_cmds = _second(first)
    second = ask_crash(state_dump.suite, state_dump.path, second_cmds).outputs
    wrong = state_dump.suite in CRASH_WRONG_TASKS
    mine = [c for c in FIRST if c not in CRASH_ONLY and not c.startswith("sym ")] + second_cmds
    theirs = {**first, **second}
    for cmd in mine:
        r = kdbg_commands(state_dump.path, cmd)
        assert r.returncode == 0 and r.stderr == "", (cmd, r.stderr)
        assert _comparable(r.stdout, wrong) == _comparable(theirs[cmd], wrong), cmd
    # the guest loaded two maps and three programs (tests/test_crash_bpf.py checks them)
    assert len(output_lines(first["bpf"])) == 2 + len(bpf_objects(state_dump.truth)) == 7


@pytest.mark.parametrize("suite", SUITES)
def test_kdump_form_agrees_with_elf(suite: str) -> None:
    """The kdump-compressed form of each state dump answers ``kmem -v/-n/-g/-p``, ``dev
    -p`` and ``bpf`` exactly as its ELF form (on trixie, which crash cannot open, the
    ELF form's answers are held to the guest by the tests above)."""
    commands = ["kmem -v", "kmem -n", "kmem -g", "kmem -p", "dev -p", "bpf --json", "kmem -s kmalloc-32"]
    elf = kdbg_commands(resolve_state_dump(suite, "elf").path, *commands)
    kdump = kdbg_commands(resolve_state_dump(suite, "kdump-zlib").path, *commands)
    assert elf.returncode == kdump.returncode == 0 and elf.stderr == kdump.stderr == "", (elf.stderr, kdump.stderr)
    assert elf.stdout == kdump.stdout
    assert len(elf.stdout.splitlines()) > 30000 // 2


# ------------------------------------------------------------------------- crashed dumps


@pytest.mark.parametrize("crash_dump", OOPS_IDS, ids=dump_id, indirect=True)
def test_on_a_crashed_dump(crash_dump: CrashDump) -> None:
    """The oopsed guest's dump: ``kmem -v`` lists the oops module's own area (its
    ``/proc/modules`` base lies in a row), ``kmem -n`` its memory, ``kmem ADDR`` on the
    module's base names the module area, ``bpf`` nothing; on bullseye's ELF form, as crash
    8.0.2 prints them."""
    base = next(int(line.split()[5], 16) for line in (crash_dump.truth / "modules").read_text().splitlines()
                if line.startswith("kdbg_oops "))
    commands = ["kmem -v", "kmem -n", "bpf", f"kmem -v {base:x}"]
    r = kdbg_commands(crash_dump.path, "kmem -v --json", *commands)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    rows = json.loads(r.stdout.splitlines()[0])
    assert any(row["start"] <= base < row["end"] for row in rows)
    if crash_dump.suite == "bullseye" and crash_dump.form == "elf":
        theirs = ask_crash(crash_dump.suite, crash_dump.path, commands).outputs
        assert output_lines(r.stdout)[1:] == [line for c in commands for line in output_lines(theirs[c])]


# ------------------------------------------------------------------ bad input, help, completion


def test_bad_input_help_and_completion() -> None:
    """Each bad word is one line with exit status 1 and no traceback, and the next command
    runs; ``help`` shows each command's options; the REPL completes them."""
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, says in (("kmem -v -n", "give one of"), ("kmem -g xyz", "not a hexadecimal"),
                      ("kmem -n 1000", "no address arguments"), ("kmem", "give one of"),
                      ("waitq nosuch_wait_queue", "nosuch_wait_queue"), ("waitq task_struct.nosuch 0", "nosuch"),
                      ("waitq task_struct.wait_chldexit", "must supply an address"),
                      ("bpf -p 12345", "invalid program ID"), ("bpf -m 12345", "invalid map ID"),
                      ("dev -p -d", "one of")):
        r = kdbg_commands(path, cmd, "kmem -g 1")
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and says in r.stderr, (cmd, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout.startswith("FLAGS: 1"), (cmd, r.stdout)
    for name, options in (("kmem", ["-v", "-n", "-p", "-g", "--json"]), ("waitq", ["--json"]),
                          ("bpf", ["-p", "-m", "-P", "-M", "--json"]), ("dev", ["-p", "-d"])):
        r = kdbg_commands(path, f"help {name}")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {name}"), r.stdout
        assert all(o in r.stdout for o in options), (name, r.stdout)
        start, got = complete(None, {}, f"{name} -")
        assert start == len(name) + 1 and set(options) <= set(got), (name, got)


def test_kernel_release_matches_the_suite() -> None:
    """The state dumps the tests above read are the suites' own kernels (5.10, 6.1, 6.12)."""
    releases = [_release(resolve_state_dump(s, "elf").truth) for s in SUITES]
    assert sorted(releases) == sorted({(5, 10), (6, 1), (6, 12)})
