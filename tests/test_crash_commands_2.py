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
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import kdbg
from kdbg.errors import ExpressionError
from kdbg.ui.commands import CommandContext, run_command
from tests.cli_support import clean_env, kdbg_commands, run_kdbg
from tests.command_checks import assert_same_instruction
from tests.conftest import resolve_dump
from tests.kernel_names import kallsyms_addresses
from tests.memory_overlay import overlay
from tests.oracle_exprs import drgn_answers_at
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CrashOracleError, ask_crash, crash_can_open
from vmcores.debian import SUITES

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
CALC_COMMANDS = ["eval 16m + 0x1000", "eval -b 0x1234", "eval 100", "eval (1 << 32)", "eval 128 * 1m",
                 "eval -b 41dc065", "eval ~0", "eval jiffies", "eval 5 - 7", "ascii 62696c2f7273752f",
                 "ascii 4142434445464748", "ascii", "btop 1000000 512a000", "ptob 1000 0x512a", "ptov 1000000"]
#: Python's own arithmetic for each eval (the symbol's from the guest's kallsyms).
EVAL_VALUES = {"eval 16m + 0x1000": (16 << 20) + 0x1000, "eval -b 0x1234": 0x1234, "eval 100": 100,
               "eval (1 << 32)": 1 << 32, "eval 128 * 1m": 128 << 20, "eval -b 41dc065": 0x41dc065,
               "eval ~0": (1 << 64) - 1, "eval 5 - 7": (5 - 7) & ((1 << 64) - 1)}
KMEM_COMMANDS = ["kmem -i", "kmem -s"]
CRASH_COMMANDS = LIST_COMMANDS + RD_COMMANDS + RD_SYMBOLIC + ["rd -a linux_banner"] + DIS_COMMANDS + CALC_COMMANDS + \
    KMEM_COMMANDS


kdbg_x = kdbg_commands


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
    return drgn_answers_at(suite, None, texts)


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
    syms = kallsyms_addresses(dump.truth)
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


# -------------------------------------------------------------------------------- dis

_DIS_LINE = re.compile(r"^0x([0-9a-f]+)(?: <([^>]+)>)?:\t(\S+)(?: +(.*))?$")


def _dis_rows(text: str) -> List[Tuple[int, str, str, str]]:
    """(address, label, mnemonic, operands) of each line."""
    rows = []
    for line in text.splitlines():
        m = _DIS_LINE.match(line)
        assert m, line
        rows.append((int(m.group(1), 16), m.group(2) or "", m.group(3), m.group(4) or ""))
    return rows




@pytest.mark.parametrize("suite", SUITES)
def test_dis(suite: str) -> None:
    """Instruction addresses (so lengths), their <symbol+offset>, and each direct branch's
    target and its name, against gdb's in crash; the text itself is capstone's AT&T syntax
    (``movq``, ``pushq`` where gdb writes ``mov``, ``push``), so mnemonics are compared up
    to a size suffix, and gdb's ``data16``/``xchg %ax,%ax`` padding is capstone's ``nop``."""
    dump = resolve_dump(suite, FORM, "qemu")
    r = kdbg_x(dump.path, "dis --json schedule 3", "dis schedule")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    first, text = r.stdout.split("\n", 1)
    js = json.loads(first)
    syms = kallsyms_addresses(dump.truth)
    schedule = syms["schedule"][0]
    # 1. the guest's symbols: every label is the guest's kallsyms address plus the offset
    whole = _dis_rows(text)
    assert whole[0][:2] == (schedule, "schedule")
    for addr, label, _m, _o in whole:
        name, _, off = label.partition("+")
        assert schedule + int(off or "0") == addr and name == "schedule"
    assert [a for a, *_ in whole] == sorted({a for a, *_ in whole})
    assert [x["address"] for x in js] == [a for a, *_ in whole[:3]]
    assert sum(x["size"] for x in js[:2]) == whole[2][0] - schedule
    # 2. crash (gdb)
    theirs = crash_outputs(suite, dump.path)
    if not theirs:
        return
    for cmd in DIS_COMMANDS:
        mine = _dis_rows(kdbg_x(dump.path, cmd).stdout)
        gdb = _dis_rows(theirs[cmd])
        assert [(a, lab) for a, lab, _m, _o in mine] == [(a, lab) for a, lab, _m, _o in gdb], cmd
        for (a, _l, m1, o1), (_a, _l2, m2, o2) in zip(mine, gdb, strict=True):
            assert_same_instruction((cmd, hex(a)), (m1, o1), (m2, o2))


