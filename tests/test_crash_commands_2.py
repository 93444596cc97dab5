"""crash's commands, second batch (``list``, ``rd``, ...), on the reference dumps of 5.10,
6.1 and 6.12: held to what the guest printed where it printed it (its ``/proc/modules``),
then to drgn with Debian's DWARF on the ELF dump of the same guest, then to Debian's crash
8.0.2 with the ``-dbg`` vmlinux (:mod:`vmcores.crash_oracle`), line by line.

Where crash differs, the test says so:

* trixie 6.12: crash 8.0.2 does not open the dump (:data:`CRASH_CANNOT_OPEN`); asserted,
  and the guest and drgn decide;
* crash prints a ``char`` array as gdb does, in full with its NULs (``"init\\000er/0..."``:
  the bytes after the string's end too), kdbg as drgn (``"init"``): the string up to the
  first NUL is compared.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest

import kdbg
from kdbg.errors import ExpressionError
from kdbg.ui.commands import CommandContext, run_command
from tests.cli_support import run_kdbg
from tests.conftest import resolve_dump
from tests.memory_overlay import overlay
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CrashOracleError, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM, Query, ask_drgn

pytestmark = pytest.mark.timeout(1800)

FORM = "kdump-zlib"

#: The commands crash is asked on each reference dump (one crash run per dump, cached).
LIST_COMMANDS = [
    "list -H modules",
    "list -o module.list -s module.name -H modules",
    "list task_struct.tasks -s task_struct.pid,comm -h init_task",
    "list -r task_struct.tasks -h init_task",
    "list -x -s module.name,state -l module.list -H modules",
    "list init_task",
]
RD_COMMANDS = [
    "rd linux_banner 8", "rd -8 linux_banner 40", "rd -16 linux_banner 20", "rd -32 linux_banner 10",
    "rd -x linux_banner 4", "rd -o 8 linux_banner 2", "rd -N -32 linux_banner 4", "rd -64 linux_banner 3",
    "rd -d jiffies 4", "rd -D jiffies 4", "rd -d -32 linux_banner 8", "rd -D -32 linux_banner 8",
    "rd -d -16 linux_banner 8", "rd -D -16 linux_banner 8", "rd -d -8 linux_banner 8", "rd -D -8 linux_banner 8",
    "rd -p 1000 4", "rd init_task 64",
]
#: Compared cell by cell (symbol names may be aliases of one address).
RD_SYMBOLIC = ["rd -s init_task 64", "rd -S init_task 64"]
DIS_COMMANDS = ["dis schedule", "dis schedule 10", "dis -r schedule+0x20", "dis panic 80", "dis do_exit 120",
                "dis -f schedule+0x40"]
CRASH_COMMANDS = LIST_COMMANDS + RD_COMMANDS + RD_SYMBOLIC + ["rd -a linux_banner"] + DIS_COMMANDS


def kdbg_x(path: Path, *commands: str) -> subprocess.CompletedProcess:
    args: List[str] = ["-q", "-c", str(path)]
    for c in commands:
        args += ["-x", c]
    return run_kdbg(*args)


def crash_outputs(suite: str, path: Path) -> Dict[str, str]:
    """crash's outputs of :data:`CRASH_COMMANDS`, or ``{}`` where crash 8.0.2 cannot open
    the kernel (asserted, not assumed)."""
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        with pytest.raises(CrashOracleError, match="did not open"):
            ask_crash(suite, path, CRASH_COMMANDS)
        return {}
    return ask_crash(suite, path, CRASH_COMMANDS).outputs


def drgn_answers(suite: str, texts: Dict[str, str]) -> Dict[str, Any]:
    """drgn's value of each expression on the ELF dump of the same guest."""
    path = resolve_dump(suite, ORACLE_FORM, "qemu").path
    answers = ask_drgn(suite, path, [Query(k, t) for k, t in texts.items()])
    out = {}
    for k in texts:
        rec = answers.records[k]
        assert rec["kind"] != "error", rec
        out[k] = rec["value"]
    return out


