"""crash's per-task commands kdbg lacked (``files -d/-p``, ``vm -m``, ``runq -m``, ``net -s``)
on the *state* dumps of 5.10, 6.1 and 6.12 (:mod:`vmcores.state`), held to what the guest
printed first, then to Debian's crash 8.0.2 with the ``-dbg`` vmlinux
(:mod:`vmcores.crash_oracle`), then to drgn 0.3.0's crash commands with Debian's DWARF
(:func:`vmcores.oracle.drgn_crash_command`) where drgn has the command.

Where crash cannot answer, the test says so: trixie 6.12 does not open in crash 8.0.2
(:data:`~vmcores.crash_oracle.CRASH_CANNOT_OPEN`).
"""

import ipaddress
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands
from tests.command_checks import output_lines
from tests.conftest import dump_id, resolve_state_dump
from tests.state_dumps import STATE_IDS, guest_pids
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CRASH_WRONG_TASKS, CrashOracleError, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_crash_command
from vmcores.state import StateDump

pytestmark = pytest.mark.timeout(2400)


# ------------------------------------------------------------------------------- files -d, -p


def _busybox_file(path: Path, pid: int) -> Dict[str, object]:
    """The helper's descriptor open on ``/bin/busybox`` (``files PID --json``)."""
    r = kdbg_commands(path, f"files --json {pid}")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    found = [f for f in json.loads(r.stdout)["files"] if f["path"] == "/bin/busybox"]
    assert len(found) == 1, r.stdout
    return found[0]


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_files_dentry_and_inode_against_the_guest(state_dump: StateDump) -> None:
    """``files -d`` of the helper's ``/bin/busybox`` descriptor: that inode, a regular
    file, the path the guest's ``/proc/PID/maps`` names; ``files -p`` of its inode: as many
    pages as ``NRPAGES`` says, each at its own index, all of that inode's mapping; the text
    says what ``--json`` says in crash's columns."""
    pid = guest_pids(state_dump.truth)["kdbg-state"]
    f = _busybox_file(state_dump.path, pid)
    assert any(line.endswith(" /bin/busybox") for line in (state_dump.truth / "proc" / str(pid) / "maps")
               .read_text().splitlines())
    d, i = f"{f['dentry']:x}", f"{f['inode']:x}"
    r = kdbg_commands(state_dump.path, f"files -d {d} --json", f"files -p {i} --json", f"files -d {d}", f"files -p {i}")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    dentry, pages = json.loads(lines[0]), json.loads(lines[1])
    assert (dentry["inode"], dentry["type"], dentry["path"]) == (f["inode"], "REG", "/bin/busybox")
    assert lines[2:4] == ["     DENTRY           INODE           SUPERBLK     TYPE PATH",
                          f"{f['dentry']:016x} {f['inode']:016x} {dentry['superblk']:016x} REG  /bin/busybox"]
    assert pages["nrpages"] == len(pages["pages"]) >= 1
    indexes = [p["index"] for p in pages["pages"]]
    assert indexes == sorted(set(indexes))
    assert lines[4:8] == ["     INODE        NRPAGES", f"{f['inode']:016x} {pages['nrpages']:>8}", "",
                          "      PAGE       PHYSICAL      MAPPING       INDEX CNT FLAGS"]
    rows = [line.split() for line in lines[8:]]
    assert [(int(w[0], 16), int(w[1], 16), int(w[3], 16)) for w in rows] == [
        (p["page"], p["physical"], p["index"]) for p in pages["pages"]]
    assert len({w[2] for w in rows}) == 1  # one mapping: the inode's