# ------------------------------------------------------- eval, ascii, btop, ptob, ptov


def _eval_fields(text: str) -> Dict[str, str]:
    return {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1] for ln in text.splitlines()}


@pytest.mark.parametrize("suite", SUITES)
def test_calculators(suite: str) -> None:
    dump = resolve_dump(suite, FORM, "qemu")
    r = kdbg_x(dump.path, *CALC_COMMANDS, "eval --json 5 - 7", "rd -p 1000000 2", "rd ffff0000 2")
    syms = kallsyms_addresses(dump.truth)
    values = dict(EVAL_VALUES, **{"eval jiffies": syms["jiffies"][0]})
    counts = [4 + ("-b" in c) for c in CALC_COMMANDS if c.startswith("eval")] + [1, 1, 20, 2, 2, 2, 1, 1]
    # the last: rd of a virtual address that is not the direct map fails in one line
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    outs = split_outputs(r.stdout, counts)
    ours = dict(zip(CALC_COMMANDS + ["eval --json 5 - 7", "rd -p 1000000 2"], outs, strict=True))
    # 1. Python's arithmetic and the guest's symbols
    for cmd, value in values.items():
        f = _eval_fields(ours[cmd])
        assert int(f["hexadecimal"].split()[0], 16) == value, cmd
        assert int(f["decimal"].split()[0]) == value and int(f["octal"], 8) == value
        assert f["binary"].strip() == format(value, "064b")
        if value >> 63:
            assert f["decimal"].split()[1] == f"({value - (1 << 64)})"
        if "-b" in cmd:
            assert [int(b) for b in f["bits set"].split()] == [i for i in range(63, -1, -1) if value >> i & 1]
    assert json.loads(ours["eval --json 5 - 7"])["signed"] == -2
    assert ours["ascii 62696c2f7273752f"] == "62696c2f7273752f: /usr/lib\n"
    page = 4096  # x86-64's
    assert ours["btop 1000000 512a000"] == f"1000000: {0x1000000 // page:x}\n512a000: {0x512a000 // page:x}\n"
    assert ours["ptob 1000 0x512a"] == f"3e8: {1000 * page:x}\n512a: {0x512a * page:x}\n"
    # ptov: the direct map's address of the page holds the same bytes as the physical page
    virt = int(ours["ptov 1000000"].splitlines()[1].split()[0], 16)
    r2 = kdbg_x(dump.path, f"rd {virt:x} 2")
    assert r2.returncode == 0 and r2.stdout.split(":", 1)[1] == ours["rd -p 1000000 2"].split(":", 1)[1]
    # 2. crash
    theirs = crash_outputs(suite, dump.path)
    if not theirs:
        return
    for cmd in CALC_COMMANDS:
        assert ours[cmd] == theirs[cmd], cmd


def test_calculators_bad_input() -> None:
    path = resolve_dump("bullseye", FORM, "qemu").path
    for cmd in ["eval", "eval 1 +", "eval (1", "eval nosuchsymbol", "eval 1 / 0", "eval 1 $ 2", "ascii zz",
                "btop", "btop xyz", "ptob q", "ptov", "ptov 12345678901234567890", "dis", "dis -l schedule",
                "dis -s schedule", "dis schedule 0", "dis nosuch", "dis -r -f schedule"]:
        r = kdbg_x(path, cmd, "eval 1")
        assert r.returncode == 1, cmd
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("kdbg: "), (cmd, r.stderr)
        assert r.stdout.startswith("hexadecimal: 1  \n"), (cmd, r.stdout)  # the next command ran
    for cmd in ["eval", "ascii", "btop", "ptob", "ptov", "dis"]:
        r = kdbg_x(path, f"help {cmd}")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: {cmd}"), (cmd, r.stdout)
    r = kdbg_x(path, "dis -l schedule")
    assert "DWARF" in r.stderr