def gdb_strings(text: str) -> str:
    """crash's (gdb's) full ``char`` arrays cut at their first NUL, as drgn prints them."""
    return re.sub(r'\\000[^"]*"', '"', text)


def split_outputs(stdout: str, counts: List[int]) -> List[str]:
    lines = stdout.splitlines(keepends=True)
    assert len(lines) == sum(counts), (len(lines), counts)
    out, pos = [], 0
    for n in counts:
        out.append("".join(lines[pos:pos + n]))
        pos += n
    return out


# ------------------------------------------------------------------------------- list


@pytest.mark.parametrize("suite", SUITES)
def test_list(suite: str) -> None:
    path = resolve_dump(suite, FORM, "qemu").path
    truth = resolve_dump(suite, FORM, "qemu").truth
    ok = LIST_COMMANDS[:-1]
    r = kdbg_x(path, *ok, "list --json task_struct.tasks -h init_task")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines(keepends=True)
    rows = json.loads(lines[-1])
    text = "".join(lines[:-1])
    drgn = drgn_answers(suite, {
        "modules": "[m.value_() for m in __import__('drgn.helpers.linux.list', fromlist=['x'])"
                   ".list_for_each(prog['modules'].address_of_())]",
        "module_names": "[m.name.string_().decode() for m in __import__('drgn.helpers.linux.list', fromlist=['x'])"
                        ".list_for_each_entry('struct module', prog['modules'].address_of_(), 'list')]",
        "tasks": "[(t.value_(), t.pid.value_(), t.comm.string_().decode()) for t in "
                 "__import__('drgn.helpers.linux.list', fromlist=['x']).list_for_each_entry("
                 "'struct task_struct', prog['init_task'].tasks.address_of_(), 'tasks')]",
        "init_task": "prog['init_task'].address_of_().value_()",
        "list_off": "__import__('drgn').offsetof(prog.type('struct module'), 'list')",
    })
    nmod, ntask = len(drgn["modules"]), len(drgn["tasks"]) + 1
    outs = split_outputs(text, [nmod, 2 * nmod, 3 * ntask, ntask, 3 * nmod])
    heads, named, tasks, reverse, members = outs
    # 1. the guest: its /proc/modules names the same modules (the newest first, as the list holds them)
    guest = [ln.split()[0] for ln in (truth / "modules").read_text().splitlines()]
    assert named.splitlines()[1::2] == [f'  name = "{m}",' for m in guest]
    # 2. drgn with DWARF
    assert heads == "".join(f"{a:x}\n" for a in drgn["modules"])
    assert named.splitlines()[0::2] == [f"{a - drgn['list_off']:x}" for a in drgn["modules"]]
    assert drgn["module_names"] == guest
    entries = [(drgn["init_task"], 0, "swapper/0")] + [tuple(t) for t in drgn["tasks"]]
    assert tasks == "".join(f'{a:x}\n  pid = {p},\n  comm = "{c}",\n' for a, p, c in entries)
    assert reverse == "".join(f"{a:x}\n" for a, _p, _c in entries[:1] + entries[:0:-1])
    assert [row["address"] for row in rows] == [a for a, _p, _c in entries]
    assert members.splitlines()[0::3] == [f"{a:x}" for a in drgn["modules"]]
    assert all(ln == "  state = MODULE_STATE_LIVE," for ln in members.splitlines()[2::3])
    # crash's singly-linked form from init_task: its first word (thread_info.flags) is
    # not an address; the entries reached, then one line
    r = kdbg_x(path, "list init_task", "list -H modules")
    assert r.returncode == 1
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("kdbg: list: "), r.stderr
    first = r.stdout.splitlines()[:2]
    assert first[0] == f"{drgn['init_task']:x}" and r.stdout.endswith(heads)  # the next command ran
    # 3. crash, line by line
    theirs = crash_outputs(suite, path)
    if not theirs:
        return
    for cmd, ours in zip(ok, outs, strict=True):
        assert ours == gdb_strings(theirs[cmd]), cmd
    crash_first = theirs["list init_task"].splitlines()
    assert crash_first[:2] == first and crash_first[2].startswith("list: invalid kernel virtual address: ")


