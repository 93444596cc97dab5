"""crash's ``irq``, ``timer`` ... on the *state* dumps of 5.10, 6.1 and 6.12
(:mod:`vmcores.state`: the guest recorded ``/proc/interrupts``, ``/proc/softirqs``,
``/proc/timer_list`` ... at the dump moment, the moving counters a second time in
``after/``), held to what the guest printed first, then to Debian's crash 8.0.2 with the
``-dbg`` vmlinux (:mod:`vmcores.crash_oracle`), then to drgn 0.3.0's crash commands
(``drgn.commands._crash``) with Debian's DWARF.

Counters that move: the dump was taken after both of the guest's records, so a count in
the dump is at least the second record's.  A count that did not move between the two
records is the dump's exactly, except the serial console's IRQ: the guest writes its
``KDBG-READY`` line on it after its last record.

Where crash cannot answer, the test says so:

* trixie 6.12: crash 8.0.2 does not open the dump (:data:`CRASH_CANNOT_OPEN`);
* bookworm 6.1: crash 8.0.2's ``irq -a`` prints every IRQ's affinity empty
  (:data:`CRASH_NO_AFFINITY`); drgn's helpers and the 5.10 crash agree with kdbg's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.command_checks import bad_input, help_and_completion, output_lines, run_lines
from tests.conftest import dump_id, resolve_state_dump
from tests.state_dumps import STATE_IDS, crash_answers
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_crash_command
from vmcores.state import StateDump

pytestmark = pytest.mark.timeout(2400)

#: Suites whose crash 8.0.2 prints no CPU in ``irq -a``'s ``AFFINITY`` column.
CRASH_NO_AFFINITY = frozenset({"bookworm"})


# ------------------------------------------------------------------------------- irq


def _proc_interrupts(path: Path) -> Dict[str, List[str]]:
    """``/proc/interrupts`` rows by their first column (``0``, ``LOC`` ...), the rest split."""
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        rows[key.strip()] = rest.split()
    return rows


def _proc_softirqs(path: Path) -> Dict[str, List[int]]:
    """``/proc/softirqs``: ``NAME -> [count per CPU]``."""
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        rows[key.strip()] = [int(x) for x in rest.split()]
    return rows


def _moved_within(ours: List[int], before: List[int], after: List[int], exact: bool) -> None:
    """A dump's per-CPU counts against the guest's two records (see the module docstring)."""
    assert len(ours) == len(before) == len(after), (ours, before, after)
    for n, b, a in zip(ours, before, after, strict=True):
        assert b <= a <= n, (ours, before, after)
        if exact and a == b:
            assert n == a, (ours, before, after)


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_irq_against_the_guests_proc(state_dump: StateDump) -> None:
    """``irq -s`` against ``/proc/interrupts``: the IRQs with a handler (the kernel also
    lists an IRQ without one that has counted, as neither crash nor drgn does), their chip,
    flow handler and handlers' names, their per-CPU counts within the guest's two records;
    ``irq -b`` against ``/proc/softirqs``: the kernel's names of the vectors in order, their
    counts within the two records; the text says what ``--json`` says."""
    dump = state_dump
    lines = run_lines(dump.path, "irq -s --json", "irq -b --json", "irq -s", "irq -b", "irq -u --json")
    stats, soft, used = json.loads(lines[0]), json.loads(lines[1]), json.loads(lines[-1])
    text = lines[2:-1]
    before, after = _proc_interrupts(dump.truth / "interrupts"), _proc_interrupts(dump.truth / "after" / "interrupts")
    ncpu = len((dump.truth / "interrupts").read_text().split("\n", 1)[0].split())
    assert stats["cpus"] == soft["cpus"] == list(range(ncpu)), (stats["cpus"], ncpu)
    handled = {k: v for k, v in before.items() if k.isdigit() and len(v) > ncpu + 2}
    assert [r["irq"] for r in stats["irqs"]] == sorted(int(k) for k in handled) and handled
    console = next(r["irq"] for r in stats["irqs"] if r["names"] == ["ttyS0"])
    for r in stats["irqs"]:
        row = before[str(r["irq"])]
        chip, hwirq_flow, names = row[ncpu], row[ncpu + 1], " ".join(row[ncpu + 2:])
        assert (r["chip"], f"{r['hwirq']}-{r['flow']}", ", ".join(r["names"])) == (chip, hwirq_flow, names), (r, row)
        _moved_within(r["counts"], [int(x) for x in row[:ncpu]], [int(x) for x in after[str(r["irq"])][:ncpu]],
                      exact=r["irq"] != console)
    table = text[:1 + len(stats["irqs"])]
    assert table[0] == "    " + "".join(f"{'CPU' + str(c):>11}" for c in range(ncpu)) + " "
    for line, r in zip(table[1:], stats["irqs"], strict=True):
        assert line.split() == [f"{r['irq']}:", *map(str, r["counts"]), f"{r['chip']}-{r['flow']}", *r["names"]], line
    # the descriptors -u lists are the allocated ones: every IRQ /proc/interrupts numbers is one
    assert {int(k) for k in before if k.isdigit()} <= {r["irq"] for r in used}
    assert all(r["irq_desc"] for r in used)
    assert {r["irq"] for r in used if r["actions"]} == {r["irq"] for r in stats["irqs"]}
    # softirqs
    proc_soft, proc_after = _proc_softirqs(dump.truth / "softirqs"), _proc_softirqs(dump.truth / "after" / "softirqs")
    assert [r["name"] for r in soft["softirqs"]] == list(proc_soft) and [r["vec"] for r in soft["softirqs"]] == \
        list(range(len(proc_soft)))
    for r in soft["softirqs"]:
        _moved_within(r["counts"], proc_soft[r["name"]], proc_after[r["name"]], exact=False)
    soft_text = text[1 + len(stats["irqs"]):]
    assert soft_text[0] == "SOFTIRQ_VEC      ACTION     " and len(soft_text) == 1 + len(soft["softirqs"])
    for line, r in zip(soft_text[1:], soft["softirqs"], strict=True):
        assert line.split() == [f"[{r['vec']}]", f"{r['action']:016x}", f"<{r['function']}>"], line


@pytest.mark.parametrize("suite", SUITES)
def test_irq_against_crash(suite: str) -> None:
    """crash 8.0.2's ``irq``, ``irq -s``, ``irq -a`` and ``irq -b`` on the ELF dump, line
    by line (trailing blanks and empty lines aside); where crash prints no affinity (6.1)
    the rest of each line still agrees and drgn decides the cell (below)."""
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        return
    theirs = crash_answers(suite)
    dump = resolve_state_dump(suite, "elf")
    for cmd in ("irq", "irq -s", "irq -a", "irq -b"):
        ours, crash = output_lines("\n".join(run_lines(dump.path, cmd))), output_lines(theirs[cmd])
        if cmd == "irq -a" and suite in CRASH_NO_AFFINITY:
            assert ours[0] == crash[0], crash
            assert [line.split()[:2] for line in ours[1:]] == [line.split() for line in crash[1:]], crash
            assert all(line.split()[2:] for line in ours[1:]), ours
            continue
        assert ours == crash, cmd


@pytest.mark.parametrize("suite", SUITES)
def test_irq_against_drgn(suite: str) -> None:
    """drgn 0.3.0's ``irq -s``, ``irq -a`` and ``irq -b`` with Debian's DWARF, value by
    value (drgn prints its own column widths and leaves the flow handler out of the chip)."""
    dump = resolve_state_dump(suite, "elf-paging")
    lines = run_lines(dump.path, "irq -s --json", "irq -a --json", "irq -b --json")
    stats, affinity, soft = (json.loads(line) for line in lines)
    drgn_s = output_lines(drgn_crash_command(suite, dump.path, "irq -s"))
    assert [line.split() for line in drgn_s[1:]] == [
        [f"{r['irq']}:", *map(str, r["counts"]), r["chip"], *r["names"]] for r in stats["irqs"]]
    drgn_a = output_lines(drgn_crash_command(suite, dump.path, "irq -a"))
    assert [line.split() for line in drgn_a[1:]] == [[str(r["irq"]), ",".join(r["names"]), r["affinity"]]
                                                     for r in affinity]
    drgn_b = output_lines(drgn_crash_command(suite, dump.path, "irq -b"))
    assert [line.split() for line in drgn_b[1:]] == [[f"[{r['vec']}]", f"{r['action']:x}", f"<{r['function']}>"]
                                                     for r in soft["softirqs"]]


def test_irq_numbers_bad_input_help_and_completion() -> None:
    """``irq N...`` lists those IRQs as the full list does; a number past ``nr_irqs``, a bad
    CPU list, mixed displays, an unknown option: one line each, exit status 1, and the
    next command runs; ``help irq`` is its usage; the REPL completes its options."""
    dump = resolve_state_dump("bullseye", "kdump-zlib")
    lines = run_lines(dump.path, "irq 4 0", "irq -s -c 1", "irq -s --json", "irq --json")
    stats, descs = json.loads(lines[-2]), {r["irq"]: r for r in json.loads(lines[-1])}
    assert lines[0] == " IRQ   IRQ_DESC/_DATA      IRQACTION      NAME"
    assert [line.split() for line in lines[1:3]] == [
        [str(n), f"{descs[n]['irq_desc']:016x}", f"{descs[n]['actions'][0]['irqaction']:016x}",
         f'"{descs[n]["actions"][0]["name"]}"'] for n in (4, 0)]
    one_cpu = lines[3:-2]
    assert one_cpu[0] == "           CPU1 " and len(one_cpu) == 1 + len(stats["irqs"])
    assert [line.split()[:2] for line in one_cpu[1:]] == [[f"{r['irq']}:", str(r["counts"][1])] for r in stats["irqs"]]
    bad_input(dump.path, [("irq 100000", "invalid IRQ number: 100000"), ("irq -s -c 7", "CPU 7 is not online"),
                           ("irq -s -c x", "not a CPU list"), ("irq -a -b", "give one of"),
                           ("irq -c 0", "-c goes with -s"), ("irq -q", "unrecognized arguments"),
                           ("irq zz", "invalid int value")], "irq 0", f"{lines[0]}\n{lines[2]}\n")
    help_and_completion(dump.path, "irq", ["-a", "-b", "-c", "-s", "-u", "--json"])


# ------------------------------------------------------------------------------- timer


def _timer_list(path: Path) -> Tuple[int, Dict[Tuple[int, int], Dict[str, object]]]:
    """``/proc/timer_list``: its ``now at`` and, per ``(cpu, clock)``, the clock's
    ``get_time`` and its active timers as ``(function, softexpires, expires)``."""
    now, clocks = 0, {}
    cpu, key = -1, (-1, -1)
    for line in path.read_text().splitlines():
        words = line.split()
        if line.startswith("now at "):
            now = int(words[2])
        elif line.startswith("cpu: "):
            cpu = int(words[1])
        elif line.startswith(" clock ") and cpu >= 0:
            key = (cpu, int(words[1].rstrip(":")))
            clocks[key] = {"get_time": "", "timers": []}
        elif line.startswith("  .get_time:") and key in clocks:
            clocks[key]["get_time"] = words[1]
        elif line.startswith(" #") and line[2:3].isdigit() and key in clocks:
            function = words[2].rstrip(",")
        elif line.startswith(" # expires at ") and key in clocks:
            soft, hard = (int(x) for x in words[3].split("-"))
            clocks[key]["timers"].append((function, soft, hard))  # type: ignore[attr-defined]
        elif line.startswith("Tick Device"):
            break
    return now, clocks


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_timer_hrtimers_against_the_guests_timer_list(state_dump: StateDump) -> None:
    """``timer -r`` against ``/proc/timer_list``: the same CPUs and clock bases with the
    same ``get_time``; every sleeping task's timer (``hrtimer_wakeup``) that had not
    fired by the dump is there with the same soft and hard expiry; ``CURRENT`` is past the
    guest's ``now at``; timers soonest first; the text says what ``--json`` says."""
    dump = state_dump
    lines = run_lines(dump.path, "timer -r --json", "timer -r")
    data, text = json.loads(lines[0]), lines[1:]
    now, clocks = _timer_list(dump.truth / "timer_list")
    ours = {(c["cpu"], k["clock"]): k for c in data for k in c["clocks"]}
    assert sorted(ours) == sorted(clocks) and clocks
    sleepers = 0
    for key, truth in clocks.items():
        k = ours[key]
        assert k["get_time"] == truth["get_time"] and k["current"] >= now, (key, k["current"], now)
        assert [t["expires"] for t in k["timers"]] == sorted(t["expires"] for t in k["timers"])
        have = {(t["symbol"], t["softexpires"], t["expires"]) for t in k["timers"]}
        for function, soft, hard in truth["timers"]:  # type: ignore[attr-defined]
            if function == "hrtimer_wakeup" and hard > k["current"]:
                assert (function, soft, hard) in have, (key, function, soft, hard)
                sleepers += 1
        for t in k["timers"]:
            assert t["tte"] == t["expires"] - k["current"]
    assert sleepers >= 4, sleepers
    rows = [line.split() for line in text if line.startswith("  ") and line.split()[0].isdigit()]
    expected = [[str(t["softexpires"]), str(t["expires"]), str(t["tte"]), f"{t['hrtimer']:016x}",
                 f"{t['function']:016x}", f"<{t['symbol']}>"] for c in data for k in c["clocks"] for t in k["timers"]]
    currents = [[str(k["current"])] for c in data for k in c["clocks"] if k["timers"]]
    assert [r for r in rows if len(r) > 1] == expected
    assert [r for r in rows if len(r) == 1] == currents