#: crash 8.0.2's and drgn's ``files -d``/``-p`` on each state dump's ELF, for the helper's busybox.
def _files_commands(path: Path, truth: Path) -> List[str]:
    f = _busybox_file(path, guest_pids(truth)["kdbg-state"])
    return [f"files -d {f['dentry']:x}", f"files -p {f['inode']:x}"]


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_files_dentry_and_inode_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``files -d`` and ``files -p``, line for line (its page flags named
    once per bit, as kdbg names them).  On 6.1's state dump crash 8.0.2 dies with SIGSEGV
    running them (after its failed ``bt`` of the idle CPUs): the guest and drgn decide."""
    commands = _files_commands(state_dump.path, state_dump.truth)
    r = kdbg_commands(state_dump.path, *commands)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    if state_dump.suite in CRASH_WRONG_TASKS:  # crash 8.0.2 dies (SIGSEGV) on 6.1's state dump here
        with pytest.raises(CrashOracleError, match=r"status -11"):
            ask_crash(state_dump.suite, state_dump.path, commands)
        return
    theirs = ask_crash(state_dump.suite, state_dump.path, commands).outputs
    assert output_lines(r.stdout) == [line for c in commands for line in output_lines(theirs[c])]


@pytest.mark.parametrize("state_dump", [(s, "elf-paging") for s in SUITES], ids=dump_id, indirect=True)
def test_files_dentry_and_inode_against_drgn(state_dump: StateDump) -> None:
    """drgn's ``crash files -d`` and ``-p`` with Debian's DWARF: the same dentry, inode,
    super block and path, the same pages (address, physical address, index)."""
    commands = _files_commands(state_dump.path, state_dump.truth)
    r = kdbg_commands(state_dump.path, *[f"{c} --json" for c in commands])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    dentry, pages = (json.loads(line) for line in r.stdout.splitlines())
    theirs_d = output_lines(drgn_crash_command(state_dump.suite, state_dump.path, commands[0]))
    assert theirs_d[-1].split() == [f"{dentry['dentry']:016x}", f"{dentry['inode']:016x}",
                                    f"{dentry['superblk']:016x}", "REG", "/bin/busybox"], theirs_d
    theirs_p = output_lines(drgn_crash_command(state_dump.suite, state_dump.path, commands[1]))
    assert theirs_p[1].split() == [f"{pages['inode']:016x}", str(pages["nrpages"])], theirs_p[:2]
    page_rows = [line.split() for line in theirs_p[3:]]
    assert [(int(w[0], 16), int(w[1], 16), int(w[3], 16)) for w in page_rows] == [
        (p["page"], p["physical"], p["index"]) for p in pages["pages"]]


def test_files_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("files -d 10", "files: -d 10"), ("files -p zz", "files: -p zz"),
                       ("files -d 1 -p 1", "take nothing else"), ("files -q", "unrecognized arguments")]:
        r = kdbg_commands(path, cmd, "files --json 1")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert json.loads(r.stdout)["pid"] == 1
    r = kdbg_commands(path, "help files")
    assert r.returncode == 0 and r.stdout.startswith("usage: files"), r.stdout
    start, got = complete(None, {}, "files -")
    assert start == len("files -") - 1 and {"-d", "-p", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- vm -m


def _members(text: str) -> Dict[str, str]:
    """``name -> value`` of the scalar members printed one level under the top (drgn's
    ``\\t.name = (type)value,`` and crash's ``    name = value,``)."""
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\t\.(\w+) = (?:\([^)]*\))?(\S+?),?", line) or re.fullmatch(r"    (\w+) = (\S+?),?", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_vm_mm_against_the_guest(state_dump: StateDump) -> None:
    """``vm -m PID``: crash's task line, then the whole ``mm_struct``: ``total_vm`` is the
    guest's ``VmSize`` in pages, ``map_count`` its number of ``maps`` lines, ``pgd`` what
    ``vm`` shows; a kernel thread has only the task line."""
    pid = guest_pids(state_dump.truth)["kdbg-state"]
    r = kdbg_commands(state_dump.path, f"vm -m {pid}", f"vm --json {pid}", "vm -m 2")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    block, _, rest = r.stdout.partition("\n[")
    vm = json.loads("[" + rest.splitlines()[0])[0]
    lines = block.splitlines()
    assert lines[0].startswith(f"PID: {pid} ") and lines[1].endswith("{") and lines[-1] == "}", lines[:2]
    members = _members(block)
    status = (state_dump.truth / "proc" / str(pid) / "status").read_text()
    vmsize = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    maps = (state_dump.truth / "proc" / str(pid) / "maps").read_text().splitlines()
    assert int(members["total_vm"]) * 4 == vmsize and int(members["map_count"]) == len(maps), members
    assert int(members["pgd"], 16) == vm["pgd"]
    assert rest.splitlines()[1].startswith("PID: 2 ") and rest.splitlines()[1:] == [rest.splitlines()[1]], rest


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in ("bullseye",)], ids=dump_id, indirect=True)
def test_vm_mm_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``vm -m`` (gdb's format, kdbg drgn's): the same task line and the same
    values of the top-level scalar members (bullseye only: crash 8.0.2 finds no 6.1 user
    task and does not open 6.12, :mod:`vmcores.crash_oracle`)."""
    cmd = f"vm -m {guest_pids(state_dump.truth)['kdbg-state']}"
    theirs = ask_crash(state_dump.suite, state_dump.path, [cmd]).outputs[cmd]
    r = kdbg_commands(state_dump.path, cmd)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines()[0] == theirs.splitlines()[0]
    ours, crash = _members(r.stdout), _members(theirs)
    shared = {"mmap_base", "task_size", "highest_vm_end", "map_count", "total_vm", "locked_vm", "data_vm", "exec_vm",
              "stack_vm", "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
              "arg_start", "arg_end", "env_start", "env_end", "def_flags", "hiwater_rss", "hiwater_vm"}
    assert shared <= set(crash) and shared <= set(ours), (shared - set(crash), shared - set(ours))
    assert {k: int(ours[k], 0) for k in shared} == {k: int(crash[k], 0) for k in shared}
    assert int(ours["pgd"], 16) == int(crash["pgd"], 16)


def test_vm_mm_bad_input_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    r = kdbg_commands(path, "vm -m 99999", "vm -m 2")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "no task with PID 99999" in r.stderr, r.stderr
    assert r.stdout.startswith("PID: 2 ")
    start, got = complete(None, {}, "vm -")
    assert start == len("vm -") - 1 and {"-m", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- runq -m


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_runq_m_against_the_guest(state_dump: StateDump) -> None:
    """``runq -m``: one line per CPU, the task on it and how long it has run, no longer
    than the guest had been up when it recorded ``after/uptime`` (the run queue's clock,
    ``sched_clock``, starts a little before the boot-time clock ``/proc/uptime`` reads:
    one second allowed); the text says what ``--json`` says, in crash's format."""
    r = kdbg_commands(state_dump.path, "runq -m --json", "runq -m")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    rows, text = json.loads(lines[0]), lines[1:]
    up = float((state_dump.truth / "after" / "uptime").read_text().split()[0])
    assert len(rows) == len(text) >= 1
    for row, line in zip(rows, text, strict=True):
        assert 0 <= row["ran_ns"] <= (up + 1) * 1e9, (row, up)
        ms = row["ran_ns"] // 1_000_000
        stamp = (f"{ms // 86_400_000} {ms // 3_600_000 % 24:02d}:{ms // 60_000 % 60:02d}:"
                 f"{ms // 1000 % 60:02d}.{ms % 1000:03d}")
        head = f' CPU {row["cpu"]}: [{stamp}]  PID: {row["pid"]:<5d}  TASK: {row["task"]:x}  COMMAND: "'
        assert line.startswith(head) and line.endswith('"'), line


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_runq_m_against_crash_and_drgn(state_dump: StateDump) -> None:
    """crash 8.0.2's ``runq -m``, byte for byte; drgn's ``crash runq -m`` with Debian's
    DWARF: the same tasks and times."""
    r = kdbg_commands(state_dump.path, "runq -m")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    paging = resolve_state_dump(state_dump.suite, "elf-paging").path
    theirs = output_lines(drgn_crash_command(state_dump.suite, paging, "runq -m"))
    assert [line.split() for line in theirs] == [line.split() for line in output_lines(r.stdout)], theirs
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    assert r.stdout == ask_crash(state_dump.suite, state_dump.path, ["runq -m"]).outputs["runq -m"]