def _task_list(prog: Any) -> List[int]:
    out = io.StringIO()
    run_command(prog, "list task_struct.tasks -h init_task", CommandContext(out=out))
    return [int(x, 16) for x in out.getvalue().split()]


@pytest.mark.parametrize("suite", ["bullseye"])
def test_list_corrupt_links_stop_with_one_line(suite: str) -> None:
    """A cycle that does not return to the head, and a NULL link, in a patched copy of
    the dump's task list: the entries before the damage, then one line; no hang."""
    prog = kdbg.open_core(str(resolve_dump(suite, FORM, "qemu").path))
    tasks = _task_list(prog)
    assert len(tasks) > 6
    off = prog.type("struct task_struct").offsetof("tasks")
    mem = overlay(prog)
    # the 6th task's tasks.next goes back to the 3rd task's: a cycle without the head
    mem.patches[tasks[5] + off] = (tasks[2] + off).to_bytes(8, "little")
    out = io.StringIO()
    with pytest.raises(ExpressionError, match=r"^list: .*cycle") as e:
        run_command(prog, "list task_struct.tasks -h init_task", CommandContext(out=out))
    assert "\n" not in str(e.value)
    printed = [int(x, 16) for x in out.getvalue().split()]
    assert printed[:6] == tasks[:6] and set(printed) <= set(tasks[:6])
    # a NULL link
    mem.patches[tasks[5] + off] = bytes(8)
    out = io.StringIO()
    with pytest.raises(ExpressionError, match=r"^list: .* NULL next") as e:
        run_command(prog, "list task_struct.tasks -h init_task", CommandContext(out=out))
    assert "\n" not in str(e.value)
    assert [int(x, 16) for x in out.getvalue().split()] == tasks[:6]


def test_list_bad_input_and_help() -> None:
    path = resolve_dump("bullseye", FORM, "qemu").path
    bad = ["list", "list -H 0", "list -r init_task", "list -s nosuch -H modules", "list -o nosuch.x -H modules",
           "list -H -h modules", "list -Q modules", "list -l 8 -H modules", "list 1 2 3"]
    for cmd in bad:
        r = kdbg_x(path, cmd, "list -H modules")
        assert r.returncode == 1, cmd
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("kdbg: list"), (cmd, r.stderr)
        assert re.fullmatch(r"([0-9a-f]{16}\n)+", r.stdout), (cmd, r.stdout)  # the next command ran
    r = kdbg_x(path, "help list")
    assert r.returncode == 0
    for opt in ("-o OFFSET", "-e END", "-s TYPE", "-l OFFSET", "-x", "-d", "-r", "-H", "-h", "--json"):
        assert opt in r.stdout, opt


# --------------------------------------------------------------------------------- rd


def kallsyms(truth: Path) -> Dict[str, List[int]]:
    """The guest's /proc/kallsyms: name -> addresses."""
    out: Dict[str, List[int]] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        addr, _t, name = line.split()[:3]
        out.setdefault(name, []).append(int(addr, 16))
    return out


def _cells(text: str) -> List[List[str]]:
    return [ln.split(":  ", 1)[1].split() for ln in text.splitlines()]


