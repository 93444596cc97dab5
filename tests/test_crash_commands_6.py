"""crash's commands kdbg lacked (``mod``, ``sym -l/-m/-q``, ``pte``, ``log -a``) on the *state* dumps of
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
from tests.cli_support import kdbg_commands, run_kdbg
from tests.command_checks import output_lines
from tests.conftest import dump_id, resolve_state_dump
from tests.state_dumps import FORMS, STATE_IDS, guest_pids
from vmcores.crash import CrashDump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_crash_command
from vmcores.state import StateDump

pytestmark = pytest.mark.timeout(2400)

#: The crashed dumps (an oops in a module of the suite's own build: a tainted module).
OOPS_IDS = [(suite, "oops", form) for suite in SUITES for form in FORMS]


def _release(truth: Path) -> Tuple[int, int]:
    """The guest's ``uname -r`` as ``(major, minor)``."""
    major, minor = re.findall(r"\d+", (truth / "uname").read_text())[:2]
    return int(major), int(minor)


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
    assert output_lines(r.stdout) == [line for cmd in MOD_COMMANDS for line in output_lines(theirs[cmd])]


@pytest.mark.parametrize("state_dump", [(s, "elf-paging") for s in SUITES], ids=dump_id, indirect=True)
def test_mod_against_drgn(state_dump: StateDump) -> None:
    """drgn's ``crash mod`` and ``crash mod -t`` with Debian's DWARF: the same rows (drgn
    keeps the kernel's list order and always says ``TEXT_BASE``: rows compared by name)."""
    ours = kdbg_commands(state_dump.path, "mod", "mod -t")
    assert ours.returncode == 0 and ours.stderr == "", ours.stderr
    n = len(_proc_modules(state_dump.truth))
    our_lines = output_lines(ours.stdout)
    mine, mine_t = our_lines[1:1 + n], our_lines[1 + n:]
    theirs = output_lines(drgn_crash_command(state_dump.suite, state_dump.path, "mod"))[1:]
    assert len(theirs) == len(mine) == n >= 2, (theirs, mine)
    assert sorted(line.split() for line in theirs) == sorted(line.split() for line in mine)
    theirs_t = output_lines(drgn_crash_command(state_dump.suite, state_dump.path, "mod -t"))
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


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_pte_against_the_guests_maps(state_dump: StateDump) -> None:
    """``pte`` of the helper's present user PTEs, one per VMA, against the guest's
    ``/proc/PID/maps``: ``USER`` always, ``RW`` never where the mapping is not writable,
    ``NX`` exactly where it is not executable; the physical address is the entry's frame;
    the text says what ``--json`` says, in crash's columns."""
    pid = guest_pids(state_dump.truth)["kdbg-state"]
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


