"""crash's user-memory and scheduler commands kdbg lacked: ``vm -p``, ``rd -u``/``-R``,
``runq -g``, ``tree -t maple``, ``search -u``, ``dis -u``/``-b``, and ``kmem -f``'s count
against the kernel's exact free-page counter.

Truth, in the issue's order: the state guest's ``/proc/PID/maps`` (:mod:`vmcores.state`);
crash 8.0.2 with Debian's DWARF (:mod:`vmcores.crash_oracle`) on the kernels whose tasks it
reads (5.10: it does not open 6.12, and on 6.1 it misses user tasks,
:data:`~vmcores.crash_oracle.CRASH_WRONG_TASKS`); drgn 0.3.0 with Debian's DWARF on the
``elf-paging`` form (:func:`vmcores.oracle.drgn_eval`: drgn's own ``follow_phys``,
``access_remote_vm``, ``for_each_vma`` and ``mt_for_each`` on the same memory;
:func:`vmcores.oracle.drgn_crash_command` where drgn has the command).  Every form of a
suite holds the same memory, so drgn's answer on ``elf-paging`` holds for the ``elf`` and
``kdump-zlib`` forms kdbg is run on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from tests.cli_support import kdbg_commands
from tests.command_checks import bad_input, help_and_completion, output_lines
from tests.conftest import dump_id, resolve_state_dump
from tests.state_dumps import guest_pids
from vmcores.arm64 import KERNELS as ARM64_KERNELS
from vmcores.arm64 import PAGE_SIZE_KERNELS
from vmcores.arm64_crash import arm64_crash_dumps
from vmcores.crash import CrashDump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CRASH_WRONG_TASKS, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.oracle import drgn_crash_command, drgn_eval
from vmcores.state import StateDump

pytestmark = pytest.mark.timeout(2400)

FORMS = ("elf", "kdump-zlib")
STATE_IDS = [(suite, form) for suite in SUITES for form in FORMS]
PAGE = 4096  # x86-64's


def _release(truth: Path) -> Tuple[int, int]:
    major, minor = re.findall(r"\d+", (truth / "uname").read_text())[:2]
    return int(major), int(minor)


def _maps(truth: Path, pid: int) -> List[Tuple[int, int, str, int, str]]:
    """``(start, end, perms, offset, path)`` of each line of the guest's ``/proc/PID/maps``."""
    rows = []
    for line in (truth / "proc" / str(pid) / "maps").read_text().splitlines():
        f = line.split(None, 5)
        start, end = (int(x, 16) for x in f[0].split("-"))
        rows.append((start, end, f[1], int(f[2], 16), f[5] if len(f) > 5 else ""))
    return rows


def _drgn_exec(suite: str, code: str) -> Any:
    """Run *code* (statements, with ``prog``) in drgn on the suite's ``elf-paging`` state
    dump with Debian's DWARF; its ``out`` is the answer (cached as every drgn answer)."""
    text = f"(lambda ns: (exec({code!r}, ns), ns['out'])[1])(dict(globals()))"
    return drgn_eval(suite, resolve_state_dump(suite, "elf-paging").path, text)


# ------------------------------------------------------------------------------- vm -p