@pytest.mark.parametrize("suite", SUITES)
def test_timer_against_crash(suite: str) -> None:
    """crash 8.0.2's ``timer`` on the ELF dump line by line; its ``timer -r`` too, but for
    ``CURRENT`` and ``TTE``: crash takes "now" from ``jiffies`` (which lag behind the clock
    while an idle CPU's tick is stopped), kdbg from the kernel's monotonic clock (the guest
    above): each of crash's ``TTE`` is kdbg's plus the same difference of the two
    ``CURRENT``.  The sign of that difference is not fixed: jiffies and the monotonic clock
    start at different moments of boot and both advance only at ticks, so a jiffies-derived
    "now" can be ahead (an empty-cache bookworm run: crash 7,268,000,000 against kdbg's
    7,262,187,640) or behind; kdbg's own ``CURRENT`` is checked against the guest's
    ``/proc/timer_list`` and drgn's."""
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        return
    theirs = crash_answers(suite)
    dump = resolve_state_dump(suite, "elf")
    assert output_lines("\n".join(run_lines(dump.path, "timer"))) == output_lines(theirs["timer"])
    ours, crash = output_lines("\n".join(run_lines(dump.path, "timer -r"))), output_lines(theirs["timer -r"])
    assert len(ours) == len(crash)
    shift = 0
    for o, c in zip(ours, crash, strict=True):
        ow, cw = o.split(), c.split()
        if len(ow) == 1 and ow[0].isdigit():  # CURRENT
            shift = int(ow[0]) - int(cw[0])
        elif len(ow) == 6 and ow[0].isdigit():
            assert ow[:2] + ow[3:] == cw[:2] + cw[3:] and int(cw[2]) == int(ow[2]) + shift, (o, c)
        elif ow[:1] == ["SOFTEXPIRES"]:  # the TTE column is as wide as its widest value: crash's are larger
            assert ow == cw, (o, c)
        else:
            assert o == c