def test_dis_without_capstone_is_one_line(tmp_path: Path) -> None:
    """Where capstone is not installed (an import of it fails), ``dis`` says so in one line
    and the other commands run."""
    (tmp_path / "capstone.py").write_text("raise ImportError('no capstone here')\n")
    path = resolve_dump("bullseye", FORM, "qemu").path
    r = run_kdbg("-q", "-c", str(path), "-x", "dis schedule 2", "-x", "eval 1", env=clean_env(PYTHONPATH=str(tmp_path)))
    assert r.returncode == 1
    assert r.stderr == "kdbg: dis: capstone cannot be imported (pip install capstone, or kdbg's 'dis' extra)\n", \
        r.stderr
    assert r.stdout.startswith("hexadecimal: 1  \n")
    r = run_kdbg("-q", "-c", str(path), "-x", "dis schedule 2")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr


@pytest.mark.parametrize("cmd, typed, expected", [
    ("list", "list -", {"-o", "-e", "-s", "-l", "-x", "-d", "-r", "-H", "-h", "--json"}),
    ("rd", "rd -", {"-p", "-8", "-16", "-32", "-64", "-d", "-D", "-x", "-s", "-S", "-a", "-N", "-o", "-e"}),
    ("dis", "dis -", {"-r", "-f", "-l", "-s", "--json"}),
    ("eval", "eval -", {"-b", "-l"}),
])
def test_options_complete_in_the_repl(cmd: str, typed: str, expected: set) -> None:
    from kdbg.ui.completion import complete

    start, got = complete(None, {}, typed)
    assert start == len(typed) - 1 and expected <= set(got), got
    one = sorted(expected)[-1]  # a longer prefix keeps only the options it starts
    start, got = complete(None, {}, f"{cmd} {one[:2]}")
    assert one in got and all(o.startswith(one[:2]) for o in got), got


# ------------------------------------------------------------------------------- kmem


