"""crash's commands, third batch: ``bt -f/-F/-s/-x/-t/-T``, on the panic dumps of 5.10,
6.1 and 6.12 (:mod:`vmcores.crash`: sysrq ``c`` from ``init``), ELF and kdump forms.

Held, in this order, to:

1. the guest: its console's own ``Call Trace`` of the panic (``function+0xoff/0xsize``):
   ``bt -s``'s frames, from the caller of ``panic`` down to the system-call entry, are
   the console's, with the console's offsets in decimal (``-s``) and hexadecimal
   (``-sx``);
2. drgn 0.3.0 with Debian's DWARF on the ELF dump of the same guest: drgn's frames of the
   panic task and of ``kthreadd`` (PID 2, switched out; without the inline frames DWARF
   adds, which share their caller's pc and sp) and drgn's read of their stacks.
   Each frame drgn reached by a return sits, in ``bt``, at the stack slot its return
   address was read from (drgn's ``sp - 8``, a word that holds drgn's pc); a switched-out
   task's first frame at its ``thread.sp``; ``-f``'s words are drgn's memory at those
   addresses, from the word above one frame's slot up to the next frame's slot;
   ``-t``/``-T`` list exactly the stack words that are text in the guest's
   ``/proc/kallsyms`` (the symbol holding ``word - 1``, or starting at ``word``);
3. Debian's crash 8.0.2 with the ``-dbg`` vmlinux (:mod:`vmcores.crash_oracle`), where it
   opens the dump: every ``-f``/``-F``/``-FF`` block of a frame whose slot and whose next
   frame's slot are kdbg's too is crash's, line for line; ``-s``/``-sx`` frame lines at
   the same slot are crash's; ``-T`` is crash's, line for line, and ``-t`` after its
   ``START:`` line. Where crash is wrong the test says so:

   * crash starts the panic task at ``panic`` (its search of the stack); the CPU was in
     ``delay_tsc``, which ``panic()``'s final loop calls (the dump's PRSTATUS note, drgn's
     frame #0): kdbg's ``START:`` and frame #0 are ``delay_tsc``;
   * on 6.1 crash shows stale return addresses after ``do_syscall_64`` as frames (see
     :mod:`vmcores.crash_oracle`): the blocks around them are not crash's; and its task
     table lacks ``kthreadd`` (``bt: invalid task or pid value: 2``: asserted);
   * crash 8.0.2 does not open 6.12 (:data:`CRASH_CANNOT_OPEN`): asserted; the guest and
     drgn decide.

``search`` is held to the guest's kallsyms and ``/proc/version`` (``linux_banner``), to
drgn's read of the range searched (the matches are computed by the test from drgn's
bytes) and to drgn's own physical search, then to crash line for line (crash 8.0.2 prints
the matches of a kernel-virtual range twice: asserted). Pipes and redirection are held to
the system's own ``grep`` on the command's output and to the command's output itself.
``tree`` is held to drgn's walk of the same trees (``/proc``'s entries under
``proc_root``, the PID IDR of ``init_pid_ns``), to the search-tree order of ``/proc``'s
names, to the guest's own PIDs, and to crash line for line (crash 8.0.2 refuses ``-t
radix`` on these kernels, whose radix trees are XArrays: asserted).
"""

from __future__ import annotations

import bisect
import json
import re
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

import kdbg
from kdbg.ui.completion import complete
from kdbg.ui.evaluate import script_globals
from tests.cli_support import clean_env, kdbg_commands
from tests.conftest import resolve_crash_dump
from tests.stack_truth import parse_panic
from vmcores.crash_oracle import (
    CRASH_CANNOT_OPEN,
    CRASH_WRONG_TASKS,
    CrashOracleError,
    ask_crash,
    crash_can_open,
    crash_symbol_name,
)
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM, Query, ask_drgn

pytestmark = pytest.mark.timeout(1800)

FORMS = ("elf", "kdump-zlib")
THREAD_SIZE = 16384
BT_COMMANDS = ["bt -f", "bt -F", "bt -FF", "bt -s", "bt -sx", "bt -t", "bt -T", "bt -f 2", "bt -t 2", "bt -s -f 2"]
#: drgn: a task's stack base, its stack, ``thread.sp`` and its frames (``{}``: the task).
_DRGN_TASK = ("(lambda t: [t.stack.value_(), prog.read(t.stack.value_(), 16384).hex(), t.thread.sp.value_(), "
              "[[f.pc, f.sp, f.interrupted] for f in prog.stack_trace(t) if not f.is_inline]])({})")