@pytest.mark.parametrize("suite", SUITES)
def test_timer_against_drgn(suite: str) -> None:
    """drgn 0.3.0's ``timer`` and ``timer -r`` with Debian's DWARF, value by value: the
    same bases, timers, expiries and functions (drgn lists a wheel's timers in its slot
    order, kdbg soonest first as crash: compared as sets per base), the same ``CURRENT``."""
    dump = resolve_state_dump(suite, "elf-paging")
    lines = run_lines(dump.path, "timer --json", "timer -r --json")
    wheel, hr = json.loads(lines[0]), json.loads(lines[1])
    drgn_wheel = output_lines(drgn_crash_command(suite, dump.path, "timer"))
    assert drgn_wheel[:2] == ["JIFFIES", str(wheel["jiffies"])]
    theirs: Dict[str, List[Tuple[str, ...]]] = {}
    base = ""
    for line in drgn_wheel[2:]:
        if line.startswith("TIMER_BASES["):
            base = line
            theirs[base] = []
        elif line.split()[0].isdigit():
            theirs[base].append(tuple(line.split()))
    assert {k: sorted(v) for k, v in theirs.items()} == {
        f"TIMER_BASES[{b['cpu']}][{b['base']}]: {b['address']:x}":
        sorted((str(t["expires"]), str(t["tte"]), f"{t['timer_list']:x}", f"{t['function']:x}", f"<{t['symbol']}>")
               for t in b["timers"]) for b in wheel["bases"]}
    assert sum(len(v) for v in theirs.values()) >= 4
    drgn_hr = output_lines(drgn_crash_command(suite, dump.path, "timer -r"))
    heads = [line.split() for line in drgn_hr if line.startswith(("CPU:", "  CLOCK:"))]
    assert heads == [x for c in hr for x in [["CPU:", str(c["cpu"]), "HRTIMER_CPU_BASE:", f"{c['address']:x}"],
                                             *(["CLOCK:", str(k["clock"]), "HRTIMER_CLOCK_BASE:", f"{k['address']:x}"]
                                               for k in c["clocks"])]]
    rows = [line.split() for line in drgn_hr if line.split()[0].isdigit()]
    assert rows == [x for c in hr for k in c["clocks"] if k["timers"] for x in [
        [str(k["current"])], *([str(t["softexpires"]), str(t["expires"]), str(t["tte"]), f"{t['hrtimer']:x}",
                                f"{t['function']:x}", f"<{t['symbol']}>"] for t in k["timers"])]]


