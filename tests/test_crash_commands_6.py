"""crash's commands kdbg lacked (``mod``, ``sym -l/-m/-q``, ...) on the *state* dumps of
5.10, 6.1 and 6.12 (:mod:`vmcores.state`) and on crashed dumps (:mod:`vmcores.crash`),
held to what the guest printed first, then to Debian's crash 8.0.2 with the ``-dbg``
vmlinux (:mod:`vmcores.crash_oracle`), then to drgn 0.3.0's crash commands with Debian's
DWARF (:func:`vmcores.oracle.drgn_crash_command`) where drgn has the command.

Where crash cannot answer, the test says so: trixie 6.12 does not open in crash 8.0.2
(:data:`~vmcores.crash_oracle.CRASH_CANNOT_OPEN`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands
from tests.conftest import dump_id, resolve_state_dump
from vmcores.crash import CrashDump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_crash_command
from vmcores.state import StateDump

pytestmark = pytest.mark.timeout(2400)

#: The forms each command is checked on: QEMU's ELF and its kdump-compressed form.
FORMS = ("elf", "kdump-zlib")
#: The state dumps each command is checked on.
STATE_IDS = [(suite, form) for suite in SUITES for form in FORMS]
#: The crashed dumps (an oops in a module of the suite's own build: a tainted module).
OOPS_IDS = [(suite, "oops", form) for suite in SUITES for form in FORMS]


def _release(truth: Path) -> Tuple[int, int]:
    """The guest's ``uname -r`` as ``(major, minor)``."""
    major, minor = re.findall(r"\d+", (truth / "uname").read_text())[:2]
    return int(major), int(minor)


def _lines(text: str) -> List[str]:
    """*text*'s lines without trailing blanks, empty lines dropped (crash's and kdbg's
    output compared line by line)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------------------- mod


def _proc_modules(truth: Path) -> Dict[str, Tuple[int, int, str]]:
    """``NAME -> (size, address, taint letters)`` of the guest's ``/proc/modules``."""
    out = {}
    for line in (truth / "modules").read_text().splitlines():
        f = line.split()
        taints = f[6].strip("()") if len(f) > 6 else ""
        out[f[0]] = (int(f[1]), int(f[5], 16), taints)
    return out


def _check_mod_against_proc(path: Path, truth: Path) -> None:
    """``mod``, ``mod --json`` and ``mod -t`` against ``/proc/modules``: every module with
    its size, base and taint letters, in base order (crash's), under crash's header
    (``TEXT_BASE`` from 6.4, where modules keep ``mem[]``)."""
    r = kdbg_commands(path, "mod --json", "mod", "mod -t")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    rows = json.loads(lines[0])
    truth_rows = _proc_modules(truth)
    assert {row["name"]: (row["size"], row["base"], row["taints"]) for row in rows} == truth_rows
    assert len(rows) == len(truth_rows) >= 2
    assert [row["base"] for row in rows] == sorted(t[1] for t in truth_rows.values())
    table = lines[1:2 + len(rows)]
    base = "TEXT_BASE" if _release(truth) >= (6, 4) else "BASE"
    assert table[0].split() == ["MODULE", "NAME", base, "SIZE", "OBJECT", "FILE"], table[0]
    width = max(len(row["name"]) for row in rows)
    for line, row in zip(table[1:], rows, strict=True):
        assert line.split() == [f"{row['module']:016x}", row["name"], f"{row['base']:016x}", str(row["size"]),
                                "(not", "loaded)", "[CONFIG_KALLSYMS]"], line
        assert line.index(f"{row['base']:016x}") == 16 + 2 + width + 2, line
    tainted = [(row["name"], row["taints"]) for row in rows if row["taints"]]
    taint_lines = lines[2 + len(rows):]
    assert tainted == [(n, t[2]) for n, t in sorted(truth_rows.items(), key=lambda kv: kv[1][1]) if t[2]]
    if tainted:
        assert [line.split() for line in taint_lines] == [["NAME", "TAINTS"], *[list(t) for t in tainted]]
    else:
        assert taint_lines == ["no tainted modules"]


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_mod_against_the_guests_proc_modules(state_dump: StateDump) -> None:
    """The state guest's modules (zram, veth, ...), against its ``/proc/modules``."""
    _check_mod_against_proc(state_dump.path, state_dump.truth)


