"""Lines of a session: piped input, the user's names against commands, -x, bt's task
arguments and the pager (issue 13, 2.5, 2.6, 2.7, 2.11), and the import circles the UI
had (kdbg.ui.commands <-> kdbg.ui.plugins, kdbg.ui.completion <-> kdbg.ui.repl).

Everything runs ``python -m kdbg`` on the committed sample dump in the tests' controlled
environment (:func:`tests.cli_support.clean_env`: no caller's HOME, XDG, locale, colour or
pager settings). Ground truth: the guest's own
process list and kallsyms (``vmcores/sample/truth``), and for terminal behaviour what
tmux shows.
"""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import pytest

from tests.cli_support import ROOT, Terminal, clean_env
from tests.kallsyms_truth import truth_vmlinux


def session_env(tmp: Path) -> Dict[str, Optional[str]]:
    """Changes of the tests' controlled environment: this test's own (empty) plugin and
    history directories, no colour."""
    return {"XDG_CONFIG_HOME": str(tmp / "config"), "XDG_STATE_HOME": str(tmp / "state"), "NO_COLOR": "1"}


def kdbg(sample: Path, tmp: Path, args: Sequence[str] = (), stdin: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kdbg", "-q", "-c", str(sample), *args], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True, text=True,
                          cwd=ROOT, env=clean_env(**session_env(tmp)), timeout=300)


def truth_ps(truth: Path) -> Dict[int, Dict[str, object]]:
    return {t["pid"]: t for t in json.loads((truth / "ps.json").read_text())}


def truth_address(truth: Path, name: str) -> int:
    return next(addr for addr, _t, sym in truth_vmlinux(truth) if sym == name)


def comm(truth: Path, pid: int) -> str:
    name = truth_ps(truth)[pid]["comm"]
    assert isinstance(name, str)
    return name


# ------------------------------------------------------------------------ piped input