def test_timer_bad_input_help_and_completion() -> None:
    """``timer -C 1`` is CPU 1's part of ``timer``; a bad CPU list, an unknown option: one
    line each, exit status 1, and the next command runs; ``help timer``; completion."""
    dump = resolve_state_dump("bullseye", "kdump-zlib")
    lines = run_lines(dump.path, "timer", "timer -C 1")
    second = [i for i, line in enumerate(lines) if line.startswith("JIFFIES")][1]
    full, one = lines[:second], lines[second:]
    cpu1 = next(i for i, line in enumerate(full) if line.startswith("TIMER_BASES[1]["))
    assert one[:3] == full[:3] and one[3:] == full[cpu1:] and len(one) > 4, one
    bad_input(dump.path, [("timer -C 9", "CPU 9 is not online"), ("timer -C x", "not a CPU list"),
                           ("timer -q", "unrecognized arguments")], "timer -C 1", "".join(x + "\n" for x in one))
    help_and_completion(dump.path, "timer", ["-r", "-C", "--json"])


# ------------------------------------------------------------------------------- dev


def _proc_devices(path: Path) -> Dict[str, List[Tuple[int, str]]]:
    """``/proc/devices``: ``chr`` and ``blk`` as ``(major, name)`` rows, in its order."""
    out: Dict[str, List[Tuple[int, str]]] = {"chr": [], "blk": []}
    part = ""
    for line in path.read_text().splitlines():
        if line.startswith(("Character", "Block")):
            part = "chr" if line.startswith("Character") else "blk"
        elif line.strip():
            major, name = line.split(None, 1)
            out[part].append((int(major), name))
    return out


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_dev_against_the_guests_proc(state_dump: StateDump) -> None:
    """``dev`` against ``/proc/devices``: every character device range and block major
    with its name (the kernel sorts by major, kdbg keeps the kernel's hash order as crash
    does); ``dev -d`` against ``/proc/partitions`` (the whole disks) and ``/proc/diskstats``
    (each disk's requests in flight); the text says what ``--json`` says."""
    dump = state_dump
    lines = run_lines(dump.path, "dev --json", "dev -d --json", "dev", "dev -d")
    rows, disks, text = json.loads(lines[0]), json.loads(lines[1]), lines[2:]
    truth = _proc_devices(dump.truth / "devices")
    for kind in ("chr", "blk"):
        ours = [(r["major"], r["name"]) for r in rows[kind]]
        assert sorted(ours, key=lambda x: x[0]) == truth[kind] and truth[kind], kind
    assert any(r["cdev"] and r["operations"].endswith("_fops") for r in rows["chr"])
    zram = next(r for r in rows["blk"] if r["name"] == "zram")
    assert zram["gendisk"] == next(d["gendisk"] for d in disks if d["name"] == "zram0") and zram["operations"]
    parts = [line.split() for line in (dump.truth / "partitions").read_text().splitlines()[2:]]
    assert sorted((d["major"], d["name"]) for d in disks) == sorted((int(p[0]), p[3]) for p in parts if p[1] == "0")
    stats = {line.split()[2]: line.split() for line in (dump.truth / "diskstats").read_text().splitlines()}
    for d in disks:
        assert d["total"] == d["read"] + d["write"] == int(stats[d["name"]][11]), (d, stats[d["name"]])
    chr_at, blk_at = text.index(HEADER_CHR), text.index(HEADER_BLK)
    assert [line.split()[:2] for line in text[chr_at + 1:blk_at - 1]] == [[str(r["major"]), r["name"].split()[0]]
                                                                          for r in rows["chr"]]
    for line, r in zip(text[chr_at + 1:blk_at - 1], rows["chr"], strict=True):
        assert line[25:41] == (f"{r['cdev']:016x}" if r["cdev"] else "     (none)     ") and \
            line[43:] == r["operations"], line
    disk_at = text.index(HEADER_DISK)
    assert [line.split() for line in text[blk_at + 1:disk_at]] == [
        [str(r["major"]), r["name"], *([f"{r['gendisk']:016x}", r["operations"]] if r["gendisk"] else ["(none)"])]
        for r in rows["blk"]]
    assert [line.split() for line in text[disk_at + 1:]] == [
        [str(d["major"]), f"{d['gendisk']:016x}", d["name"], f"{d['request_queue']:016x}", str(d["total"]),
         str(d["read"]), str(d["write"])] for d in disks]