_USER_PAGES = """
from drgn import FaultError
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.mm import for_each_vma, follow_phys
mm = find_task(prog, PID).mm
out = []
for vma in for_each_vma(mm):
    for a in range(vma.vm_start.value_(), vma.vm_end.value_(), 4096):
        try:
            out.append([a, follow_phys(mm, a).value_()])
        except FaultError:
            out.append([a, None])
"""


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_vm_p_against_the_guests_maps_and_drgn(state_dump: StateDump) -> None:
    """``vm -p PID`` of the state guest's processes: one row per page of every VMA of its
    ``/proc/PID/maps``; a page drgn's ``follow_phys`` (DWARF) translates is that physical
    address, one it cannot is kdbg's swap entry, file page (the file and offset
    ``/proc/PID/maps`` gives, plus the page's distance into the VMA) or ``(not mapped)``;
    the text says what ``--json`` says, each VMA under its own header, as crash."""
    pids = guest_pids(state_dump.truth)
    for name in ("kdbg-state", "init"):
        pid = pids.get(name, 1)
        r = kdbg_commands(state_dump.path, f"vm -p --json {pid}", f"vm -p {pid}")
        assert r.returncode == 0 and r.stderr == "", r.stderr
        first, *text = r.stdout.splitlines()
        data = json.loads(first)[0]
        maps = _maps(state_dump.truth, pid)
        assert [(v["start"], v["end"]) for v in data["vmas"]] == [(m[0], m[1]) for m in maps], name
        drgn = {a: pa for a, pa in _drgn_exec(state_dump.suite, _USER_PAGES.replace("PID", str(pid)))}
        mapped = 0
        for v, (start, end, _perms, offset, path) in zip(data["vmas"], maps, strict=True):
            assert [p["virtual"] for p in v["pages"]] == list(range(start, end, PAGE)), (name, v["start"])
            for p in v["pages"]:
                if drgn[p["virtual"]] is not None:
                    assert p.get("physical") == drgn[p["virtual"]], (name, p)
                    mapped += 1
                elif "file" in p:
                    assert "physical" not in p and p["offset"] == offset + p["virtual"] - start, (name, p)
                    assert path.startswith("/SYSV") or p["file"] == path, (name, p, path)
                else:
                    assert "physical" not in p, (name, p)
        assert mapped >= 10, (name, mapped)
        # the text: task line, MM table, then per VMA its header, its line, VIRTUAL/PHYSICAL, its pages
        body = text[3:]
        for v in data["vmas"]:
            assert body[0].split() == ["VMA", "START", "END", "FLAGS", "FILE"]
            assert body[1].split()[:4] == [f"{v['vma']:x}", f"{v['start']:x}", f"{v['end']:x}", f"{v['flags']:x}"]
            assert body[2].split() == ["VIRTUAL", "PHYSICAL"]
            rows = body[3:3 + len(v["pages"])]
            for line, p in zip(rows, v["pages"], strict=True):
                cells = line.split()
                assert int(cells[0], 16) == p["virtual"], line
                if "physical" in p:
                    assert cells[1:] == [f"{p['physical']:x}"], line
                elif "swap" in p:
                    assert cells[1:] == ["SWAP:", p["swap"], "OFFSET:", str(p["offset"])], line
                elif "file" in p:
                    assert line.endswith(f"  OFFSET: {p['offset']:x}") and "FILE: " in line, line
                else:
                    assert cells[1:] == ["(not", "mapped)"], line
            body = body[3 + len(v["pages"]):]
        assert body == []


@pytest.mark.parametrize("suite", SUITES)
def test_vm_p_against_crash(suite: str) -> None:
    """crash 8.0.2's ``vm -p`` of the state helper, line by line, where crash reads the
    tasks (5.10). The RSS cell and the SysV segment's file name differ as in ``vm``'s
    own test (``tests/test_crash_commands_4.py``): crash misses 5.10's per-thread RSS
    counters and names the segment's dentry, kdbg ``[tmpfs]`` as drgn's ``d_path``."""
    dump = resolve_state_dump(suite, "elf")
    if not crash_can_open(suite) or suite in CRASH_WRONG_TASKS:
        assert suite in CRASH_CANNOT_OPEN | CRASH_WRONG_TASKS
        return
    cmd = f"vm -p {guest_pids(dump.truth)['kdbg-state']}"
    theirs = output_lines(ask_crash(suite, dump.path, [cmd]).outputs[cmd])
    r = kdbg_commands(dump.path, cmd)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    ours = output_lines(r.stdout)
    assert len(ours) == len(theirs) and ours[2].split()[:2] == theirs[2].split()[:2], (ours[:3], theirs[:3])

    def norm(lines: List[str]) -> List[str]:
        return [re.sub(r"SYSV[0-9a-f]+|\[tmpfs\]", "<shm>", line) for line in lines[:2] + lines[3:]]

    assert norm(ours) == norm(theirs)


def test_vm_p_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    bad_input(path, [("vm -p -m 1", "exclude each other"), ("vm -P zz 1", "not a hexadecimal"),
                      ("vm -P ffff 1", "no VMA of the task"), ("vm -p 99999", "no task with PID 99999")],
               "vm -p --json 2")
    r = kdbg_commands(path, "vm -p --json 2")
    assert json.loads(r.stdout)[0]["vmas"] == []  # a kernel thread has no pages to show
    help_and_completion(path, "vm", ["-p", "-P", "-m", "--json"])


# ------------------------------------------------------------------------------- rd -u, -R