DRGN = {"panic": _DRGN_TASK.format("prog.crashed_thread().object"),
        "kthreadd": _DRGN_TASK.format("prog.thread(2).object")}
FRAME = re.compile(r"^ ?#(\d+) \[([0-9a-f]{16})\] (\S+) at ([0-9a-f]+)(?: \[\S+\])?$")
WORDS = re.compile(r"^    ([0-9a-f]{16}): ((?:\S+ +){1,2})$")
TEXT = re.compile(r"^  \[([0-9a-f]{16})\] (\S+) at ([0-9a-f]+)(?: \[\S+\])?$")


def split_commands(stdout: str, commands: List[str]) -> Dict[str, str]:
    """Each command's output: every one starts with one ``PID:`` header line."""
    parts = re.split(r"(?m)^(?=PID: )", stdout)[1:]
    assert len(parts) == len(commands), (len(parts), stdout[:2000])
    return dict(zip(commands, parts, strict=True))


def frames_of(text: str) -> List[Tuple[int, str, int, List[str]]]:
    """``(slot, name, pc, word lines before the next frame)`` of each frame line."""
    out: List[Tuple[int, str, int, List[str]]] = []
    for line in text.splitlines():
        m = FRAME.match(line)
        if m:
            out.append((int(m.group(2), 16), m.group(3), int(m.group(4), 16), []))
        elif out and WORDS.match(line):
            out[-1][3].append(line)
    return out


def kallsyms_text(truth: Path) -> Tuple[List[Tuple[int, str]], List[Tuple[int, int]]]:
    """The guest's text symbols of the kernel image, sorted by address, and the image's
    text ranges (``_stext``-``_etext``, ``_sinittext``-``_einittext``)."""
    syms, named = [], {}
    for line in (truth / "kallsyms").read_text().splitlines():
        parts = line.split()
        addr, kind, name = int(parts[0], 16), parts[1], parts[2]
        if len(parts) == 3:
            named[name] = addr
            if kind in "tT":
                syms.append((addr, name))
    return sorted(syms), [(named["_stext"], named["_etext"]), (named["_sinittext"], named["_einittext"])]


def words_of(stack: Tuple[int, str], start: int, end: int) -> List[int]:
    base, data = stack[0], bytes.fromhex(stack[1])
    assert base <= start <= end < base + len(data)
    return [int.from_bytes(data[a - base:a - base + 8], "little") for a in range(start, end + 8, 8)]


def word_lines(stack: Tuple[int, str], start: int, end: int) -> List[str]:
    """crash's ``-f`` lines of drgn's words from ``start`` to ``end``."""
    words = words_of(stack, start, end)
    return [f"    {start + 8 * i:x}: " + "".join(f"{w:016x} " for w in words[i:i + 2]) for i in range(0, len(words), 2)]


def check_full(text: str, stack: Tuple[int, str], frames: List[List[int]], saved_sp: int) -> None:
    """``bt -f`` of one task against drgn: the slots, the return addresses, the words."""
    shown = frames_of(text)
    kernel = [f for f in frames if f[1] >> 63]  # the user frame is the registers block
    assert len(shown) == len(kernel), (shown, frames)
    for i, ((slot, _name, pc, _w), (dpc, dsp, interrupted)) in enumerate(zip(shown, kernel, strict=True)):
        assert pc == dpc
        if interrupted:
            assert slot == dsp
        elif i == 0:
            assert slot == saved_sp  # a switched-out task: its inactive_task_frame
        else:
            assert slot == dsp - 8 and words_of(stack, slot, slot) == [dpc]
    for (slot, _n, _p, lines), nxt in zip(shown, [f[0] for f in shown[1:]] + [None], strict=True):
        if nxt is None:
            assert lines == []  # none after the last frame, as crash
            continue
        if slot + 8 <= nxt < slot + THREAD_SIZE:
            assert lines == word_lines(stack, slot + 8, nxt), (hex(slot), lines)
        else:
            assert lines == []