HEADER_CHR = "CHRDEV    NAME                 CDEV        OPERATIONS      "
HEADER_BLK = "BLKDEV    NAME                GENDISK      OPERATIONS      "
HEADER_DISK = "MAJOR GENDISK            NAME       REQUEST_QUEUE      TOTAL  READ WRITE "
#: Suites whose crash 8.0.2 heads ``dev -d``'s two last columns ``ASYNC  SYNC`` (its
#: layout for older kernels); kdbg counts reads and writes (``rq_data_dir``) as drgn does.
CRASH_ASYNC_SYNC = frozenset({"bullseye"})


@pytest.mark.parametrize("suite", SUITES)
def test_dev_against_crash(suite: str) -> None:
    """crash 8.0.2's ``dev`` and ``dev -d`` on the ELF dump, line by line (on 5.10 crash
    heads the in-flight columns ``ASYNC SYNC``, :data:`CRASH_ASYNC_SYNC`)."""
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        return
    theirs = crash_answers(suite)
    dump = resolve_state_dump(suite, "elf")
    assert output_lines("\n".join(run_lines(dump.path, "dev"))) == output_lines(theirs["dev"])
    ours, crash = output_lines("\n".join(run_lines(dump.path, "dev -d"))), output_lines(theirs["dev -d"])
    if suite in CRASH_ASYNC_SYNC:
        assert crash[0] == HEADER_DISK.replace("  READ WRITE", " ASYNC  SYNC").rstrip(), crash[0]
        ours, crash = ours[1:], crash[1:]
    assert ours == crash