_USER_READ = """
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.mm import access_remote_vm
out = access_remote_vm(find_task(prog, PID).mm, ADDR, 64).hex()
"""


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_rd_u_against_the_guest_and_drgn(state_dump: StateDump) -> None:
    """``set PID`` then ``rd -u`` of the helper's first mapping (its executable at file
    offset 0, ``/proc/PID/maps``): the ELF magic, and drgn's ``access_remote_vm`` bytes;
    an address in the lower half is user memory without ``-u`` too (crash's rule);
    ``rd -R`` ends at its address; the user addresses print right-aligned."""
    pid = guest_pids(state_dump.truth)["kdbg-state"]
    start, _end, _perms, offset, path = _maps(state_dump.truth, pid)[0]
    assert offset == 0 and path.startswith("/"), path
    r = kdbg_commands(state_dump.path, f"set {pid}", f"rd -u --json {start:x} 8", f"rd {start:x} 8",
                      f"rd -u -R {start + 56:x} 8", f"rd -u -32 {start:x} 1")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("["))
    words = json.loads(lines[at])
    data = b"".join(w["value"].to_bytes(8, "little") for w in words)
    assert [w["address"] for w in words] == list(range(start, start + 64, 8))
    assert data[:4] == b"\x7fELF"
    assert data.hex() == _drgn_exec(state_dump.suite, _USER_READ.replace("PID", str(pid)).replace("ADDR", str(start)))
    dump = lines[at + 1:at + 5]
    assert dump == lines[at + 5:at + 9]  # -R: the 8 words up to and including start + 56
    assert dump[0].startswith(f"{start:16x}:  ") and dump[0].endswith(".ELF" + "".join(
        chr(b) if 32 <= b < 127 else "." for b in data[4:16]))
    assert lines[at + 9] == f"{start:16x}:  464c457f" + " " * 30 + ".ELF"


def test_rd_u_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    out = bad_input(path, [("rd -u 400000", "no current context"),
                            ("rd -u -p 1000", "give -u or -p, not both"),
                            ("rd -R linux_banner -e linux_banner+8", "give COUNT, not -e END")], "rd -8 linux_banner 5")
    assert out.split()[1:6] == ["4c", "69", "6e", "75", "78"]  # Linux
    r = kdbg_commands(path, "set 2", "rd -u 400000")
    assert r.returncode == 1 and "kernel thread without user memory" in r.stderr, r.stderr
    help_and_completion(path, "rd", ["-u", "-R", "-p"])


# ------------------------------------------------------------------------------- search -u

_USER_SEARCH = """
from drgn import FaultError
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.mm import for_each_vma, access_remote_vm
mm = find_task(prog, PID).mm
out = []
for vma in for_each_vma(mm):
    for a in range(vma.vm_start.value_(), vma.vm_end.value_(), 4096):
        try:
            page = access_remote_vm(mm, a, 4096)
        except FaultError:
            continue
        i = page.find(NEEDLE)
        while i >= 0:
            if i % ALIGN == 0:
                out.append(a + i)
            i = page.find(NEEDLE, i + 1)
"""


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_search_u_against_the_guest_and_drgn(state_dump: StateDump) -> None:
    """``search -u`` in the helper's memory: the 32-bit ELF magic (``-w``) is found at
    exactly the aligned places drgn finds it page by page with ``access_remote_vm``
    (DWARF), among them the start of the executable's first mapping and of ``[vdso]`` in
    the guest's maps; ``-c`` finds the strings drgn finds; ``-s``/``-l`` bound it."""
    pid = guest_pids(state_dump.truth)["kdbg-state"]
    maps = _maps(state_dump.truth, pid)
    r = kdbg_commands(state_dump.path, f"set {pid}", "search -u --json -w 464c457f", "search -u --json -c PATH=",
                      f"search -u --json -w -s {maps[0][0]:x} -l 0x1000 464c457f")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    magic, text, bounded = (json.loads(line) for line in r.stdout.splitlines() if line.startswith("["))
    code = _USER_SEARCH.replace("PID", str(pid))
    theirs = _drgn_exec(state_dump.suite, code.replace("NEEDLE", repr(b"\x7fELF")).replace("ALIGN", "4"))
    assert [m["address"] for m in magic] == theirs and all(m["value"] == 0x464C457F for m in magic)
    assert {maps[0][0], next(m[0] for m in maps if m[4] == "[vdso]")} <= set(theirs)
    assert all(any(s <= a < e for s, e, *_ in maps) for a in theirs)
    strings = _drgn_exec(state_dump.suite, code.replace("NEEDLE", repr(b"PATH=")).replace("ALIGN", "1"))
    assert [m["address"] for m in text] == strings and all(m["text"].startswith("PATH=") for m in text)
    assert [m["address"] for m in bounded] == [a for a in theirs if maps[0][0] <= a < maps[0][0] + 0x1000]