@pytest.mark.parametrize("crash_dump", OOPS_IDS, ids=dump_id, indirect=True)
def test_mod_on_a_crashed_dump(crash_dump: CrashDump) -> None:
    """The oopsed guest's modules: ``kdbg_oops`` tainted ``O`` (out of tree) and ``E``
    (unsigned) as its ``/proc/modules`` says."""
    _check_mod_against_proc(crash_dump.path, crash_dump.truth)
    assert "O" in _proc_modules(crash_dump.truth)["kdbg_oops"][2]


#: The ``mod`` commands crash 8.0.2 is asked on each dump (one crash run per dump, cached).
MOD_COMMANDS = ["mod", "mod -t"]


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_mod_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``mod`` and ``mod -t`` on the ELF dump, line by line."""
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    theirs = ask_crash(state_dump.suite, state_dump.path, MOD_COMMANDS).outputs
    r = kdbg_commands(state_dump.path, *MOD_COMMANDS)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert _lines(r.stdout) == [line for cmd in MOD_COMMANDS for line in _lines(theirs[cmd])]


@pytest.mark.parametrize("state_dump", [(s, "elf-paging") for s in SUITES], ids=dump_id, indirect=True)
def test_mod_against_drgn(state_dump: StateDump) -> None:
    """drgn's ``crash mod`` and ``crash mod -t`` with Debian's DWARF: the same rows (drgn
    keeps the kernel's list order and always says ``TEXT_BASE``: rows compared by name)."""
    ours = kdbg_commands(state_dump.path, "mod", "mod -t")
    assert ours.returncode == 0 and ours.stderr == "", ours.stderr
    n = len(_proc_modules(state_dump.truth))
    our_lines = _lines(ours.stdout)
    mine, mine_t = our_lines[1:1 + n], our_lines[1 + n:]
    theirs = _lines(drgn_crash_command(state_dump.suite, state_dump.path, "mod"))[1:]
    assert len(theirs) == len(mine) == n >= 2, (theirs, mine)
    assert sorted(line.split() for line in theirs) == sorted(line.split() for line in mine)
    theirs_t = _lines(drgn_crash_command(state_dump.suite, state_dump.path, "mod -t"))
    if theirs_t == ["no tainted modules"]:
        assert mine_t == theirs_t
    else:
        assert theirs_t[0].split() == mine_t[0].split() == ["NAME", "TAINTS"]
        assert sorted(line.split() for line in theirs_t[1:]) == sorted(line.split() for line in mine_t[1:])


def test_mod_bad_input_help_and_completion() -> None:
    """An unknown option: one line, exit status 1, the next command runs; ``-s``/``-S`` say
    in one line that kdbg has nothing to load; ``help mod``; the REPL completes options."""
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    r = kdbg_commands(path, "mod -q", "mod -t")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "unrecognized arguments" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and r.stdout.startswith("NAME"), r.stdout
    for cmd in ("mod -s zram", "mod -S", "mod -S /lib/modules"):
        r = kdbg_commands(path, cmd)
        assert r.returncode == 0 and r.stderr == "", (cmd, r.stderr)
        assert len(r.stdout.splitlines()) == 1 and "kallsyms" in r.stdout and "BTF" in r.stdout, (cmd, r.stdout)
    r = kdbg_commands(path, "help mod")
    assert r.returncode == 0 and r.stdout.startswith("usage: mod"), r.stdout
    for option in ("-t", "-s", "-S", "--json"):
        assert option in r.stdout
    start, got = complete(None, {}, "mod -")
    assert start == len("mod -") - 1 and {"-t", "-s", "-S", "--json"} <= set(got), got