@pytest.mark.parametrize("suite", SUITES)
def test_rd(suite: str) -> None:
    dump = resolve_dump(suite, FORM, "qemu")
    cmds = RD_COMMANDS + RD_SYMBOLIC + ["rd -a linux_banner", "rd --json -32 linux_banner 4",
                                        "rd linux_banner -e linux_banner+0x28"]
    r = kdbg_x(dump.path, *cmds)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # each command's lines: 16 bytes a line
    counts = [1 + (n * w - 1) // 16 for n, w in
              [(8, 8), (40, 1), (20, 2), (10, 4), (4, 8), (2, 8), (4, 4), (3, 8), (4, 8), (4, 8), (8, 4), (8, 4),
               (8, 2), (8, 2), (8, 1), (8, 1), (4, 8), (64, 8), (64, 8), (64, 8)]]
    version = (dump.truth / "version").read_text().rstrip("\n")
    counts += [1 + (len(version) - 1) // 60, 1, 3]
    outs = split_outputs(r.stdout, counts)
    ours = dict(zip(cmds, outs, strict=True))
    # 1. the guest: linux_banner is /proc/version; jiffies is a number
    banner = b"".join(int(w, 16).to_bytes(8, "little") for c in _cells(ours["rd linux_banner 8"]) for w in c[:2])
    assert banner == version.encode()[:64]
    assert "".join(ln.split(":  ", 1)[1] for ln in ours["rd -a linux_banner"].splitlines()) == version
    js = json.loads(ours["rd --json -32 linux_banner 4"])
    assert b"".join(x["value"].to_bytes(4, "little") for x in js) == version.encode()[:16]
    assert [x["address"] - js[0]["address"] for x in js] == [0, 4, 8, 12]
    big = [int(w, 16) for c in _cells(ours["rd -N -32 linux_banner 4"]) for w in c[:4]]
    assert b"".join(x.to_bytes(4, "big") for x in big) == version.encode()[:16]
    assert ours["rd -d jiffies 4"].split()[1] == ours["rd -D jiffies 4"].split()[1]
    # -e END: up to END, the same words as the count (crash 8.0.2 takes only hex there)
    assert ours["rd linux_banner -e linux_banner+0x28"] == kdbg_x(dump.path, "rd linux_banner 5").stdout
    # 2. crash, line by line (-a: crash ends the string without a newline)
    theirs = crash_outputs(suite, dump.path)
    if not theirs:
        return
    for cmd in RD_COMMANDS:
        assert ours[cmd] == theirs[cmd], cmd
    assert ours["rd -a linux_banner"] == theirs["rd -a linux_banner"] + "\n"
    # -s/-S: a symbol cell names the word's value; crash's vmlinux has names kallsyms
    # lacks (section symbols such as .data) and other aliases of an address: each name is
    # held to the guest's kallsyms and the word read in hex
    syms = kallsyms(dump.truth)
    words = [int(w, 16) for c in _cells(ours["rd init_task 64"]) for w in c[:2]]

    def names(cell: str, value: int) -> bool:
        name, _, off = cell.partition("+")
        return any(a + int(off or "0") == value for a in syms.get(name, []))

    for cmd in RD_SYMBOLIC:
        mine = [c for line in _cells(ours[cmd]) for c in line]
        crash = [c for line in _cells(theirs[cmd]) for c in line]
        assert len(mine) == len(crash) == len(words)
        for a, b, value in zip(mine, crash, words, strict=True):
            if re.fullmatch(r"[0-9a-f]{16}", b) or b.startswith("["):
                assert a == b, (cmd, a, b)
            else:
                assert not re.fullmatch(r"[0-9a-f]{16}", a) and names(a, value), (cmd, a, b, hex(value))
                assert names(b, value) or b not in syms, (cmd, b)
    assert any(c.startswith("[") for line in _cells(ours["rd -S init_task 64"]) for c in line)
    assert any(not re.fullmatch(r"[0-9a-f]{16}", c) for line in _cells(ours["rd -s init_task 64"]) for c in line)


def test_rd_bad_input_and_help() -> None:
    path = resolve_dump("bullseye", FORM, "qemu").path
    bad = ["rd", "rd -s -32 init_task", "rd -N init_task", "rd -d -s init_task", "rd init_task zz",
           "rd init_task 0", "rd -e init_task init_task+8", "rd 0 2", "rd -Q init_task", "rd init_task 1 -e 8"]
    for cmd in bad:
        r = kdbg_x(path, cmd, "rd jiffies")
        assert r.returncode == 1, cmd
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("kdbg: "), (cmd, r.stderr)
        assert re.fullmatch(r"[0-9a-f]{16}:  [0-9a-f]{16} {20}.{8}\n", r.stdout), (cmd, r.stdout)
    r = kdbg_x(path, "help rd")
    assert r.returncode == 0
    for opt in ("-p", "-8", "-16", "-32", "-64", "-d", "-D", "-x", "-s", "-S", "-a", "-N", "-o OFFS", "-e END"):
        assert opt in r.stdout, opt