def test_search_u_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    bad_input(path, [("search -u 1234", "no current context"), ("search -u -p 1234", "give one of -k, -u and -p")],
               "eval 1")
    r = kdbg_commands(path, "set 2", "search -u 1234")
    assert r.returncode == 1 and "kernel thread without user memory" in r.stderr, r.stderr
    help_and_completion(path, "search", ["-u", "-p", "-k"])


# ------------------------------------------------------------------------------- dis -u, -b

@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_dis_u_against_drgn(state_dump: StateDump) -> None:
    """``dis -u`` of the helper's text (its executable's ``r-x`` mapping in the guest's
    maps): the instructions' bytes are the memory drgn reads there
    (``access_remote_vm``, DWARF), one after another; lines are gdb's without symbols."""
    pid = guest_pids(state_dump.truth)["kdbg-state"]
    maps = _maps(state_dump.truth, pid)
    start = next(m[0] for m in maps if m[4] == maps[0][4] and "x" in m[2])
    r = kdbg_commands(state_dump.path, f"set {pid}", f"dis -u --json {start:x} 12", f"dis -u {start:x} 12")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("["))
    rows = json.loads(lines[at])
    assert len(rows) == 12 and rows[0]["address"] == start
    assert [r["address"] for r in rows[1:]] == [r["address"] + r["size"] for r in rows[:-1]]
    code = "".join(r["bytes"] for r in rows)
    theirs = _drgn_exec(state_dump.suite, _USER_READ.replace("PID", str(pid)).replace("ADDR", str(start)))
    assert theirs.startswith(code)
    assert lines[at + 1:] == [r["text"] for r in rows]
    assert all(re.match(rf"0x{r['address']:x}:\t\S", r["text"]) for r in rows)