def check_text(lines: List[str], stack: Tuple[int, str], start: int,
               text: Tuple[List[Tuple[int, str]], List[Tuple[int, int]]]) -> None:
    """``-t``/``-T`` lines: every word of the stack from ``start`` to its top that is text
    of the kernel image in the guest's kallsyms, named by the symbol holding ``word - 1``
    (a return address) or starting at ``word`` (a function's address); the other lines
    are module text (`` [module]``)."""
    syms, ranges = text
    addrs = [a for a, _ in syms]
    expected = []
    for i, w in enumerate(words_of(stack, start, stack[0] + THREAD_SIZE - 8)):
        at = bisect.bisect_right(addrs, w) - 1
        exact = at >= 0 and addrs[at] == w
        x = w if exact else w - 1
        if any(lo <= x < hi for lo, hi in ranges):
            expected.append((start + 8 * i, syms[bisect.bisect_right(addrs, x) - 1][1], w))
    shown = [ln for ln in lines if ln.startswith("  [")]
    got = [(int(m.group(1), 16), m.group(2), int(m.group(3), 16)) for m in map(TEXT.match, shown) if m]
    assert len(got) == len(shown), shown
    in_image = [g for g, ln in zip(got, shown, strict=True) if not ln.endswith("]")]
    assert in_image == expected
    assert all(re.search(r" \[[\w-]+\]$", ln) for ln in shown if ln.endswith("]"))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("suite", SUITES)
def test_bt_frame_options(suite: str, form: str) -> None:
    dump = resolve_crash_dump(suite, "panic", form)
    report = parse_panic((dump.truth / "console.log").read_text(errors="replace"))
    r = kdbg_commands(dump.path, *BT_COMMANDS)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    ours = split_commands(r.stdout, BT_COMMANDS)
    # 1. the guest's console: -s and -sx name its frames with its offsets
    console = [f for f in report.frames if f.reliable]
    names = [f.function for f in console]
    console = console[names.index("panic") + 1:]
    assert len(console) >= 5
    for cmd, fmt in (("bt -s", "{}+{}"), ("bt -sx", "{}+{:#x}")):
        shown = [name for _s, name, _p, _w in frames_of(ours[cmd])]
        want = [fmt.format(f.function, f.offset) for f in console]
        assert any(shown[i:i + len(want)] == want for i in range(len(shown))), (cmd, shown, want)
    # 2. drgn on the ELF dump of the same guest
    elf = resolve_crash_dump(suite, "panic", ORACLE_FORM).path
    answers = ask_drgn(suite, elf, [Query(k, t) for k, t in DRGN.items()]).records
    assert all(answers[k]["kind"] != "error" for k in DRGN), answers
    p_base, p_hex, _p_sp, p_frames = answers["panic"]["value"]
    k_base, k_hex, k_sp, k_frames = answers["kthreadd"]["value"]
    panic_stack, k_stack = (p_base, p_hex), (k_base, k_hex)
    check_full(ours["bt -f"], panic_stack, p_frames, 0)
    check_full(ours["bt -f 2"], k_stack, k_frames, k_sp)
    assert [(s, p) for s, _n, p, _w in frames_of(ours["bt -s -f 2"])] == \
        [(s, p) for s, _n, p, _w in frames_of(ours["bt -f 2"])]
    for cmd in ("bt -F", "bt -FF"):  # the same frames and lines; symbolic cells where -f has symbols' words
        assert [f[:3] for f in frames_of(ours[cmd])] == [f[:3] for f in frames_of(ours["bt -f"])]
        assert [len(f[3]) for f in frames_of(ours[cmd])] == [len(f[3]) for f in frames_of(ours["bt -f"])]
    syms = kallsyms_text(dump.truth)
    t_lines = ours["bt -t"].splitlines()
    assert t_lines[1] == f"{'':14}START: {frames_of(ours['bt -f'])[0][1]} at {p_frames[0][0]:x}"  # PRSTATUS's pc
    start = frames_of(ours["bt -f"])[0][0]
    check_text(t_lines[2:], panic_stack, start, syms)
    check_text(ours["bt -T"].splitlines()[1:], panic_stack, p_base, syms)
    check_text(ours["bt -t 2"].splitlines()[2:], k_stack, k_sp, syms)
    # 3. crash, on the kdump form (the forms hold the same memory; kdbg's are compared above)
    if form != "kdump-zlib":
        return
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        with pytest.raises(CrashOracleError, match="did not open"):
            ask_crash(suite, dump.path, BT_COMMANDS)
        return
    theirs = ask_crash(suite, dump.path, BT_COMMANDS).outputs
    kthreadd = ["bt -f 2", "bt -s -f 2", "bt -t 2"]
    if suite in CRASH_WRONG_TASKS:  # crash 8.0.2's task table of 6.1 lacks kthreadd (vmcores.crash_oracle)
        assert all(theirs[c].strip() == "bt: invalid task or pid value: 2" for c in kthreadd)
        kthreadd = []
    matched = 0
    for cmd in ["bt -f", "bt -F", "bt -FF"] + kthreadd[:2]:
        mine, crash = frames_of(ours[cmd]), frames_of(theirs[cmd])
        assert ours[cmd].splitlines()[0] == theirs[cmd].splitlines()[0]
        mine_next = {mine[i][0]: mine[i + 1][0] for i in range(len(mine) - 1)}
        by_slot = {f[0]: f for f in mine}
        for i in range(len(crash) - 1):
            a, b = crash[i], crash[i + 1]
            if mine_next.get(a[0]) == b[0]:
                assert [as_crash_names(w) for w in by_slot[a[0]][3]] == a[3], (cmd, hex(a[0]))
                matched += 1
    assert matched >= 15, matched
    # kdbg names symbols as the kernel's kallsyms does (checked above); crash cuts gcc's clone
    # suffixes (``.part.N``...) off them, so kdbg's names are compared as crash would print them
    for cmd in ("bt -s", "bt -sx"):
        mine_by_slot = {f[0]: (crash_symbol_name(f[1]), f[2]) for f in frames_of(ours[cmd])}
        same = [f for f in frames_of(theirs[cmd]) if f[0] in mine_by_slot]
        assert len(same) >= 5 and all(mine_by_slot[f[0]] == f[1:3] for f in same), cmd
    assert text_lines(theirs["bt -t"], crash=False) == text_lines(ours["bt -t"], crash=True)
    assert "START: panic at" in theirs["bt -t"]  # crash's start; the CPU was in delay_tsc (drgn's #0)
    assert text_lines(theirs["bt -T"], crash=False) == text_lines(ours["bt -T"], crash=True)
    for cmd in kthreadd[2:]:
        assert text_lines(theirs[cmd], crash=False) == text_lines(ours[cmd], crash=True)