@pytest.mark.parametrize("ending", ["blank line", "end of input", "new statement", "nested"])
def test_piped_blocks_run_as_typed(ending: str, sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A block read from a pipe runs as it would when typed: no IndentationError. Its end
    is a blank line, the end of input, or a statement back at the left margin."""
    init = comm(sample_dump.truth, 1)
    block = "for t in for_each_task(prog):\n    if t.pid == 1: print(t.comm.string_().decode())\n"
    want = f"{init}\n"
    if ending == "blank line":
        text = block + "\n"
    elif ending == "end of input":
        text = block
    elif ending == "new statement":
        text = block + "print('after')\n"
        want += "after\n"
    else:
        text = ("def comms(pids):\n    out = []\n    for t in for_each_task(prog):\n"
                "        if t.pid.value_() in pids:\n            out.append(t.comm.string_().decode())\n"
                "    return out\n\nprint(comms({1, 2}))\n")
        want = f"{[init, comm(sample_dump.truth, 2)]}\n"
    p = kdbg(sample_dump.path, tmp_path, stdin=text)
    assert (p.stdout, p.stderr, p.returncode) == (want, "", 0)


@pytest.mark.parametrize("failing", ["statement", "command", "block"])
def test_piped_exit_status_reports_any_failure(failing: str, sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One failing line of several: its one error line, the lines after it still run,
    and the exit status is 1."""
    bad = {"statement": "1/0", "command": "bt 99999", "block": "for i in range(2):\n    i / 0\n"}[failing]
    p = kdbg(sample_dump.path, tmp_path, stdin=f"print('before')\n{bad}\nprint('after')\n")
    assert p.stdout == "before\nafter\n"
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith("kdbg: "), p.stderr
    assert p.returncode == 1
    ok = kdbg(sample_dump.path, tmp_path, stdin="print('before')\nprint('after')\n")
    assert (ok.stdout, ok.stderr, ok.returncode) == ("before\nafter\n", "", 0)


# ---------------------------------------------------------------- names against commands

NAMES = ["p = find_task(prog, 1)", "p", "p.pid", "files = 3", "files + 1", "ps = 2", "ps * 2"]


@pytest.mark.parametrize("how", ["piped", "-x"])
def test_a_name_the_session_binds_wins_over_a_command(how: str, sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``p``, ``files`` and ``ps`` are commands until the session binds them; then the
    user's value (as IPython's automagic yields to a variable). Piped input and -x
    decide alike (before binding, ``ps 1`` is the command)."""
    lines = ["ps 1", *NAMES]
    if how == "piped":
        p = kdbg(sample_dump.path, tmp_path, stdin="".join(f"{line}\n" for line in lines))
    else:
        p = kdbg(sample_dump.path, tmp_path, [a for line in lines for a in ("-x", line)])
    assert (p.stderr, p.returncode) == ("", 0)
    out = p.stdout.splitlines()
    assert out[0].split()[0] == "PID" and out[1].split()[0] == "1" and out[1].split()[-1] == comm(sample_dump.truth, 1)
    assert out[2].startswith("*(struct task_struct *)0x") and out[2].endswith(" = {")
    assert out[-3:] == ["(pid_t)1", "4", "4"]


def test_the_decision_is_one_function() -> None:
    """kdbg.ui.dispatch.is_command_line decides for the REPL, piped input, -x and
    completion (the REPL's name for it is the same function)."""
    from kdbg.ui import completion, dispatch, repl, session

    f = dispatch.is_command_line
    assert repl.is_command_line is f and session.is_command_line is f and completion.is_command_line is f
    g = {"prog": object(), "p": 1}
    assert f("p", {}) and not f("p", g) and not f("p + 1", g)
    assert f("ps 1", g) and f("ps", g) and f("bt -a", g) and f("p x.pid", {"prog": g["prog"]})
    assert not f("ps = 3", g) and not f("p += 1", g) and not f("help(prog)", g) and f("help", g)
    assert f("ps * 2", g)  # ps is not bound: the command (argparse says what is wrong)


# --------------------------------------------------------------------------------- bt

def test_bt_refuses_an_address_that_is_no_task(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """init_task + 8 is inside a task, not a task: one line saying so (before, bt showed
    a task with PID 1080137216); init_task itself is CPU 0's idle task."""
    init_task = truth_address(sample_dump.truth, "init_task")
    p = kdbg(sample_dump.path, tmp_path, ["-x", f"bt {init_task + 8:#x}"])
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr == (f"kdbg: bt: {init_task + 8:#x} is not a task: "
                        "the kernel's PID table and CPUs have no task there\n")
    p = kdbg(sample_dump.path, tmp_path, ["-x", f"bt {init_task:x}"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f'PID: 0        TASK: {init_task:x}  CPU: 0    COMMAND: "swapper/0"\n')


def test_bt_of_a_zombie_is_one_line_and_later_commands_run(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The guest's zombie (state Z in its /proc): bt says why once, the -x commands after
    it still run, and the exit status reports the failure."""
    (zombie,) = [pid for pid, t in truth_ps(sample_dump.truth).items() if t["state"] == "Z"]
    p = kdbg(sample_dump.path, tmp_path, ["-x", f"bt {zombie}", "-x", "sym init_task"])
    assert p.returncode == 1
    assert len(p.stderr.splitlines()) == 1 and f"task {zombie} " in p.stderr and "no stack" in p.stderr, p.stderr
    assert p.stdout.count("\n") == 1 and p.stdout.split()[2] == "init_task"
    assert int(p.stdout.split()[0], 16) == truth_address(sample_dump.truth, "init_task")


def test_one_task_parser() -> None:
    """bt and the unwinder resolve their task arguments with kdbg.helpers.pid.resolve_task
    and have no parser of their own."""
    for rel in ("kdbg/ui/commands/stack.py", "kdbg/unwind/trace.py"):
        src = (ROOT / rel).read_text()
        assert "resolve_task(" in src, rel
        assert "find_task(" not in src and "parse_address(" not in src, rel


# ------------------------------------------------------------------------------ pager

ROWS = 20


@pytest.fixture()
def terminals() -> Iterator[List[Terminal]]:
    made: List[Terminal] = []
    yield made
    for t in made:
        t.close()


def _session(sample: Path, tmp: Path, terminals: List[Terminal], **env: str) -> Terminal:
    """The REPL on ``sample`` in a terminal of the controlled environment (no PAGER or
    LESS) with ``env``'s changes."""
    cmd = f"{shlex.quote(sys.executable)} -m kdbg -c {shlex.quote(str(sample))}; echo KDBG-EXITED=$?; sleep 600"
    t = Terminal(cmd, ROOT, env={**session_env(tmp), **env})
    terminals.append(t)
    t._run("resize-window", "-t", "t", "-x", "100", "-y", str(ROWS))
    t.wait(_at_prompt, "the first prompt")
    return t


def _content(lines: List[str]) -> List[str]:
    return [line for line in lines if line.strip()]


def _at_prompt(lines: List[str]) -> bool:
    content = _content(lines)
    return bool(content) and content[-1] == ">>>"


def _prompts(lines: List[str]) -> int:
    return sum(1 for line in lines if line.startswith(">>>"))


def _ptype_paged(t: Terminal, prompts: int) -> List[str]:
    t.send("ptype struct task_struct", "Enter")
    t.wait(lambda lines: "struct task_struct {" in lines and _content(lines)[-1] == ":", "the pager")
    t.send("q")
    return t.wait(lambda lines: _at_prompt(lines) and _prompts(lines) == prompts, "the prompt after the pager")


def test_the_listing_stays_after_the_pager(sample_dump, tmp_path: Path, terminals) -> None:  # type: ignore[no-untyped-def]
    """No $PAGER or $LESS: less -FRX. After q the listing is still there (no alternate
    screen), as git and crash leave it."""
    t = _session(sample_dump.path, tmp_path, terminals)
    lines = _ptype_paged(t, 2)
    assert "struct task_struct {" in lines
    assert any(line.startswith("\tstruct thread_info thread_info;") or "thread_info thread_info;" in line
               for line in lines)


def test_the_users_less_settings_win(sample_dump, tmp_path: Path, terminals) -> None:  # type: ignore[no-untyped-def]
    """LESS=-R of the user's own: less switches to the alternate screen, and after q the
    listing is gone, as that user asked."""
    t = _session(sample_dump.path, tmp_path, terminals, LESS="-R")
    lines = _ptype_paged(t, 2)
    assert "struct task_struct {" not in lines


def test_set_scroll_off_stops_paging(sample_dump, tmp_path: Path, terminals) -> None:  # type: ignore[no-untyped-def]
    """crash's set scroll: off writes long output straight out, on pages again."""
    t = _session(sample_dump.path, tmp_path, terminals)
    t.send("set scroll off", "Enter")
    t.wait(lambda lines: "scroll: off" in lines and _prompts(lines) == 2, "set scroll off")
    t.send("ptype struct task_struct", "Enter")
    lines = t.wait(lambda lines: _at_prompt(lines) and _prompts(lines) == 3, "the listing without a pager")
    assert "struct task_struct {" in lines and ":" not in _content(lines)
    assert any(line.startswith("/* size: ") or "/* size: " in line for line in lines)
    t.send("set scroll on", "Enter")
    t.wait(lambda lines: "scroll: on" in lines and _prompts(lines) == 4, "set scroll on")
    _ptype_paged(t, 5)


# --------------------------------------------------------------------- import circles

def _ui_imports() -> Dict[str, set]:
    """Every kdbg.ui module and the kdbg.ui modules it imports anywhere in its file (in
    functions too: an import there still makes a circle)."""
    base = ROOT / "kdbg" / "ui"
    mods: Dict[str, Path] = {}
    for f in base.rglob("*.py"):
        rel = f.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = f
    graph: Dict[str, set] = {}
    for name, f in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {t for t in targets if t in mods and t != name}
        graph[name] = deps
    return graph


def test_no_import_circle_in_the_ui() -> None:
    graph = _ui_imports()
    assert "kdbg.ui.commands" in graph and "kdbg.ui.repl" in graph
    circles = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == start:
                circles.append(start)
                break
            if m not in seen:
                seen.add(m)
                todo.extend(graph[m])
    assert circles == []