#: drgn with DWARF: each ``__bug_table`` entry of vmlinux outside its freed init text, as
#: ``[bug address, its function, the function's address and size]``.
_BUG_TABLE = """
t = prog.type("struct bug_entry")
start, stop = prog.symbol("__start___bug_table").address, prog.symbol("__stop___bug_table").address
init = range(prog.symbol("__init_begin").address, prog.symbol("__init_end").address)
out = []
for at in range(start, stop, t.size):
    a = at + Object(prog, t, address=at).bug_addr_disp.value_()
    try:
        s = prog.symbol(a)
    except LookupError:  # 6.1: 4 lie in no ELF symbol (init text, code past a size)
        continue
    if a not in init:
        out.append([a, s.name, s.address, s.size])
"""
#: Functions whose ``dis`` is held to the table, per dump.
BUG_FUNCTIONS = 24
_DIS_LINE = re.compile(r"^0x([0-9a-f]+) <[^>]+>:\t(\S+)")


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_dis_ud2_are_the_bug_table(state_dump: StateDump) -> None:
    """``dis -b`` is 0 (x86-64 puts nothing after ``ud2``: ``BUG()``'s data is in
    ``__bug_table``), and ``dis`` of a spread of functions holding ``__bug_table`` entries
    (read by drgn with DWARF) shows a ``ud2`` at each entry's address and nowhere else
    inside the function's ELF size, as many as the table has there; each function is
    disassembled from its start to at least its ELF end, and the instruction after a
    ``ud2`` starts right after its two bytes."""
    entries = _drgn_exec(state_dump.suite, _BUG_TABLE)
    assert len(entries) > 1000, len(entries)
    functions = sorted({(addr, size) for _a, _name, addr, size in entries})
    sample = functions[:: max(1, len(functions) // BUG_FUNCTIONS)]
    r = kdbg_commands(state_dump.path, "dis -b", *[f"dis {addr:x}" for addr, _size in sample])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "encoded bytes being skipped after ud2a: 0"
    rows = [(int(m.group(1), 16), m.group(2)) for m in map(_DIS_LINE.match, lines[1:]) if m]
    assert len(rows) == len(lines) - 1
    firsts = {addr for addr, _size in sample}
    starts = [i for i, (a, _m) in enumerate(rows) if a in firsts]
    assert [rows[i][0] for i in starts] == [addr for addr, _size in sample]
    ud2: List[int] = []
    for (addr, size), i, j in zip(sample, starts, [*starts[1:], len(rows)], strict=True):
        # kdbg ends a routine at kallsyms' next symbol (less padding), which may hold code
        # past the ELF size (do_one_initcall on 5.10): compared up to the ELF size
        mine = [(a, m) for a, m in rows[i:j] if a < addr + size]
        assert mine[-1][0] > addr + size - 16, hex(addr)  # the last instruction: at most 15 bytes
        for k, (a, m) in enumerate(mine):
            if m.startswith("ud2"):
                ud2.append(a)
                assert k + 1 == len(mine) or mine[k + 1][0] == a + 2, hex(a)
    inside = [a for a, *_f in entries if any(addr <= a < addr + size for addr, size in sample)]
    assert sorted(ud2) == sorted(inside) and len(ud2) >= BUG_FUNCTIONS


def test_dis_u_b_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    bad_input(path, [("dis -u 401000", "no current context"), ("dis", "give an ADDRESS"),
                      ("dis -b schedule", "invalid int value")], "dis -b")
    r = kdbg_commands(path, "set 1", "dis -u zz")
    assert r.returncode == 1 and "not a hexadecimal user address" in r.stderr, r.stderr
    # dis -b: crash's 0 bytes after ud2 on x86-64 since 2.6.20, kept for the session once set
    r = kdbg_commands(path, "dis -b", "dis -b 2", "dis -b")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"encoded bytes being skipped after ud2a: {n}" for n in (0, 2)]
    help_and_completion(path, "dis", ["-u", "-b", "-r", "-f"])


#: The oops report's ``pc :`` line and its ``Code:`` line (arm64's ``dump_kernel_instr``:
#: the four words before the pc, then the pc's in parentheses).
_PC = re.compile(r"\] pc : (\S+)\+(0x[0-9a-f]+)/(0x[0-9a-f]+)")
_CODE = re.compile(r"\] Code: ((?:[0-9a-f]{8} ){4}\([0-9a-f]{8}\))")


@pytest.mark.parametrize("kernel", ARM64_KERNELS + PAGE_SIZE_KERNELS)
@pytest.mark.parametrize("form", FORMS)
def test_dis_on_arm64_against_the_oops_report(kernel: str, form: str) -> None:
    """``dis`` on arm64 dumps (capstone's arm64 decoder): the module function that oopsed,
    as the guest's console named it (``pc : kdbg_oops_crash+0x../0x.. [kdbg_oops]``);
    ``dis -r PC 5`` ends at the pc and its five words are the ``Code:`` words the kernel
    printed; the whole routine is its ``/0x..`` size in 4-byte steps (the padding after
    its last instruction aside: at most the size, past the pc), each line gdb's
    ``0xADDRESS <name+off>:\tmnemonic\toperands``."""
    dump = next(d for d in arm64_crash_dumps([kernel], ["oops"]) if d.form == form)
    console = (dump.truth / "console.log").read_text(errors="replace")
    # the oops's own report: a guest under a loaded host may print register blocks before
    # it (RCU stall and soft-lockup reports: trixie-16k's, during jitterentropy's init)
    oops = console.index("Internal error: Oops")
    name, off, size = _PC.search(console, oops).groups()  # type: ignore[union-attr]
    words = _CODE.search(console, oops).group(1).replace("(", "").replace(")", "").split()  # type: ignore[union-attr]
    r = kdbg_commands(dump.path, f"dis -r --json {name}+{off} 5", f"dis --json {name}", f"dis {name}")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    upto, whole = json.loads(lines[0]), json.loads(lines[1])
    assert [bytes.fromhex(row["bytes"])[::-1].hex() for row in upto] == words
    start = whole[0]["address"]
    assert upto[-1]["address"] == start + int(off, 16)
    assert [row["address"] for row in whole] == list(range(start, start + 4 * len(whole), 4))
    assert int(off, 16) < 4 * len(whole) <= int(size, 16)
    assert lines[2:] == [row["text"] for row in whole]
    assert whole[0]["text"].startswith(f"{start:#x} <{name}>:\t")
    assert all(re.match(rf"0x{row['address']:x} <{name}\+{row['address'] - start}>:\t\S", row["text"])
               for row in whole[1:])


# ------------------------------------------------------------------------------- tree -t maple

_MAPLE = """
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.mapletree import mt_for_each
out = [e.value_() for _f, _l, e in mt_for_each(find_task(prog, PID).mm.mm_mt.address_of_())]
"""


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_tree_maple_against_the_guests_maps_and_drgn(state_dump: StateDump) -> None:
    """``tree -t maple -r mm_struct.mm_mt MM``: on 6.1 and later the VMAs of each process,
    whose ``vm_start``/``vm_end`` (``-s``) are its ``/proc/PID/maps``, the entries drgn's
    ``mt_for_each`` and drgn's ``crash tree -t maple`` give (DWARF); before 6.1 one line
    saying the kernel has no maple trees."""
    for name, pid in guest_pids(state_dump.truth).items():
        r = kdbg_commands(state_dump.path, f"vm --json {pid}")
        mm = json.loads(r.stdout)[0]["mm"]
        cmd = f"tree -t maple -r mm_struct.mm_mt {mm:x}"
        r = kdbg_commands(state_dump.path, cmd, f"{cmd} -x -s vm_area_struct.vm_start,vm_end", f"{cmd} --json")
        if _release(state_dump.truth) < (6, 1):  # no mm_struct.mm_mt to walk: one line each
            assert r.returncode == 1 and r.stderr.count("has no member 'mm_mt'") == 3, r.stderr
            assert len(r.stderr.splitlines()) == 3 and "Traceback" not in r.stderr
            return
        assert r.returncode == 0 and r.stderr == "", r.stderr
        lines = r.stdout.splitlines()
        rows = json.loads(lines[-1])
        n = len(rows)
        assert lines[:n] == [f"{row['address']:x}" for row in rows]
        spans = [(int(lines[i + 1].split("= ")[1].rstrip(","), 16), int(lines[i + 2].split("= ")[1].rstrip(","), 16))
                 for i in range(n, 4 * n, 3)]
        assert spans == [(m[0], m[1]) for m in _maps(state_dump.truth, pid)], name
        assert [row["address"] for row in rows] == _drgn_exec(state_dump.suite, _MAPLE.replace("PID", str(pid)))
        theirs = drgn_crash_command(state_dump.suite, resolve_state_dump(state_dump.suite, "elf-paging").path, cmd)
        assert output_lines(theirs) == lines[:n], name


def test_tree_maple_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bookworm", "kdump-zlib").path
    bad_input(path, [("tree -t maple -p init_mm", "-N and -p are not shown"), ("tree -t tangle init_mm", "maple")],
               "tree -t maple -r mm_struct.mm_mt init_mm --json")
    help_and_completion(path, "tree", ["-t", "-r", "-p", "-N"])


# ------------------------------------------------------------------------------- runq -g


def _runq_tasks(lines: List[str]) -> List[str]:
    return sorted(m.group(0) for line in lines for m in [re.search(r"PID: \d+ +TASK: [0-9a-f]+", line)] if m
                  and "CURRENT: " not in line)


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_runq_g_against_runq(state_dump: StateDump) -> None:
    """``runq -g``: per CPU the same current task as ``runq``, the root task group
    (``root_task_group``) and its CFS queue, and the same queued tasks ``runq`` lists
    (groups' queues in place), each once; the JSON holds the text's blocks."""
    r = kdbg_commands(state_dump.path, "runq -g --json", "runq -g", "runq --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    blocks, plain = json.loads(lines[0]), json.loads(lines[-1])
    assert "\n\n".join("\n".join(b["lines"]) for b in blocks).splitlines() == lines[1:-1]
    queued = {t for row in plain for t in row["rt"] + row["cfs"]}
    shown = [int(m.split()[-1], 16) for m in _runq_tasks(lines[1:-1])]
    assert len(shown) == len(set(shown)) and queued <= set(shown), (shown, queued)
    assert set(shown) - queued <= {row["current"] for row in plain}, (shown, queued)
    for b, row in zip(blocks, plain, strict=True):
        assert b["cpu"] == row["cpu"]
        if not b["lines"][0].endswith("[OFFLINE]"):
            assert f"TASK: {row['current']:x}" in b["lines"][1]
            assert any(line.startswith("  ROOT_TASK_GROUP: ") and " CFS_RQ: " in line for line in b["lines"])


@pytest.mark.parametrize("crash_dump", [(s, "panic", "kdump-zlib") for s in SUITES], ids=dump_id, indirect=True)
def test_runq_g_on_a_panicked_dump(crash_dump: CrashDump) -> None:
    """The panicked guest (sysrq ``c`` from PID 1): on the panic CPU ``init`` is current
    and, being in the fair class, is listed ``[CURRENT]`` in the root group's queue."""
    r = kdbg_commands(crash_dump.path, "runq -g")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    blocks = [b.splitlines() for b in r.stdout.strip().split("\n\n")]
    mine = [b for b in blocks if len(b) > 1 and 'COMMAND: "init"' in b[1]]
    assert len(mine) == 1, blocks
    assert any(re.fullmatch(r' +\[\d+\] PID: 1 +TASK: [0-9a-f]+  COMMAND: "init" \[CURRENT\]', line)
               for line in mine[0]), mine


@pytest.mark.parametrize("suite", SUITES)
def test_runq_g_against_crash(suite: str) -> None:
    """crash 8.0.2's ``runq -g`` line by line where it reads the tasks (5.10)."""
    dump = resolve_state_dump(suite, "elf")
    if not crash_can_open(suite) or suite in CRASH_WRONG_TASKS:
        assert suite in CRASH_CANNOT_OPEN | CRASH_WRONG_TASKS
        return
    theirs = ask_crash(suite, dump.path, ["runq -g"]).outputs["runq -g"]
    r = kdbg_commands(dump.path, "runq -g")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert output_lines(r.stdout) == output_lines(theirs)


def test_runq_g_bad_input_help_and_completion() -> None:
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    bad_input(path, [("runq -g -t", "exclude each other"), ("runq -q", "unrecognized arguments")], "runq -g")
    help_and_completion(path, "runq", ["-g", "-t", "-m", "--json"])


# ------------------------------------------------------------------------------- kmem -f's count

_FREE_SNAPSHOT = """
from drgn.helpers.linux.mmzone import for_each_online_pgdat
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.percpu import per_cpu_ptr
from drgn.helpers.linux.list import list_count_nodes
item = prog.constant('NR_FREE_PAGES').value_()
isolate = prog.constant('MIGRATE_ISOLATE').value_()
diffs = isolated = 0
for pgdat in for_each_online_pgdat(prog):
    for zone in pgdat.node_zones:
        if not zone.present_pages.value_():
            continue
        stats = zone.per_cpu_zonestats if zone.type_.has_member('per_cpu_zonestats') else zone.pageset
        for cpu in for_each_possible_cpu(prog):
            diffs += per_cpu_ptr(stats, cpu).vm_stat_diff[item].value_()
        for order, area in enumerate(zone.free_area):
            isolated += list_count_nodes(area.free_list[isolate].address_of_()) << order
out = [prog['vm_zone_stat'][item].counter.value_(), diffs, isolated]
"""


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_kmem_f_count_is_the_kernels_exact_free_pages(state_dump: StateDump) -> None:
    """``kmem -f`` counts the buddy lists' pages; ``NR_FREE_PAGES`` (``vm_zone_stat``, what
    crash and drgn verify against, /proc's ``MemFree``) lags the per-CPU ``vm_stat_diff``
    deltas the kernel folds in only past a threshold or once a second (6.12's state dump:
    15,585 found, 15,582 counted: +3 pages freed since the last fold). The buddy count is
    the exact counter, ``zone_page_state_snapshot``'s sum: the global plus every CPU's
    delta (drgn with DWARF), less the pages of ``MIGRATE_ISOLATE`` lists, which the
    kernel never counts as free."""
    r = kdbg_commands(state_dump.path, "kmem -f --json", "kmem -f")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    data = json.loads(r.stdout.splitlines()[0])
    total, diffs, isolated = _drgn_exec(state_dump.suite, _FREE_SNAPSHOT)
    assert data["nr_free_pages"] == total
    assert data["found"] == total + diffs + isolated, (data["found"], total, diffs, isolated)
    verdict = "(verified)" if diffs + isolated == 0 else f"(found {data['found']})"
    assert r.stdout.splitlines()[-1] == f"nr_free_pages: {total}  {verdict}"
