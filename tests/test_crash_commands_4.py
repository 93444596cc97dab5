"""crash's state commands (``sig``, ...) on the *state* dumps of 5.10, 6.1 and 6.12
(:mod:`vmcores.state`: a guest that made signals pending, sockets, swap and SysV IPC and
recorded ``/proc``'s view of them at the dump moment), held to what the guest printed,
then to Debian's crash 8.0.2 with the ``-dbg`` vmlinux (:mod:`vmcores.crash_oracle`).

Where crash cannot answer, the test says so:

* trixie 6.12: crash 8.0.2 does not open the dump (:data:`CRASH_CANNOT_OPEN`);
* bookworm 6.1: crash 8.0.2's task table misses the user tasks (:data:`CRASH_WRONG_TASKS`):
  it cannot find the state guest's PIDs, so the guest decides alone;
* drgn 0.3.0's crash commands (``drgn.commands._crash``) have no ``sig``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands
from tests.conftest import resolve_state_dump
from tests.state_dumps import guest_pids
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CRASH_WRONG_TASKS, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_eval

pytestmark = pytest.mark.timeout(2400)

#: The forms each command is checked on: QEMU's ELF and its kdump-compressed form.
FORMS = ("elf", "kdump-zlib")


def _status(truth: Path, pid: int) -> Dict[str, str]:
    """The guest's ``/proc/PID/status`` at the dump moment, by field."""
    fields = {}
    for line in (truth / "proc" / str(pid) / "status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


# ------------------------------------------------------------------------------- the state guest


@pytest.mark.parametrize("suite", SUITES)
def test_state_guest_made_its_state(suite: str) -> None:
    """The guest's own files show the state the scenario creates (else no command test
    below means anything)."""
    truth = resolve_state_dump(suite, "elf").truth
    pids = guest_pids(truth)
    assert set(pids) == {"nc-listen", "nc-server", "nc-client", "trap-sh", "kdbg-state", "kdbg-bpf"}, pids
    for pid in pids.values():
        assert (truth / "proc" / str(pid) / "maps").read_text(), pid
    helper, trap = _status(truth, pids["kdbg-state"]), _status(truth, pids["trap-sh"])
    assert int(helper["SigPnd"], 16) and int(helper["ShdPnd"], 16) and int(helper["SigBlk"], 16), helper
    assert int(trap["ShdPnd"], 16) and trap["State"].startswith("T"), trap
    swaps = (truth / "swaps").read_text().splitlines()
    assert len(swaps) == 2 and swaps[1].startswith("/dev/zram0"), swaps
    for kind in ("shm", "sem", "msg"):
        assert len((truth / "sysvipc" / kind).read_text().splitlines()) == 2, kind
    assert any(line.split()[:1] == ["10.77.0.9"] for line in (truth / "net" / "arp").read_text().splitlines())
    assert " kdbg0:" in (truth / "net" / "dev").read_text()
    assert (truth / "after" / "interrupts").read_text().startswith((truth / "interrupts").read_text()[:20])


# ------------------------------------------------------------------------------- sig


def _sig_blocks(text: str) -> Dict[str, List[str]]:
    """One ``sig PID`` display as its parts: ``actions`` (the handler lines), ``private``
    and ``shared`` (the ``SIGQUEUE`` lines of each), and the single-value lines."""
    lines = text.splitlines()
    parts: Dict[str, List[str]] = {"actions": [], "private": [], "shared": []}
    where = ""
    for line in lines[3:]:
        if re.match(r"\s*\[\d+\]", line):
            parts["actions"].append(line)
        elif line.strip() in ("PRIVATE_PENDING", "SHARED_PENDING"):
            where = line.strip().split("_")[0].lower()
        elif where and line.strip().startswith("SIGNAL:"):
            parts[f"{where}_signal"] = [line.split()[-1]]
        elif where and re.fullmatch(r"\s+\d+\s+[0-9a-f]+", line):
            parts[where].append(line)
        elif line.strip().startswith(("BLOCKED:", "SIGPENDING:")):
            key = line.split(":")[0].strip().lower()
            parts[key] = [line.split()[-1]]
    return parts


def _queued(lines: List[str]) -> List[int]:
    return sorted(int(line.split()[0]) for line in lines)


def _bits(mask: int) -> List[int]:
    return [n + 1 for n in range(64) if mask >> n & 1]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form", FORMS)
def test_sig_against_the_guests_proc_status(suite: str, form: str) -> None:
    """``sig PID`` of the stopped shell and of the helper against ``/proc/PID/status``:
    ``BLOCKED`` is ``SigBlk``, the private and shared ``SIGNAL`` sets ``SigPnd`` and
    ``ShdPnd``, ``SIG_IGN`` handlers exactly ``SigIgn``, code addresses exactly ``SigCgt``,
    ``NR_THREADS`` ``Threads``; each queue holds every pending signal of its set and no
    other (a real-time one may be queued more than once); ``--json`` says the same."""
    dump = resolve_state_dump(suite, form)
    pids = guest_pids(dump.truth)
    names = ("kdbg-state", "trap-sh")
    cmds = [f"sig {pids[n]}" for n in names] + [f"sig --json {pids[n]}" for n in names]
    r = kdbg_commands(dump.path, *cmds)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = r.stdout.splitlines(keepends=True)
    displays, rest = [], out
    for _ in names:  # each display is 3 header lines, 64 handlers, 9+ set lines
        end = next(i for i, line in enumerate(rest[1:], 1) if line.startswith("PID: ") or line.startswith("[{"))
        displays.append("".join(rest[:end]))
        rest = rest[end:]
    jsons = [json.loads(line) for line in rest]
    assert len(jsons) == len(names)
    for name, text, js in zip(names, displays, jsons, strict=True):
        status = _status(dump.truth, pids[name])
        head = text.splitlines()[0]
        assert head.startswith(f"PID: {pids[name]} ") and head.endswith(f'COMMAND: "{status["Name"]}"'), head
        assert re.search(rf"NR_THREADS: {status['Threads']}$", text.splitlines()[1]), text.splitlines()[1]
        parts = _sig_blocks(text)
        assert parts["blocked"] == [status["SigBlk"]]
        assert parts["private_signal"] == [status["SigPnd"]]
        assert parts["shared_signal"] == [status["ShdPnd"]]
        ign, cgt = int(status["SigIgn"], 16), int(status["SigCgt"], 16)
        handlers = {int(a.split("]")[0].strip(" [")): a.split()[2] for a in parts["actions"]}
        assert sorted(handlers) == list(range(1, 65)), sorted(handlers)
        assert [n for n, h in handlers.items() if h == "SIG_IGN"] == _bits(ign)
        assert [n for n, h in handlers.items() if h not in ("SIG_IGN", "SIG_DFL")] == _bits(cgt)
        for which, field in (("private", "SigPnd"), ("shared", "ShdPnd")):
            assert sorted(set(_queued(parts[which]))) == _bits(int(status[field], 16)), (which, parts[which])
        # SIGPENDING is the kernel's TIF_SIGPENDING, which /proc does not print: a stopped
        # task's unblocked signals wait without it (crash agrees, below); with every pending
        # signal blocked it must be clear
        pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
        if not pending & ~int(status["SigBlk"], 16):
            assert parts["sigpending"] == ["no"]
        assert js[0]["blocked"] == status["SigBlk"] and js[0]["pid"] == pids[name]
        assert js[0]["shared_pending"]["signal"] == status["ShdPnd"]
        assert sorted(q["sig"] for q in js[0]["shared_pending"]["queue"]) == _queued(parts["shared"])
        assert [a["sig"] for a in js[0]["actions"] if a["handler"] == 1] == _bits(ign)


def test_sig_list_and_set() -> None:
    """``sig -l`` is crash's list (the ``help sig`` of Debian's crash shows it: aliases
    after ``/``, real-time signals counted from both ends); ``sig -s`` names a set's
    signals, checked against the guest: the helper's ``SigBlk`` named by ``SigBlk``'s bits
    and that list."""
    dump = resolve_state_dump("bullseye", "kdump-zlib")
    helper = _status(dump.truth, guest_pids(dump.truth)["kdbg-state"])
    r = kdbg_commands(dump.path, "sig -l", f"sig -s {helper['SigBlk']}")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    listing, decoded = lines[:-1], lines[-1]
    assert len(listing) == 64
    assert listing[0] == " [1] SIGHUP" and listing[5] == " [6] SIGABRT/SIGIOT" and listing[16] == "[17] SIGCHLD/SIGCLD"
    assert listing[31:34] == ["[32] SIGRTMIN", "[33] SIGRTMIN+1", "[34] SIGRTMIN+2"]
    assert listing[48] == "[49] SIGRTMAX-15" and listing[63] == "[64] SIGRTMAX"
    names = {int(line.split("]")[0].strip(" [")): line.split()[1].split("/")[0] for line in listing}
    assert decoded.split() == [names[n] for n in _bits(int(helper["SigBlk"], 16))]


def _crash_sig(suite: str, path: Path, pids: List[int]) -> Tuple[str, ...]:
    return tuple(ask_crash(suite, path, [f"sig {p}" for p in pids]).outputs.values())


@pytest.mark.parametrize("suite", SUITES)
def test_sig_against_crash(suite: str) -> None:
    """crash 8.0.2's ``sig PID`` on the ELF dump, line by line (its trailing blanks and
    empty lines aside): the helper with blocked and queued signals, the stopped shell."""
    dump = resolve_state_dump(suite, "elf")
    pids = guest_pids(dump.truth)
    wanted = [pids["kdbg-state"], pids["trap-sh"]]
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        return
    if suite in CRASH_WRONG_TASKS:  # crash 8.0.2 does not find 6.1's user tasks: the guest decides above
        return
    theirs = _crash_sig(suite, dump.path, wanted)
    r = kdbg_commands(dump.path, *[f"sig {p}" for p in wanted])
    assert r.returncode == 0, r.stderr
    ours = r.stdout.splitlines()
    crash_lines = [line.rstrip() for text in theirs for line in text.splitlines() if line.strip()]
    assert [line.rstrip() for line in ours if line.strip()] == crash_lines


def test_sig_bad_input_help_and_completion() -> None:
    """A PID that is no task, a bad set, an unknown option: one line each, exit status 1,
    and the next command runs; ``help sig`` is its usage; the REPL completes its options."""
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("sig 99999", "no task with PID 99999"), ("sig -s zz", "not a signal set"),
                       ("sig -q", "unrecognized arguments"), ("sig nosuchtask", "sig")]:
        r = kdbg_commands(path, cmd, "sig -s 1")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert r.stdout == "SIGHUP\n", (cmd, r.stdout)
    r = kdbg_commands(path, "help sig")
    assert r.returncode == 0 and r.stdout.startswith("usage: sig"), r.stdout
    for option in ("-g", "-l", "-s", "--json"):
        assert option in r.stdout
    start, got = complete(None, {}, "sig -")
    assert start == len("sig -") - 1 and {"-g", "-l", "-s", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- swap


def _proc_swaps(truth: Path) -> List[List[str]]:
    """The guest's ``/proc/swaps`` rows (``Filename Type Size Used Priority``)."""
    return [line.split() for line in (truth / "swaps").read_text().splitlines()[1:]]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form", FORMS)
def test_swap_against_the_guests_proc_swaps(suite: str, form: str) -> None:
    """``swap``'s rows against ``/proc/swaps``: path, type, size and use in KiB, priority;
    ``PCT`` is use * 100 // size; ``--json`` says the same; the columns sit under crash's
    header as in crash's ``help swap`` example."""
    dump = resolve_state_dump(suite, form)
    r = kdbg_commands(dump.path, "swap", "swap --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    rows = json.loads(lines[-1])
    table = lines[:-1]
    assert table[0] == "SWAP_INFO_STRUCT    TYPE       SIZE       USED     PCT  PRI  FILENAME"
    truth = _proc_swaps(dump.truth)
    assert len(truth) == len(rows) == len(table) - 1 >= 1
    for (name, kind, size, used, prio), row, line in zip(truth, rows, table[1:], strict=True):
        assert (row["filename"], row["type"], row["size_kib"], row["used_kib"], row["priority"]) == \
            (name, kind.upper(), int(size), int(used), int(prio))
        assert row["pct"] == int(used) * 100 // int(size)
        words = line.split()
        assert words == [f"{row['swap_info_struct']:x}", kind.upper(), f"{size}k", f"{used}k", f"{row['pct']}%",
                         prio, name], line
        assert line.index(f"{row['pct']}%") + len(f"{row['pct']}%") - 1 == table[0].index("PCT") + 2, line
        assert line.index(name) == table[0].index("FILENAME"), line


@pytest.mark.parametrize("suite", SUITES)
def test_swap_against_drgn(suite: str) -> None:
    """The ``swap_info_struct`` addresses and page counts drgn finds with Debian's DWARF."""
    dump = resolve_state_dump(suite, "elf-paging")
    swap = "__import__('drgn.helpers.linux.swap', fromlist=['x'])"
    theirs = drgn_eval(suite, dump.path, f"[(si.value_(), si.pages.value_() * prog['PAGE_SIZE'].value_() // 1024, "
                       f"{swap}.swap_usage_in_pages(si) * prog['PAGE_SIZE'].value_() // 1024) for si in "
                       f"{swap}.for_each_swap_info(prog)]")
    r = kdbg_commands(dump.path, "swap --json")
    assert r.returncode == 0, r.stderr
    ours = [(row["swap_info_struct"], row["size_kib"], row["used_kib"]) for row in json.loads(r.stdout)]
    assert [tuple(t) for t in theirs] == ours


def test_swap_help_bad_input_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    r = kdbg_commands(path, "swap -q", "swap --json")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "unrecognized arguments" in r.stderr, r.stderr
    assert json.loads(r.stdout)[0]["filename"] == "/dev/zram0"
    r = kdbg_commands(path, "help swap")
    assert r.returncode == 0 and r.stdout.startswith("usage: swap") and "--json" in r.stdout
    start, got = complete(None, {}, "swap -")
    assert start == len("swap -") - 1 and "--json" in got, got


# ------------------------------------------------------------------------------- ipcs


def _sysvipc(truth: Path, kind: str) -> List[Dict[str, str]]:
    """The guest's ``/proc/sysvipc/KIND`` rows by column name."""
    lines = (truth / "sysvipc" / kind).read_text().splitlines()
    names = lines[0].split()
    return [dict(zip(names, line.split(), strict=True)) for line in lines[1:]]


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form", FORMS)
def test_ipcs_against_the_guests_sysvipc(suite: str, form: str) -> None:
    """``ipcs`` against ``/proc/sysvipc/{shm,sem,msg}``: key, identifier, uid, permissions,
    the segment's size and attaches, the array's semaphores, the queue's bytes and
    messages; the table text says what ``--json`` says, under crash's headers; ``-m``,
    ``-s``, ``-q`` and an identifier select."""
    dump = resolve_state_dump(suite, form)
    r = kdbg_commands(dump.path, "ipcs", "ipcs --json", "ipcs -q", "ipcs -m -s")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    json_at = next(i for i, line in enumerate(lines) if line.startswith("{"))
    table, data, rest = lines[:json_at], json.loads(lines[json_at]), lines[json_at + 1:]
    columns = {"shm": ("shmid", "size", "nattch"), "sem": ("semid", "nsems"), "msg": ("msqid", "cbytes", "qnum")}
    ours_keys = {"shm": ("id", "bytes", "nattch"), "sem": ("id", "nsems"), "msg": ("id", "used_bytes", "messages")}
    for kind in ("shm", "sem", "msg"):
        truth = _sysvipc(dump.truth, kind)
        assert len(truth) == len(data[kind]) >= 1, kind
        for t, o in zip(truth, data[kind], strict=True):
            assert o["key"] == int(t["key"]) & 0xFFFFFFFF and o["uid"] == int(t["uid"])
            assert o["perms"] == int(t["perms"], 8)
            assert [o[k] for k in ours_keys[kind]] == [int(t[c]) for c in columns[kind]], (kind, o, t)
    blocks = "\n".join(table).split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [
        "SHMID_KERNEL     KEY      SHMID      UID   PERMS BYTES      NATTCH STATUS",
        "SEM_ARRAY        KEY      SEMID      UID   PERMS NSEMS     ",
        "MSG_QUEUE        KEY      MSQID      UID   PERMS USED-BYTES   MESSAGES"]
    for block, kind in zip(blocks, ("shm", "sem", "msg"), strict=True):
        rows = block.splitlines()[1:]
        assert [row.split()[:6] for row in rows] == [
            [f"{o['address']:016x}", f"{o['key']:08x}", str(o["id"]), str(o["uid"]), f"{o['perms']:o}",
             str(o[ours_keys[kind][1]])] for o in data[kind]]
        for row in rows:  # each value starts under its header
            head = block.splitlines()[0]
            assert [row[head.index(h)] != " " for h in head.split()[:5]] == [True] * 5, row
    assert "\n".join(rest) == blocks[2] + "\n" + blocks[0] + "\n\n" + blocks[1]  # two commands: -q, then -m -s


@pytest.mark.parametrize("suite", SUITES)
def test_ipcs_against_drgn(suite: str) -> None:
    """The objects' addresses and identifiers drgn's helpers find with Debian's DWARF."""
    dump = resolve_state_dump(suite, "elf-paging")
    ipc = "__import__('drgn.helpers.linux.ipc', fromlist=['x'])"
    text = ", ".join(f"[(o.value_(), o.{member}.id.value_()) for o in {ipc}.{func}(prog)]"
                     for func, member in (("for_each_sysv_shm", "shm_perm"), ("for_each_sysv_sem_array", "sem_perm"),
                                          ("for_each_sysv_msg_queue", "q_perm")))
    theirs = drgn_eval(suite, dump.path, f"[{text}]")
    r = kdbg_commands(dump.path, "ipcs --json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [[tuple(x) for x in t] for t in theirs] == [[(o["address"], o["id"]) for o in data[k]]
                                                       for k in ("shm", "sem", "msg")]


def test_ipcs_help_bad_input_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("ipcs 77", "no IPC object with identifier 77"), ("ipcs zz", "not an IPC identifier"),
                       ("ipcs -n 99999", "no task with PID 99999"), ("ipcs -x", "unrecognized arguments")]:
        r = kdbg_commands(path, cmd, "ipcs -m --json")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert json.loads(r.stdout)["shm"][0]["bytes"] > 0, r.stdout
    r = kdbg_commands(path, "help ipcs")
    assert r.returncode == 0 and r.stdout.startswith("usage: ipcs"), r.stdout
    start, got = complete(None, {}, "ipcs -")
    assert start == len("ipcs -") - 1 and {"-m", "-s", "-q", "-n", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- net


def _ip_addr(truth: Path) -> Dict[str, List[str]]:
    """``NAME -> [IPv4 address, ...]`` from the guest's ``ip addr`` (busybox)."""
    out: Dict[str, List[str]] = {}
    name = ""
    for line in (truth / "ip-addr").read_text().splitlines():
        m = re.match(r"\d+: ([^:@]+)[:@]", line)
        if m:
            name = m.group(1)
            out[name] = []
        elif line.split()[:1] == ["inet"]:
            out[name].append(line.split()[1].split("/")[0])
    return out


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form", FORMS)
def test_net_against_the_guest(suite: str, form: str) -> None:
    """``net``: the devices of ``/proc/net/dev`` with the IPv4 addresses ``ip addr`` printed
    in the guest; ``net -a``: every row of ``/proc/net/arp`` (IP, hardware type and address,
    device; the kernel's ``/proc`` leaves out ``NOARP`` neighbours, which crash lists); the
    text says what ``--json`` says; ``-N`` turns a stored address into dotted form."""
    dump = resolve_state_dump(suite, form)
    r = kdbg_commands(dump.path, "net --json", "net -a --json", "net", "net -a", "net -N 0x0100007f")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    devices, arp = json.loads(lines[0]), json.loads(lines[1])
    addrs = _ip_addr(dump.truth)
    proc_dev = [line.split(":")[0].strip() for line in (dump.truth / "net" / "dev").read_text().splitlines()[2:]]
    assert sorted(d["name"] for d in devices) == sorted(proc_dev) == sorted(addrs)
    assert {d["name"]: d["ipv4"] for d in devices} == addrs
    table = lines[2:2 + 1 + len(devices)]
    assert table[0] == "   NET_DEVICE     NAME   IP ADDRESS(ES)"
    assert [row.split() for row in table[1:]] == [[f"{d['net_device']:x}", d["name"], *[a + "," for a in
                                                   d["ipv4"][:-1]], *d["ipv4"][-1:]] for d in devices]
    proc_arp = [line.split() for line in (dump.truth / "net" / "arp").read_text().splitlines()[1:]]
    listed = [(a["ip"], a["hw_address"], a["device"]) for a in arp if a["state"] != "NOARP"]
    assert sorted(listed) == sorted((row[0], row[3], row[5]) for row in proc_arp)
    for row in proc_arp:
        ours = next(a for a in arp if a["ip"] == row[0])
        assert ours["hw_type"] == {"0x1": "ETHER"}.get(row[1], "UNKNOWN") and ours["state"] == "PERMANENT"
    assert all(a["state"] == "NOARP" for a in arp if (a["ip"], a["hw_address"], a["device"]) not in
               {(row[0], row[3], row[5]) for row in proc_arp})
    arp_table = lines[3 + len(devices):3 + len(devices) + 1 + len(arp)]
    assert arp_table[0].split() == ["NEIGHBOUR", "IP", "ADDRESS", "HW", "TYPE", "HW", "ADDRESS", "DEVICE", "STATE"]
    for row, a in zip(arp_table[1:], arp, strict=True):
        assert row.split() == [f"{a['neighbour']:x}", a["ip"], a["hw_type"], *a["hw_address"].split(), a["device"],
                               a["state"]], row
        assert row.index(a["ip"]) == arp_table[0].index("IP ADDRESS"), row
    assert lines[-1] == "127.0.0.1"


@pytest.mark.parametrize("suite", SUITES)
def test_net_against_drgn(suite: str) -> None:
    """The devices and their addresses drgn's helpers find with Debian's DWARF."""
    dump = resolve_state_dump(suite, "elf-paging")
    net = "__import__('drgn.helpers.linux.net', fromlist=['x'])"
    theirs = drgn_eval(suite, dump.path, f"[(d.value_(), {net}.netdev_name(d).decode()) for d in "
                       f"{net}.for_each_netdev(prog)]")
    r = kdbg_commands(dump.path, "net --json")
    assert r.returncode == 0, r.stderr
    assert [tuple(t) for t in theirs] == [(d["net_device"], d["name"]) for d in json.loads(r.stdout)]


def test_net_help_bad_input_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("net -N zz", "not an IPv4 address"), ("net -n 99999", "no task with PID 99999"),
                       ("net -q", "unrecognized arguments")]:
        r = kdbg_commands(path, cmd, "net -N 1")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert r.stdout == "1.0.0.0\n", (cmd, r.stdout)
    r = kdbg_commands(path, "help net")
    assert r.returncode == 0 and r.stdout.startswith("usage: net"), r.stdout
    start, got = complete(None, {}, "net -")
    assert start == len("net -") - 1 and {"-a", "-n", "-N", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- crash, the state tables

#: The table commands crash 8.0.2 is asked on each state dump (one crash run per dump, cached).
TABLE_COMMANDS = ["swap", "ipcs", "net", "net -a"]


@pytest.mark.parametrize("suite", SUITES)
def test_state_tables_against_crash(suite: str) -> None:
    """crash 8.0.2's ``swap``, ``ipcs``, ``net``, ``net -a`` and the helper's ``vm`` on the
    ELF dump, line by line (trailing blanks and empty lines aside)."""
    dump = resolve_state_dump(suite, "elf")
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        return
    commands = [*TABLE_COMMANDS, f"vm {guest_pids(dump.truth)['kdbg-state']}"]
    theirs = ask_crash(suite, dump.path, commands).outputs
    for cmd in commands:
        if cmd.startswith("vm ") and suite in CRASH_WRONG_TASKS:  # crash 8.0.2 finds no 6.1 user task
            assert theirs[cmd].startswith("vm: invalid task or pid value"), theirs[cmd]
            continue
        r = kdbg_commands(dump.path, cmd)
        assert r.returncode == 0, (cmd, r.stderr)
        ours = [line.rstrip() for line in r.stdout.splitlines() if line.strip()]
        crash = [line.rstrip() for line in theirs[cmd].splitlines() if line.strip()]
        if cmd.startswith("vm "):
            # RSS: crash 8.0.2 misses counters of 5.10's rss_stat (vmcores.crash_oracle), the
            # guest's /proc leaves out each thread's cached ones (test_vm_...): the cell is
            # checked against the guest there.  FILE of the SysV segment: crash prints the
            # dentry's name (SYSV6b640001), kdbg [tmpfs] as drgn, the kernel "/SYSV6b640001
            # (deleted)" (d_dname): the guest's maps decide, above.
            assert len(ours) == len(crash) and ours[2].split()[:2] == crash[2].split()[:2], (ours[:3], crash[:3])
            assert ours[2].split()[3] == crash[2].split()[3]
            ours, crash = ours[:2] + ours[3:], crash[:2] + crash[3:]
            shm = [i for i, line in enumerate(crash) if line.endswith(" SYSV6b640001")]
            assert len(shm) == 1 and ours[shm[0]].endswith(" [tmpfs]"), shm
            ours[shm[0]] = ours[shm[0]].rsplit(" ", 1)[0]
            crash[shm[0]] = crash[shm[0]].rsplit(" ", 1)[0]
        assert ours == crash, cmd


# ------------------------------------------------------------------------------- vm

#: ``include/linux/mm.h``: the ``vm_flags`` bits ``/proc/PID/maps`` prints as ``rwxs``.
VM_READ, VM_WRITE, VM_EXEC, VM_SHARED = 0x1, 0x2, 0x4, 0x8


def _maps(truth: Path, pid: int) -> List[Tuple[int, int, str, str]]:
    """``(start, end, perms, path)`` of each line of the guest's ``/proc/PID/maps``."""
    rows = []
    for line in (truth / "proc" / str(pid) / "maps").read_text().splitlines():
        f = line.split(None, 5)
        start, end = (int(x, 16) for x in f[0].split("-"))
        rows.append((start, end, f[1], f[5] if len(f) > 5 else ""))
    return rows


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form", FORMS)
def test_vm_against_the_guests_maps(suite: str, form: str) -> None:
    """``vm PID`` of each of the state guest's processes against its ``/proc/PID/maps``
    (every VMA: start, end, ``rwxs`` from the flags, the name) and ``/proc/PID/status``
    (``VmSize`` is ``TOTAL_VM``; ``VmRSS`` is ``RSS`` from 6.2 on, and at most it before,
    where /proc leaves out the counts each thread still caches, which kdbg adds as drgn's
    ``task_rss`` does); the text says what ``--json`` says.  kdbg's ``d_path`` names a file
    whose dentry has a ``d_dname`` operation ``[fstype]``, as drgn's does: the kernel prints
    the SysV segment's ``/SYSV<key> (deleted)``; those VMAs are checked to be that mapping, by address."""
    dump = resolve_state_dump(suite, form)
    pids = guest_pids(dump.truth)
    cmds = [f"vm --json {pid}" for pid in pids.values()] + [f"vm {pid}" for pid in pids.values()]
    r = kdbg_commands(dump.path, *cmds)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    datas = [json.loads(line) for line in lines[:len(pids)]]
    # SPLIT_RSS_COUNTING (before 6.2): each thread caches its RSS deltas in task->rss_stat
    release = tuple(int(x) for x in re.findall(r"\d+", (dump.truth / "uname").read_text())[:2])
    split_rss = release < (6, 2)
    text = lines[len(pids):]
    for (name, pid), data in zip(pids.items(), datas, strict=True):
        d = data[0]
        status = _status(dump.truth, pid)
        assert d["pid"] == pid
        assert d["total_vm_kib"] == int(status["VmSize"].split()[0])
        if split_rss:  # /proc's VmRSS leaves out each thread's counts not yet folded into the mm
            assert d["rss_kib"] >= int(status["VmRSS"].split()[0])
        else:
            assert d["rss_kib"] == int(status["VmRSS"].split()[0])
        maps = _maps(dump.truth, pid)
        assert [(v["start"], v["end"]) for v in d["vmas"]] == [(m[0], m[1]) for m in maps], name
        for v, (_s, _e, perms, path) in zip(d["vmas"], maps, strict=True):
            flags = v["flags"]
            rwxs = ("r" if flags & VM_READ else "-") + ("w" if flags & VM_WRITE else "-") + \
                ("x" if flags & VM_EXEC else "-") + ("s" if flags & VM_SHARED else "p")
            assert rwxs == perms, (name, v, perms)
            if path.endswith(" (deleted)") and path.startswith("/SYSV"):
                assert v["name"] == "[tmpfs]" and name == "kdbg-state", v
            else:
                assert v["name"] == path, (name, v, path)
        block = text[:3 + 1 + len(d["vmas"])]
        text = text[len(block):]
        assert block[0].startswith(f"PID: {pid} ") and block[2].split() == [
            f"{d['mm']:x}", f"{d['pgd']:x}", f"{d['rss_kib']}k", f"{d['total_vm_kib']}k"]
        assert [row.split()[:4] for row in block[4:]] == [
            [f"{v['vma']:x}", f"{v['start']:x}", f"{v['end']:x}", f"{v['flags']:x}"] for v in d["vmas"]]
        assert [row.split()[4:] for row in block[4:]] == [v["file"].split() for v in d["vmas"]]


def test_vm_of_a_kernel_thread_and_bad_input() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    r = kdbg_commands(path, "vm --json 2")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["mm"] == 0 and json.loads(r.stdout)[0]["vmas"] == []
    for cmd, words in [("vm 99999", "no task with PID 99999"), ("vm -q", "unrecognized arguments")]:
        r = kdbg_commands(path, cmd, "vm --json 2")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert json.loads(r.stdout)[0]["pid"] == 2
    r = kdbg_commands(path, "help vm")
    assert r.returncode == 0 and r.stdout.startswith("usage: vm"), r.stdout
    start, got = complete(None, {}, "vm -")
    assert start == len("vm -") - 1 and "--json" in got, got