def _kmem_i_rows(text: str) -> Dict[str, Tuple[int, str]]:
    """``kmem -i``: label -> (pages, the rest of the line)."""
    out = {}
    for line in text.splitlines()[1:]:
        if line.strip():
            label, rest = line[:13].strip(), line[13:]
            out[label] = (int(rest.split()[0]), rest)
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_kmem_i(suite: str) -> None:
    """Held to the guest's /proc/meminfo where its numbers cannot have moved since it was
    read (MemTotal, CommitLimit, the HugeTLB and swap totals), to drgn's counters on the
    same dump for the others, and to crash line by line except where crash 8.0.2 counts
    otherwise than the kernel (said below)."""
    dump = resolve_dump(suite, FORM, "qemu")
    r = kdbg_x(dump.path, "kmem -i", "kmem -i --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text, js = r.stdout.rsplit("\n", 2)[0] + "\n", json.loads(r.stdout.rsplit("\n", 2)[1])
    rows = _kmem_i_rows(text)
    assert list(rows) == ["TOTAL MEM", "FREE", "USED", "SHARED", "BUFFERS", "CACHED", "SLAB", "TOTAL HUGE",
                          "HUGE FREE", "TOTAL SWAP", "SWAP USED", "SWAP FREE", "COMMIT LIMIT", "COMMITTED"]
    # 1. the guest (kB in /proc/meminfo, 4 KiB pages)
    meminfo = {ln.split(":")[0]: int(ln.split()[1]) for ln in (dump.truth / "meminfo").read_text().splitlines()}
    assert rows["TOTAL MEM"][0] * 4 == meminfo["MemTotal"] == js["total"] * 4
    assert rows["COMMIT LIMIT"][0] * 4 == meminfo["CommitLimit"]
    assert rows["TOTAL SWAP"][0] * 4 == meminfo["SwapTotal"] and rows["TOTAL HUGE"][0] == meminfo["HugePages_Total"]
    assert rows["USED"][0] == rows["TOTAL MEM"][0] - rows["FREE"][0]
    # 2. drgn with DWARF
    drgn = drgn_answers(suite, {
        "free": "prog['vm_zone_stat'][prog['NR_FREE_PAGES']].counter.value_()",
        "shmem": "prog['vm_node_stat'][prog['NR_SHMEM']].counter.value_()",
        "file": "prog['vm_node_stat'][prog['NR_FILE_PAGES']].counter.value_()",
        "slab": "prog['vm_node_stat'][prog['NR_SLAB_RECLAIMABLE_B']].counter.value_()"
                " + prog['vm_node_stat'][prog['NR_SLAB_UNRECLAIMABLE_B']].counter.value_()",
        "committed": "max(0, __import__('drgn.helpers.linux.percpu', fromlist=['x'])"
                     ".percpu_counter_sum(prog['vm_committed_as'].address_of_()))",
        "committed_count": "prog['vm_committed_as'].count.value_()",
    })
    assert rows["FREE"][0] == drgn["free"] and rows["SHARED"][0] == drgn["shmem"]
    assert rows["SLAB"][0] == drgn["slab"] and rows["COMMITTED"][0] == drgn["committed"]
    assert rows["CACHED"][0] == drgn["file"] - rows["BUFFERS"][0]  # no swap: no swap cache
    # 3. crash
    theirs = crash_outputs(suite, dump.path)
    if not theirs:
        return
    crash = _kmem_i_rows(theirs["kmem -i"])
    assert text.splitlines()[0] == theirs["kmem -i"].splitlines()[0]
    # crash 8.0.2's SHARED counts pages with a reference count above one (a mem_map walk),
    # not the kernel's Shmem; its SLAB is less than the kernel's reclaimable plus
    # unreclaimable slab (5.9+'s byte-counted NR_SLAB_*_B, /proc/meminfo's Slab); its
    # COMMITTED reads vm_committed_as without the per-CPU deltas that Committed_AS sums, and
    # shows a negative count (the deltas not yet folded in) as 0 (memory.c: committed < 0)
    for label in rows:
        if label not in ("SHARED", "SLAB", "COMMITTED"):
            assert rows[label][1] == crash[label][1], (label, rows[label], crash[label])
    assert crash["COMMITTED"][0] == max(0, drgn["committed_count"]), (crash["COMMITTED"], drgn)
    assert crash["SLAB"][0] < rows["SLAB"][0] and crash["SHARED"][0] != rows["SHARED"][0]


@pytest.mark.parametrize("suite", SUITES)
def test_kmem_s(suite: str) -> None:
    """Every slab cache with its object size and allocated objects, held to drgn (DWARF)
    on the same dump, then to crash line by line."""
    dump = resolve_dump(suite, FORM, "qemu")
    r = kdbg_x(dump.path, "kmem -s", "kmem -s --json task_struct dentry")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text, js = r.stdout.rsplit("\n", 2)[0] + "\n", json.loads(r.stdout.rsplit("\n", 2)[1])
    lines = text.splitlines()
    assert lines[0] == "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME"
    rows = [ln.split() for ln in lines[1:]]
    slab = "__import__('drgn.helpers.linux.slab', fromlist=['x'])"
    drgn = drgn_answers(suite, {"caches": f"[(c.value_(), c.name.string_().decode(), c.object_size.value_(), "
                                          f"sum(1 for _ in {slab}.slab_cache_for_each_allocated_object(c, 'void'))) "
                                          f"for c in {slab}.for_each_slab_cache(prog)]"})
    assert [(int(c, 16), name, int(size), int(alloc)) for c, size, alloc, _t, _s, _ss, name in rows] == \
        [tuple(x) for x in drgn["caches"]]
    assert all(int(alloc) <= int(total) for _c, _s, alloc, total, *_ in rows)
    assert [x["name"] for x in js] == ["task_struct", "dentry"] or [x["name"] for x in js] == ["dentry", "task_struct"]
    byname = {row[-1]: row for row in rows}
    for x in js:
        assert [x["allocated"], x["total"], x["slabs"]] == [int(v) for v in byname[x["name"]][2:5]]
    theirs = crash_outputs(suite, dump.path)
    if not theirs:
        return
    assert text == theirs["kmem -s"]


def test_kmem_bad_input() -> None:
    path = resolve_dump("bullseye", FORM, "qemu").path
    for cmd in ["kmem", "kmem -i -s", "kmem -i dentry", "kmem -s nosuchcache", "kmem -Q"]:
        r = kdbg_x(path, cmd, "eval 1")
        assert r.returncode == 1, cmd
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("kdbg: kmem"), (cmd, r.stderr)
        assert r.stdout.startswith("hexadecimal: 1  \n"), (cmd, r.stdout)
    r = kdbg_x(path, "help kmem")
    assert r.returncode == 0 and "-i" in r.stdout and "-s" in r.stdout


# ------------------------------------------------------------------------------- vtop


def _iomem(truth: Path, name: str) -> Tuple[int, int]:
    for line in (truth / "iomem").read_text().splitlines():
        rng, _, what = line.strip().partition(" : ")
        if what == name:
            lo, hi = rng.split("-")
            return int(lo, 16), int(hi, 16)
    raise AssertionError(f"the guest's /proc/iomem has no {name!r}")


@pytest.mark.parametrize("suite", SUITES)
def test_vtop(suite: str) -> None:
    """linux_banner (a 2 MiB page of the kernel image), a module (4 KiB vmalloc pages) and
    a direct-map page: the physical address is where the guest's /proc/iomem puts the
    kernel's rodata, reads the same bytes as the virtual address, and crash prints the
    same walk, flags and struct page."""
    dump = resolve_dump(suite, FORM, "qemu")
    syms = kallsyms_addresses(dump.truth)
    banner = syms["linux_banner"][0]
    module = int(next(w for w in (dump.truth / "modules").read_text().split() if w.startswith("0x")), 16)
    r = kdbg_x(dump.path, "ptov 1000000")
    direct = int(r.stdout.splitlines()[1].split()[0], 16)
    cmds = [f"vtop {banner:x}", f"vtop {module:x}", f"vtop {direct:x}"]
    r = kdbg_x(dump.path, *cmds, f"vtop --json {banner:x}")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    *texts, js = r.stdout.rstrip("\n").split("\n[")
    outs = "\n[".join(texts).split("\nVIRTUAL ")
    outs = [outs[0] + "\n"] + ["VIRTUAL " + o + "\n" for o in outs[1:]]
    assert len(outs) == 3
    phys = [int(o.splitlines()[1].split()[1], 16) for o in outs]
    # 1. the guest: linux_banner is in the kernel's rodata; the direct map's page is 16 MiB
    lo, hi = _iomem(dump.truth, "Kernel rodata")
    assert lo <= phys[0] <= hi and phys[2] == 0x1000000
    assert "(2MB)" in outs[0] and "   PTE: " in outs[1] and "(PRESENT|" in outs[1]
    for o, p in zip(outs, phys, strict=True):
        va = int(o.splitlines()[1].split()[0], 16)
        a, b = kdbg_x(dump.path, f"rd {va:x} 2"), kdbg_x(dump.path, f"rd -p {p:x} 2")
        assert a.returncode == b.returncode == 0 and a.stdout.split(":")[1] == b.stdout.split(":")[1]
    walk = json.loads("[" + js)[0]
    assert walk["virtual"] == banner and [e["shift"] for e in walk["entries"]][-1] == 21
    # 2. crash
    if not crash_can_open(suite):
        return
    theirs = ask_crash(suite, dump.path, cmds).outputs
    for cmd, ours in zip(cmds, outs, strict=True):
        assert ours == theirs[cmd], cmd


def test_vtop_bad_input() -> None:
    path = resolve_dump("bullseye", FORM, "qemu").path
    for cmd in ["vtop", "vtop zz", "vtop 1", "vtop 8000000000000000"]:
        r = kdbg_x(path, cmd, "eval 1")
        assert r.returncode == 1, cmd
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("kdbg: vtop"), (cmd, r.stderr)
        assert r.stdout.startswith("hexadecimal: 1  \n"), (cmd, r.stdout)