def test_runq_m_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    r = kdbg_commands(path, "runq -m -q", "runq -m --json")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "unrecognized arguments" in r.stderr, r.stderr
    assert json.loads(r.stdout)[0]["cpu"] == 0
    start, got = complete(None, {}, "runq -")
    assert start == len("runq -") - 1 and {"-m", "-t", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- net -s


def _proc_net(truth: Path) -> Dict[int, Tuple[str, ...]]:
    """``inode -> (table, local, remote)`` of the guest's ``/proc/net/{tcp,tcp6}`` (the
    addresses as the kernel prints them: hex words, ``:PORT``) and ``inode -> ("unix",
    path)`` of ``/proc/net/unix``."""
    out: Dict[int, Tuple[str, ...]] = {}
    for table in ("tcp", "tcp6"):
        for line in (truth / "net" / table).read_text().splitlines()[1:]:
            f = line.split()
            out[int(f[9])] = (table, f[1], f[2])
    for line in (truth / "net" / "unix").read_text().splitlines()[1:]:
        f = line.split()
        out[int(f[6])] = ("unix", f[7] if len(f) > 7 else "")
    return out


def _kernel_address(ip: str, port: int) -> str:
    """An address and port as ``/proc/net/tcp*`` prints them (``__be32`` words in host
    order, in hexadecimal, then ``:PORT``)."""
    packed = ipaddress.ip_address(ip).packed
    words = "".join(f"{int.from_bytes(packed[i:i + 4], 'little'):08X}" for i in range(0, len(packed), 4))
    return f"{words}:{port:04X}"


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_net_sockets_against_the_guests_proc_net(state_dump: StateDump) -> None:
    """``net -s`` of the state guest's processes against ``/proc/net/tcp``, ``tcp6`` and
    ``unix``: each IPv4/IPv6 socket (by inode number) with the guest's local and remote
    address and port, each UNIX socket listed there; the listener, both ends of the
    connection and the helper's UNIX socket are found; the text says what ``--json`` says,
    under crash's header."""
    pids = guest_pids(state_dump.truth)
    wanted = [pids[n] for n in ("nc-listen", "nc-server", "nc-client", "kdbg-state")]
    words = " ".join(str(p) for p in wanted)
    r = kdbg_commands(state_dump.path, f"net -s --json {words}", f"net -s {words}")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    data, text = json.loads(lines[0]), "\n".join(lines[1:])
    truth = _proc_net(state_dump.truth)
    assert [d["pid"] for d in data] == wanted
    for d in data:
        assert d["sockets"], d
        for s in d["sockets"]:
            assert s["inode"] in truth, (s, truth)
            kind = truth[s["inode"]]
            if s["family"] in (2, 10):
                assert kind[0] == ("tcp" if s["family"] == 2 else "tcp6"), (s, kind)
                assert kind[1:] == (_kernel_address(s["source"], s["source_port"]),
                                    _kernel_address(s["destination"], s["destination_port"])), (s, kind)
            else:
                assert s["family"] == 1 and kind[0] == "unix", (s, kind)
    families = {(d["pid"], s["family"]) for d in data for s in d["sockets"]}
    assert (pids["nc-client"], 2) in families or (pids["nc-client"], 10) in families
    assert (pids["kdbg-state"], 1) in families
    blocks = text.split("\n\n")
    assert len(blocks) == len(data)
    for block, d in zip(blocks, data, strict=True):
        rows = block.splitlines()
        assert rows[0].startswith(f"PID: {d['pid']} ") and rows[1] == (
            "FD      SOCKET            SOCK       FAMILY:TYPE SOURCE-PORT DESTINATION-PORT")
        for row, s in zip(rows[2:], d["sockets"], strict=True):
            words_ = row.split()
            assert words_[:3] == [str(s["fd"]), f"{s['socket']:x}", f"{s['sock']:x}"], row
            if s["family"] == 2:
                assert words_[3:] == ["INET:STREAM" if s["type"] == 1 else words_[3],
                                      f"{s['source']}-{s['source_port']}",
                                      f"{s['destination']}-{s['destination_port']}"], row


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in ("bullseye",)], ids=dump_id, indirect=True)
def test_net_sockets_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``net -s`` of the four processes, byte for byte (bullseye: crash
    finds no 6.1 user task and does not open 6.12, :mod:`vmcores.crash_oracle`), but
    for IPv6 sockets: crash 8.0.2 prints their family and type and no address on 5.10
    (its read of the addresses fails quietly), kdbg the addresses and ports the guest's
    ``/proc/net/tcp6`` shows (the guest test above)."""
    pids = guest_pids(state_dump.truth)
    commands = [f"net -s {pids[n]}" for n in ("nc-listen", "nc-server", "nc-client", "kdbg-state")]
    theirs = ask_crash(state_dump.suite, state_dump.path, commands).outputs
    r = kdbg_commands(state_dump.path, *commands)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    ours = [line.split("INET6:STREAM ")[0] + "INET6:STREAM " if "INET6:STREAM " in line else line
            for line in r.stdout.splitlines()]
    assert sum("INET6:STREAM " in line for line in r.stdout.splitlines()) >= 2
    assert ours == "".join(theirs[c] for c in commands).splitlines()


def test_net_sockets_bad_input_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("net -s 99999", "no task with PID 99999"), ("net 1", "tasks are given with -s")]:
        r = kdbg_commands(path, cmd, "net -N 1")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert r.stdout == "1.0.0.0\n", (cmd, r.stdout)
    start, got = complete(None, {}, "net -")
    assert start == len("net -") - 1 and {"-s", "-a", "-n", "-N", "--json"} <= set(got), got
