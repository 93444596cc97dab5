"""crash's commands kdbg lacked (``mod``, ``sym -l/-m/-q``, ...) on the *state* dumps of
5.10, 6.1 and 6.12 (:mod:`vmcores.state`) and on crashed dumps (:mod:`vmcores.crash`),
held to what the guest printed first, then to Debian's crash 8.0.2 with the ``-dbg``
vmlinux (:mod:`vmcores.crash_oracle`), then to drgn 0.3.0's crash commands with Debian's
DWARF (:func:`vmcores.oracle.drgn_crash_command`) where drgn has the command.

Where crash cannot answer, the test says so: trixie 6.12 does not open in crash 8.0.2
(:data:`~vmcores.crash_oracle.CRASH_CANNOT_OPEN`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.ui.completion import complete
from tests.cli_support import kdbg_commands, run_kdbg
from tests.conftest import dump_id, resolve_state_dump
from vmcores.crash import CrashDump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CRASH_WRONG_TASKS, CrashOracleError, ask_crash, crash_can_open
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


# ------------------------------------------------------------------------------- sym -l, -m, -q

Kallsym = Tuple[int, str, str, str]


def _kallsyms(truth: Path) -> List[Kallsym]:
    """``(address, type, name, module)`` of each line of the guest's ``/proc/kallsyms``
    (``module`` empty for the kernel's own)."""
    out = []
    for line in (truth / "kallsyms").read_text().splitlines():
        head, _, module = line.partition("\t")
        address, letter, name = head.split()
        out.append((int(address, 16), letter, name, module.strip("[]")))
    return out


def _listed(entries: List[Dict[str, object]]) -> List[Kallsym]:
    return [(int(e["address"]), str(e["type"]), str(e["name"]), str(e["module"] or ""))  # type: ignore[call-overload]
            for e in entries if "marker" not in e]


@pytest.mark.parametrize("crash_dump", OOPS_IDS, ids=dump_id, indirect=True)
def test_sym_listings_against_the_guests_kallsyms(crash_dump: CrashDump) -> None:
    """``sym -l`` lists exactly the guest's ``/proc/kallsyms`` (address, type letter, name,
    module), the kernel's in address order, then each module between its ``MODULE START``
    (its base in ``/proc/modules``) and ``MODULE END`` (base plus size); ``sym -m`` is the
    module's block of it; ``sym -q`` the lines whose name holds the string, modules'
    with ``[MODULE]``; the text says what ``--json`` says."""
    truth = _kallsyms(crash_dump.truth)
    modules = _proc_modules(crash_dump.truth)
    r = kdbg_commands(crash_dump.path, "sym -l --json", "sym -m kdbg_oops --json", "sym -q oops --json",
                      "sym -l", "sym -m kdbg_oops", "sym -q oops")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    every, block, found = (json.loads(line) for line in lines[:3])
    text = lines[3:]
    listed = _listed(every)
    assert sorted(listed) == sorted(truth)
    kernel = [e for e in every if not e["module"]]
    assert every[:len(kernel)] == kernel and [e["address"] for e in kernel] == sorted(e["address"] for e in kernel)
    markers = [e for e in every if "marker" in e]
    assert [(e["module"], e["marker"], e["address"]) for e in markers] == [
        (name, mark, base + size * (mark == "END")) for name, (size, base, _t) in
        sorted(modules.items(), key=lambda kv: kv[1][1]) for mark in ("START", "END")]
    start = next(i for i, e in enumerate(every) if e.get("marker") == "START" and e["module"] == "kdbg_oops")
    assert block == every[start:start + len(block)] and block[-1].get("marker") == "END"
    assert sorted(_listed(block)) == sorted(t for t in truth if t[3] == "kdbg_oops")
    assert _listed(found) == [s for s in listed if "oops" in s[2]] and any(s[3] for s in _listed(found))
    assert len(text) == len(every) + len(block) + len(found)
    with_module = [False] * (len(every) + len(block)) + [True] * len(found)  # sym -q names the module
    for line, e, named in zip(text, every + block + found, with_module, strict=True):
        if "marker" in e:
            assert line == f"{e['address']:x} MODULE {e['marker']}: {e['module']}", line
        else:
            suffix = f" [{e['module']}]" if e["module"] and named else ""
            assert line == f"{e['address']:x} ({e['type']}) {e['name']}{suffix}", (line, e)


#: crash 8.0.2's symbol listings asked on each state dump's ELF.
SYM_COMMANDS = ["sym -l", "sym -m zram", "sym -q zram_"]


def _crash_symbols(text: str) -> List[Tuple[int, str]]:
    return [(int(f[0], 16), f[2]) for f in (line.split() for line in text.splitlines()) if len(f) >= 3 and
            f[1].startswith("(")]


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_sym_listings_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``sym -l``, ``-m zram`` and ``-q zram_``.  crash reads vmlinux's ELF
    symbol table, kdbg the kernel's kallsyms, so ``sym -l`` differs where those do: crash
    has the section symbols (``.data``, ``__ksymtab`` ...) and symbols kallsyms leaves
    out (``kallsyms_*``, ``init_per_cpu__*``, 6.1's export CRCs ``__crc_*``), and names a few GCC clones (``f.part.0``,
    ``f.isra.0``) without the suffix; every other symbol is in both at the same address.
    The module markers and the ``-m``/``-q`` symbols are the same (type letters of
    module data aside: crash prints ``?``, kdbg ``/proc/kallsyms``' letter, which the
    guest test above holds it to)."""
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    theirs = ask_crash(state_dump.suite, state_dump.path, SYM_COMMANDS).outputs
    r = kdbg_commands(state_dump.path, *[f"{c} --json" for c in SYM_COMMANDS])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    every, block, found = (json.loads(line) for line in r.stdout.splitlines())
    mine = {(int(e["address"]), str(e["name"])) for e in every if "marker" not in e}
    crash = set(_crash_symbols(theirs["sym -l"]))
    names_at: Dict[int, set] = {}
    for address, name in mine:
        names_at.setdefault(address, set()).add(name)
    for address, name in crash - mine:
        clone = any(n.startswith(name + ".") for n in names_at.get(address, ()))
        not_kallsyms = name.startswith((".", "__ksymtab", "__kcrctab", "__kstrtab", "kallsyms_", "init_per_cpu__",
                                          "__crc_")) \
            or name in ("__param", "__modver", "__ex_table", "__bug_table")
        assert clone or not_kallsyms, (hex(address), name)
    crash_names = {(a, n.split(".")[0]) for a, n in crash}
    assert all((a, n.split(".")[0]) in crash_names for a, n in mine if a >= 1 << 63 and not n.startswith("__key")), \
        sorted((hex(a), n) for a, n in mine if a >= 1 << 63 and (a, n.split(".")[0]) not in crash_names)[:20]
    crash_markers = [line for line in theirs["sym -l"].splitlines() if " MODULE " in line]
    assert [f"{e['address']:x} MODULE {e['marker']}: {e['module']}" for e in every if "marker" in e] == crash_markers
    for cmd, ours in (("sym -m zram", block), ("sym -q zram_", found)):
        assert sorted(_crash_symbols(theirs[cmd])) == sorted((int(e["address"]), str(e["name"]))
                                                             for e in ours if "marker" not in e), cmd
    assert [line for line in theirs["sym -m zram"].splitlines() if " MODULE " in line] == [
        f"{e['address']:x} MODULE {e['marker']}: zram" for e in block if "marker" in e]


def test_sym_bad_input_help_and_completion() -> None:
    """A module that is not loaded, -l with a name, an unknown option: one line, exit
    status 1, the next command runs; ``help sym``; the REPL completes the options."""
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("sym -m nosuchmod", "no module of that name is loaded"), ("sym -l zram_add", "take no other"),
                       ("sym -z", "unrecognized arguments")]:
        r = kdbg_commands(path, cmd, "sym -q zram_add.cold")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert re.fullmatch(r"[0-9a-f]+ \(t\) zram_add\.cold \[zram\]\n", r.stdout), (cmd, r.stdout)
    r = kdbg_commands(path, "help sym")
    assert r.returncode == 0 and r.stdout.startswith("usage: sym"), r.stdout
    for option in ("-l", "-m", "-q", "--percpu", "--json"):
        assert option in r.stdout
    start, got = complete(None, {}, "sym -")
    assert start == len("sym -") - 1 and {"-l", "-m", "-q", "--json"} <= set(got), got


# ------------------------------------------------------------------------------- pte

#: Prints ``START ENTRY`` for the first page of each VMA of task PID whose leaf entry is
#: present (the walk is kdbg's; the guest's maps judge the decoded flags).
_LEAF_ENTRIES = """
from kdbg.helpers.addrspace import for_each_vma, page_table_walk
for vma in for_each_vma(find_task(prog, {pid}).mm):
    shift, _at, entry = page_table_walk(prog, int(vma.vm_start), vma.vm_mm)[1][-1]
    if shift == 12 and entry & 1:
        print(f"{{int(vma.vm_start):x}} {{entry:x}}")
"""


def _perms(truth: Path, pid: int) -> Dict[int, str]:
    """``START -> rwxp`` of the guest's ``/proc/PID/maps``."""
    return {int(line.split("-")[0], 16): line.split()[1] for line in
            (truth / "proc" / str(pid) / "maps").read_text().splitlines()}


def _pids(truth: Path) -> Dict[str, int]:
    """``NAME -> PID`` of the state guest's processes (its ``pids`` file)."""
    return {line.split()[0]: int(line.split()[1]) for line in (truth / "pids").read_text().splitlines()}


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_pte_against_the_guests_maps(state_dump: StateDump) -> None:
    """``pte`` of the helper's present user PTEs, one per VMA, against the guest's
    ``/proc/PID/maps``: ``USER`` always, ``RW`` never where the mapping is not writable,
    ``NX`` exactly where it is not executable; the physical address is the entry's frame;
    the text says what ``--json`` says, in crash's columns."""
    pid = _pids(state_dump.truth)["kdbg-state"]
    r = run_kdbg("-q", "-c", str(state_dump.path), "-e", _LEAF_ENTRIES.format(pid=pid))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    leaves = [(int(a, 16), b) for a, b in (line.split() for line in r.stdout.splitlines())]
    perms = _perms(state_dump.truth, pid)
    assert len(leaves) >= 3 and all(start in perms for start, _e in leaves), (leaves, perms)
    entries = [e for _s, e in leaves]
    r = kdbg_commands(state_dump.path, "pte --json " + " ".join(entries), "pte " + " ".join(entries))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    rows, text = json.loads(lines[0]), lines[1:]
    assert len(rows) == len(leaves) and len(text) == 2 * len(leaves)
    for (start, entry), row, head, line in zip(leaves, rows, text[::2], text[1::2], strict=True):
        p = perms[start]
        flags = row["flags"]
        assert row["present"] and "PRESENT" in flags and "USER" in flags, (p, flags)
        assert "RW" not in flags or p[1] == "w", (p, flags)
        assert ("NX" in flags) == (p[2] != "x"), (p, flags)
        assert row["physical"] == int(entry, 16) & ((1 << 52) - 1) & ~0xFFF
        assert head.split() == ["PTE", "PHYSICAL", "FLAGS"]
        assert line.split() == [entry, f"{row['physical']:x}", f"({'|'.join(flags)})"], line
        assert line.index(f"{row['physical']:x}") + len(f"{row['physical']:x}") == head.index("PHYSICAL") + 8


#: Entries crash 8.0.2 decodes on each state dump: kernel data, a user page, none, and a
#: swap entry of type 0 (the guest's zram0).
PTE_COMMANDS = ["pte 8000000003c4e063", "pte 80000000bd06e067", "pte 0", "pte 13f600", "pte 1e5"]


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_pte_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``pte``, byte for byte; the swap entry's device is the guest's swap
    device (``/proc/swaps``)."""
    r = kdbg_commands(state_dump.path, *PTE_COMMANDS)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    swaps = (state_dump.truth / "swaps").read_text().splitlines()
    assert r.stdout.splitlines()[7].split()[1] == swaps[1].split()[0]
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    theirs = ask_crash(state_dump.suite, state_dump.path, PTE_COMMANDS).outputs
    assert r.stdout == "".join(theirs[c] for c in PTE_COMMANDS)


def test_pte_bad_input_help_and_completion() -> None:
    """Not hexadecimal, a swap type with no device, an unknown option: one line, exit
    status 1, the next command runs; ``help pte``; the REPL completes its options."""
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, words in [("pte zz", "not a hexadecimal value"), ("pte fff8000000000000", "is no swap device"),
                       ("pte -q 0", "unrecognized arguments")]:
        r = kdbg_commands(path, cmd, "pte 0")
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert r.stdout == "PTE  PHYSICAL  FLAGS\n 0       0     (no mapping)\n", (cmd, r.stdout)
    r = kdbg_commands(path, "help pte")
    assert r.returncode == 0 and r.stdout.startswith("usage: pte") and "--json" in r.stdout, r.stdout
    start, got = complete(None, {}, "pte -")
    assert start == len("pte -") - 1 and "--json" in got, got


# ------------------------------------------------------------------------------- log -a


def _check_audit_empty(path: Path, truth: Path) -> None:
    """The guest booted with auditing off (its log: ``audit_enabled=0``, no ``audit=1`` on
    its command line) and no ``auditd``: the kernel printed its audit records with printk
    (the ``type=2000`` record is in its ``dmesg``) and queued none, so ``log -a`` says
    the audit log is empty in crash's words, and ``--json`` lists nothing."""
    dmesg = (truth / "dmesg").read_text()
    assert "audit=1" not in (truth / "cmdline").read_text()
    assert re.search(r"audit: type=2000 audit\([\d.:]+\): state=initialized audit_enabled=0", dmesg), dmesg[:2000]
    r = kdbg_commands(path, "log -a", "log -a --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines() == ["log: kernel audit log is empty", "[]"]


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_log_audit_against_the_guest(state_dump: StateDump) -> None:
    _check_audit_empty(state_dump.path, state_dump.truth)


@pytest.mark.parametrize("crash_dump", OOPS_IDS, ids=dump_id, indirect=True)
def test_log_audit_on_a_crashed_dump(crash_dump: CrashDump) -> None:
    _check_audit_empty(crash_dump.path, crash_dump.truth)


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_log_audit_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2's ``log -a`` says the same line (drgn 0.3.0's ``log`` has no ``-a``)."""
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    theirs = ask_crash(state_dump.suite, state_dump.path, ["log -a"]).outputs["log -a"]
    r = kdbg_commands(state_dump.path, "log -a")
    assert r.returncode == 0 and r.stdout == theirs, (r.stdout, theirs)


def test_log_audit_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    r = kdbg_commands(path, "log -a -q", "log -a")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "unrecognized arguments" in r.stderr, r.stderr
    assert r.stdout == "log: kernel audit log is empty\n"
    r = kdbg_commands(path, "help log")
    assert r.returncode == 0 and r.stdout.startswith("usage: log") and "-a" in r.stdout, r.stdout
    start, got = complete(None, {}, "log -")
    assert start == len("log -") - 1 and {"-a", "-T", "-t", "-m"} <= set(got), got


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
    pid = _pids(state_dump.truth)["kdbg-state"]
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
    f = _busybox_file(path, _pids(truth)["kdbg-state"])
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
    assert _lines(r.stdout) == [line for c in commands for line in _lines(theirs[c])]


@pytest.mark.parametrize("state_dump", [(s, "elf-paging") for s in SUITES], ids=dump_id, indirect=True)
def test_files_dentry_and_inode_against_drgn(state_dump: StateDump) -> None:
    """drgn's ``crash files -d`` and ``-p`` with Debian's DWARF: the same dentry, inode,
    super block and path, the same pages (address, physical address, index)."""
    commands = _files_commands(state_dump.path, state_dump.truth)
    r = kdbg_commands(state_dump.path, *[f"{c} --json" for c in commands])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    dentry, pages = (json.loads(line) for line in r.stdout.splitlines())
    theirs_d = _lines(drgn_crash_command(state_dump.suite, state_dump.path, commands[0]))
    assert theirs_d[-1].split() == [f"{dentry['dentry']:016x}", f"{dentry['inode']:016x}",
                                    f"{dentry['superblk']:016x}", "REG", "/bin/busybox"], theirs_d
    theirs_p = _lines(drgn_crash_command(state_dump.suite, state_dump.path, commands[1]))
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
    pid = _pids(state_dump.truth)["kdbg-state"]
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
    cmd = f"vm -m {_pids(state_dump.truth)['kdbg-state']}"
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
    theirs = _lines(drgn_crash_command(state_dump.suite, paging, "runq -m"))
    assert [line.split() for line in theirs] == [line.split() for line in _lines(r.stdout)], theirs
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
    pids = _pids(state_dump.truth)
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
    pids = _pids(state_dump.truth)
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