def as_crash_names(line: str) -> str:
    """*line* with each word that names a symbol as crash names it."""
    return re.sub(r"\S+", lambda m: crash_symbol_name(m.group(0)), line)


def text_lines(output: str, crash: bool) -> List[str]:
    """The ``-t``/``-T`` symbol lines of *output*; with *crash*, each symbol named as crash
    names it (:func:`vmcores.crash_oracle.crash_symbol_name`)."""
    lines = []
    for line in output.splitlines():
        m = TEXT.match(line)
        if m:
            lines.append(line[:m.start(2)] + crash_symbol_name(m.group(2)) + line[m.end(2):] if crash else line)
    return lines


def _one_line(r_stderr: str) -> Optional[str]:
    lines = r_stderr.splitlines()
    return lines[0] if len(lines) == 1 else None


def test_bt_frame_options_bad_input_and_help() -> None:
    dump = resolve_crash_dump("bullseye", "panic", "kdump-zlib")
    for cmd in ("bt -x", "bt -s -x -d", "bt -f -F", "bt -t --json", "bt -f --json", "bt -r -f", "bt -T -r"):
        r = kdbg_commands(dump.path, cmd, "bt -s")
        assert r.returncode == 1, cmd
        line = _one_line(r.stderr)
        assert line is not None and line.startswith("kdbg: bt"), (cmd, r.stderr)
        assert r.stdout.startswith("PID: ") and " at " in r.stdout, (cmd, r.stdout)  # the next command ran
    r = kdbg_commands(dump.path, "help bt")
    assert r.returncode == 0
    for opt in ("-f", "-F", "-s", "-x", "-d", "-t", "-T"):
        assert re.search(rf"(^|\s|\[){re.escape(opt)}(\s|\]|,)", r.stdout), opt


# ----------------------------------------------------------------------------- search