@pytest.mark.parametrize("suite", SUITES)
def test_dev_against_drgn(suite: str) -> None:
    """drgn 0.3.0's ``dev`` and ``dev -d`` with Debian's DWARF, value by value."""
    dump = resolve_state_dump(suite, "elf-paging")
    lines = run_lines(dump.path, "dev --json", "dev -d --json")
    rows, disks = json.loads(lines[0]), json.loads(lines[1])
    theirs = output_lines(drgn_crash_command(suite, dump.path, "dev"))
    blk_at = next(i for i, line in enumerate(theirs) if line.startswith("BLKDEV"))
    assert [line.split() for line in theirs[1:blk_at]] == [
        [str(r["major"]), r["name"], *([f"{r['cdev']:x}", r["operations"]] if r["cdev"] else ["(none)"])]
        for r in rows["chr"]]
    assert [line.split() for line in theirs[blk_at + 1:]] == [
        [str(r["major"]), r["name"], *([f"{r['gendisk']:x}", r["operations"]] if r["gendisk"] else ["(none)"])]
        for r in rows["blk"]]
    theirs = output_lines(drgn_crash_command(suite, dump.path, "dev -d"))
    assert [line.split() for line in theirs[1:]] == [
        [str(d["major"]), f"{d['gendisk']:x}", d["name"], f"{d['request_queue']:x}", str(d["total"]),
         str(d["read"]), str(d["write"])] for d in disks]


def test_dev_bad_input_help_and_completion() -> None:
    dump = resolve_state_dump("bullseye", "kdump-zlib")
    good = run_lines(dump.path, "dev -d")
    bad_input(dump.path, [("dev -q", "unrecognized arguments"), ("dev zram", "unrecognized arguments")],
               "dev -d", "".join(x + "\n" for x in good))
    help_and_completion(dump.path, "dev", ["-d", "--json"])