SEARCH_COMMANDS = [
    "search -s init_task -l 0x1800 init_task",
    "search -s linux_banner -l 0x200 -c Linux",
    "search -s init_task -l 0x800 -h 1000 -m fff",
    "search -s init_task -l 0x1000 -w 1",
    "search -s init_task -l 0x400 (init_task+0x8)",
    "search -p 65762078756e694c",
    'search -p -c "Linux version"',
]
#: drgn: init_task's first 0x1800 bytes, and its own physical search for ``Linux ve``.
SEARCH_DRGN = {
    "init_task": "[prog['init_task'].address_of_().value_(), "
                 "prog.read(prog['init_task'].address_of_().value_(), 0x1800).hex()]",
    "banner": "prog['linux_banner'].address_of_().value_()",
    "physical": "[a for a, _v in prog.search_memory_u64(0x65762078756e694c).set_address_range(physical=True)]",
    "physical_text": "list(prog.search_memory(b'Linux version').set_address_range(physical=True))",
}


def _units(data: bytes, width: int) -> List[int]:
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("suite", SUITES)
def test_search(suite: str, form: str) -> None:
    dump = resolve_crash_dump(suite, "panic", form)
    r = kdbg_commands(dump.path, *SEARCH_COMMANDS, "search --json -s init_task -l 0x1800 init_task")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    version = (dump.truth / "version").read_text().rstrip("\n")
    # 1. the guest: linux_banner is its /proc/version; init_task's address is its kallsyms'
    syms = {ln.split()[2]: int(ln.split()[0], 16) for ln in (dump.truth / "kallsyms").read_text().splitlines()
            if len(ln.split()) == 3}
    init, banner = syms["init_task"], syms["linux_banner"]
    # 2. drgn: the bytes of the ranges, and drgn's own physical search
    elf = resolve_crash_dump(suite, "panic", ORACLE_FORM).path
    d = {k: v["value"] for k, v in ask_drgn(suite, elf, [Query(k, t) for k, t in SEARCH_DRGN.items()]).records.items()}
    assert d["init_task"][0] == init and d["banner"] == banner
    data = bytes.fromhex(d["init_task"][1])
    expected: List[str] = []
    expected += [f"{init + 8 * i:x}: {w:x} (init_task)" for i, w in enumerate(_units(data, 8)) if w == init]
    expected += [f"{banner:x}: {version[:56]}"]
    expected += [f"{init + 2 * i:x}: {w:x} " for i, w in enumerate(_units(data[:0x800], 2)) if w | 0xfff == 0x1fff]
    expected += [f"{init + 4 * i:x}: 1 " for i, w in enumerate(_units(data[:0x1000], 4)) if w == 1]
    expected += [f"{init + 8 * i:x}: {w:x} (init_task+0x8)" for i, w in enumerate(_units(data[:0x400], 8))
                 if w == init + 8]
    lines = r.stdout.splitlines()
    rows = json.loads(lines.pop())
    assert [(x["address"], x["value"]) for x in rows] == \
        [(init + 8 * i, w) for i, w in enumerate(_units(data, 8)) if w == init]
    n_value = len(expected)
    assert lines[:n_value] == expected
    physical = lines[n_value:n_value + len(d["physical"])]
    assert physical == [f"{a:x}: 65762078756e694c " for a in d["physical"]] and len(physical) >= 1
    text = lines[n_value + len(d["physical"]):]
    assert [int(ln.split(":")[0], 16) for ln in text] == d["physical_text"] and len(text) >= 1
    assert all(ln.split(": ", 1)[1].startswith("Linux version") for ln in text)
    # 3. crash, on the kdump form
    if form != "kdump-zlib":
        return
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        with pytest.raises(CrashOracleError, match="did not open"):
            ask_crash(suite, dump.path, SEARCH_COMMANDS)
        return
    theirs = ask_crash(suite, dump.path, SEARCH_COMMANDS).outputs
    mine = split_search(lines, [n_value, len(d["physical"]), len(text)])
    for cmd in SEARCH_COMMANDS[:5]:  # crash 8.0.2 reports a kernel-virtual range's matches twice, in order
        assert theirs[cmd] == mine[cmd] * 2, cmd
    for cmd in SEARCH_COMMANDS[5:]:
        assert theirs[cmd] == mine[cmd], cmd


def split_search(lines: List[str], counts: List[int]) -> Dict[str, str]:
    """kdbg's lines of :data:`SEARCH_COMMANDS`, command by command (the value searches'
    lines by their unit and note, the physical ones by count)."""
    values, physical, _text = counts
    head = lines[:values]
    out = {SEARCH_COMMANDS[0]: [ln for ln in head if ln.endswith(" (init_task)")],
           SEARCH_COMMANDS[1]: [ln for ln in head if ": Linux" in ln],
           SEARCH_COMMANDS[2]: [ln for ln in head if re.fullmatch(r"\S+: 1[0-9a-f]{3} ", ln)],
           SEARCH_COMMANDS[3]: [ln for ln in head if ln.endswith(": 1 ")],
           SEARCH_COMMANDS[4]: [ln for ln in head if ln.endswith("(init_task+0x8)")],
           SEARCH_COMMANDS[5]: lines[values:values + physical],
           SEARCH_COMMANDS[6]: lines[values + physical:]}
    assert sum(map(len, out.values())) == len(lines)
    return {k: "".join(ln + "\n" for ln in v) for k, v in out.items()}


def test_search_bad_input_and_help() -> None:
    dump = resolve_crash_dump("bullseye", "panic", "kdump-zlib")
    bad = ["search", "search -s init_task", "search -s nosuch_symbol_x -l 8 1", "search -s init_task+1 -l 8 1",
           "search -e 10 -l 8 1", "search -k -p 1", "search -c -w x", "search -s init_task -l 8 -w 100000000",
           "search -s init_task -l 8 -Q 1", "search -s init_task -l 0 1"]
    for cmd in bad:
        r = kdbg_commands(dump.path, cmd, "search -s linux_banner -l 0x40 -c Linux")
        assert r.returncode == 1, cmd
        line = _one_line(r.stderr)
        assert line is not None and line.startswith("kdbg: search"), (cmd, r.stderr)
        assert re.fullmatch(r"[0-9a-f]{16}: Linux.*\n", r.stdout), (cmd, r.stdout)  # the next command ran
    r = kdbg_commands(dump.path, "help search")
    assert r.returncode == 0
    for opt in ("-s START", "-e END", "-l LENGTH", "-k", "-p", "-m MASK", "-c", "-w", "-h", "--json"):
        assert opt in r.stdout, opt


# ------------------------------------------------------------------ pipes and redirection


def test_pipes_and_redirection(tmp_path: Path) -> None:
    """crash's ``CMD | SHELL`` and ``CMD > FILE``/``>> FILE``: the command's own output
    through the system shell's command, or into the file; a Python line with ``|`` or
    ``>`` whose left side is no command stays Python; a failing shell command or a
    missing target is one line, and the next command runs."""
    dump = resolve_crash_dump("bullseye", "panic", "kdump-zlib")
    slabs, both = tmp_path / "slabs.txt", tmp_path / "both.txt"
    r = kdbg_commands(dump.path, "foreach bt", "foreach bt | grep -B3 schedule_timeout", "kmem -s",
                      f"kmem -s > {slabs}", f"sys > {both}", f"sys -t >> {both}", "sys", "sys -t",
                      "x = 6", "x | 1", "x > 3", 'search -s linux_banner -l 0x40 -c "Lin|ux>"')
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # the first command's output, from a run of its own (a dump's output is the same on
    # every run): where it ends in the joined output is then known, not guessed from lines
    alone = kdbg_commands(dump.path, "foreach bt")
    assert alone.returncode == 0 and alone.stderr == "", alone.stderr
    first = alone.stdout
    assert first.count("\nPID: ") > 10 and r.stdout.startswith(first)
    grep = subprocess.run(["grep", "-B3", "schedule_timeout"], input=first, capture_output=True,
                          text=True, env=clean_env(), timeout=60)
    assert grep.returncode == 0 and grep.stdout.count("schedule_timeout") >= 1
    rest = r.stdout[len(first):]
    assert rest.startswith(grep.stdout)
    rest = rest[len(grep.stdout):]
    kmem = rest[:len(slabs.read_text())]
    assert kmem == slabs.read_text() and kmem.startswith("CACHE ")
    rest = rest[len(kmem):]
    assert rest == both.read_text() + "7\nTrue\n"
    assert both.read_text().count("KERNEL:") == 1 and "TAINTED" in both.read_text().upper()
    r = kdbg_commands(dump.path, "bt | nosuchcmd_x", "sys >", f"sys > {tmp_path}/no/such/dir/f", "sys -t")
    assert r.returncode == 1
    errors = r.stderr.splitlines()
    assert len(errors) == 3 and all(e.startswith("kdbg: ") for e in errors), r.stderr
    assert "nosuchcmd_x" in errors[0] and "nothing after" in errors[1] and "No such file" in errors[2]
    assert r.stdout.startswith("TAINTED") or "TAINTED" in r.stdout.upper()  # the last command ran


def test_options_complete_in_the_repl() -> None:
    """The REPL completes the new options from the commands' own registration."""
    prog = kdbg.open_core(str(resolve_crash_dump("bullseye", "panic", "kdump-zlib").path))
    try:
        g = script_globals(prog)
        _, bt_opts = complete(prog, g, "bt -")
        assert {"-f", "-F", "-s", "-x", "-d", "-t", "-T"} <= set(bt_opts), bt_opts
        _, search_opts = complete(prog, g, "search -")
        assert {"-s", "-e", "-l", "-k", "-p", "-m", "-c", "-w", "-h", "--json"} <= set(search_opts), search_opts
    finally:
        prog.close()


# ------------------------------------------------------------------------------- tree

TREE_COMMANDS = [
    "tree -t rbtree -r proc_dir_entry.subdir -o proc_dir_entry.subdir_node proc_root",
    "tree -t rbtree -r proc_dir_entry.subdir -o proc_dir_entry.subdir_node -p proc_root",
    "tree -t rbtree -r proc_dir_entry.subdir -o proc_dir_entry.subdir_node -l -s proc_dir_entry.namelen proc_root",
    "tree -t xarray -r pid_namespace.idr init_pid_ns",
    "tree -t xarray -r pid_namespace.idr -p init_pid_ns",
    "tree -t radix -r pid_namespace.idr -s pid.level init_pid_ns",
]
#: drgn: /proc's entries in order (address, namelen, name), the root node and the
#: rb_node's offset, the PID IDR's entries.
TREE_DRGN = {
    "proc": "[[v.value_(), v.namelen.value_(), v.name.string_().decode()] for v in "
            "__import__('drgn.helpers.linux.rbtree', fromlist=['x']).rbtree_inorder_for_each_entry("
            "'struct proc_dir_entry', prog['proc_root'].subdir.address_of_(), 'subdir_node')]",
    "proc_root": "[prog['proc_root'].subdir.rb_node.value_(), "
                 "__import__('drgn').offsetof(prog.type('struct proc_dir_entry'), 'subdir_node')]",
    "pids": "[[i, e.value_(), cast('struct pid *', e).level.value_()] for i, e in "
            "__import__('drgn.helpers.linux.xarray', fromlist=['x']).xa_for_each("
            "prog['init_pid_ns'].idr.idr_rt.address_of_())]",
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("suite", SUITES)
def test_tree(suite: str, form: str) -> None:
    dump = resolve_crash_dump(suite, "panic", form)
    r = kdbg_commands(dump.path, *TREE_COMMANDS, "tree --json " + TREE_COMMANDS[1][5:])
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    rows = json.loads(lines.pop())
    # drgn with DWARF on the ELF dump: /proc's entries in order, the IDR's entries
    elf = resolve_crash_dump(suite, "panic", ORACLE_FORM).path
    records = ask_drgn(suite, elf, [Query(k, t) for k, t in TREE_DRGN.items()]).records
    assert all(v["kind"] != "error" for v in records.values()), records
    d = {k: v["value"] for k, v in records.items()}
    procs, (top, off), pids = d["proc"], d["proc_root"], d["pids"]
    n, npid = len(procs), len(pids)
    assert n > 10 and npid > 10
    outs = split_outputs_by(lines, [n, 2 * n, 2 * n, npid, 2 * npid, 2 * npid])
    pre, pos, linear, xa, xa_pos, xa_level = outs
    # the entries are drgn's, the root's first
    assert sorted(int(x, 16) for x in pre) == sorted(a for a, _l, _n in procs)
    assert int(pre[0], 16) == top - off
    assert [f"{int(a, 16):x}" for a in pos[0::2]] == pre
    assert [(row["address"], row["position"]) for row in rows] == \
        [(int(a, 16), p.split(": ", 1)[1]) for a, p in zip(pos[0::2], pos[1::2], strict=True)]
    # every position is the path to the node: a left turn to a lower key (proc_match's:
    # the name's length, then its bytes)
    by_pos = {p.split(": ", 1)[1]: int(a, 16) for a, p in zip(pos[0::2], pos[1::2], strict=True)}
    keys = {a: (n, name.encode()) for a, n, name in procs}
    for where, a in by_pos.items():
        if where != "root":
            parent = by_pos[where.rsplit("/", 1)[0]]
            assert (keys[a] < keys[parent]) == where.endswith("/l"), where
    assert sorted(by_pos.values()) == sorted(keys)
    assert linear[0::2] == [f"{a:x}" for a, _n, _name in procs]
    assert linear[1::2] == [f"  namelen = {n}," for _a, n, _name in procs]
    assert xa == [f"{e:x}" for _i, e, _l in pids]
    # -p: crash's position, the slot at each level from the top (64 slots a node): the
    # slots spell the index
    slots = [re.fullmatch(r"  index: (\d+)  position: root((?:/\d+)+)", ln) for ln in xa_pos[1::2]]
    assert all(slots) and [int(m.group(1)) for m in slots if m] == [i for i, _e, _l in pids]
    for m in filter(None, slots):
        value = 0
        for slot in m.group(2).split("/")[1:]:
            assert int(slot) < 64
            value = value * 64 + int(slot)
        assert value == int(m.group(1))
    assert xa_level[1::2] == [f"  level = {lv}," for _i, _e, lv in pids]
    # the guest: its processes' PIDs are the IDR's (kworkers may come and go before the dump)
    guest = {p["pid"] for p in json.loads((dump.truth / "ps.json").read_text()) if "kworker" not in p["comm"]}
    assert guest <= {i for i, _e, _l in pids}
    # crash, on the kdump form
    if form != "kdump-zlib":
        return
    if not crash_can_open(suite):
        assert suite in CRASH_CANNOT_OPEN
        with pytest.raises(CrashOracleError, match="did not open"):
            ask_crash(suite, dump.path, TREE_COMMANDS)
        return
    theirs = ask_crash(suite, dump.path, TREE_COMMANDS).outputs
    for cmd, ours in zip(TREE_COMMANDS[:5], outs[:5], strict=True):
        # gdb prints a u8 (namelen) with its character, `2 '\002'`, `7 '\a'`; kdbg as drgn, `2`
        assert "".join(ln + "\n" for ln in ours) == re.sub(r" '(?:\\[^']+|[^'\\])',\n", ",\n", theirs[cmd]), cmd
    # crash 8.0.2 knows no radix tree on 4.20+ kernels, where radix_tree_root is an xarray
    assert theirs[TREE_COMMANDS[5]] == "tree: radix trees do not exist or have changed their format\n"


def split_outputs_by(lines: List[str], counts: List[int]) -> List[List[str]]:
    assert len(lines) == sum(counts), (len(lines), counts)
    out, pos = [], 0
    for c in counts:
        out.append(lines[pos:pos + c])
        pos += c
    return out


def test_tree_bad_input_and_help() -> None:
    dump = resolve_crash_dump("bullseye", "panic", "kdump-zlib")
    bad = ["tree", "tree -t maple2 proc_root", "tree -t xarray -l init_pid_ns", "tree -o nosuch.x proc_root",
           "tree -N -r 8 proc_root", "tree -x -d proc_root", "tree -t x -N 0", "tree nosuch_symbol_x"]
    for cmd in bad:
        r = kdbg_commands(dump.path, cmd, "tree -t xarray -r pid_namespace.idr init_pid_ns")
        assert r.returncode == 1, cmd
        line = _one_line(r.stderr)
        assert line is not None and line.startswith("kdbg: tree"), (cmd, r.stderr)
        assert re.fullmatch(r"([0-9a-f]{16}\n)+", r.stdout), (cmd, r.stdout)  # the next command ran
    r = kdbg_commands(dump.path, "help tree")
    assert r.returncode == 0
    for opt in ("-t TYPE", "-r OFFSET", "-o OFFSET", "-s TYPE", "-l", "-p", "-N", "--json"):
        assert opt in r.stdout, opt
