"""The REPL in a real terminal (tmux, as tests/test_cli_behaviour.py drives it for Ctrl-C), on
the committed sample dump (6.1) and a reference dump of another kernel (trixie, 6.12).

Every pane runs in the tests' controlled environment (:class:`tests.cli_support.Terminal`:
``TERM`` ``xterm-256color``, ``C.UTF-8``, no ``NO_COLOR`` unless a test sets it, an empty
``HOME``), whatever the caller's terminal and locale. One session per dump walks what a
user does: complete ``prog["init_task"].co<Tab>`` to
``comm`` and print it (the guest's init_task is ``swapper/0``), complete
``ptype struct task_st<Tab>`` and page its output in a small window (the pager shows, ``q``
returns to the prompt), write a multi-line block that loops for ever and Ctrl-C it, get a
one-line error and its traceback on demand, Ctrl-D out. The history file then exists under
the temporary ``XDG_STATE_HOME`` with mode 0600 and holds the lines run.
"""

from __future__ import annotations

import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pytest

from tests.cli_support import ROOT, Terminal, clean_env
from tests.conftest import resolve_dump

ROWS = 30


@pytest.fixture()
def terminals() -> Iterator[List[Terminal]]:
    made: List[Terminal] = []
    yield made
    for t in made:
        t.close()


def _last(lines: List[str]) -> str:
    content = [line for line in lines if line.strip()]
    return content[-1] if content else ""


def _at_prompt(lines: List[str]) -> bool:
    return _last(lines) == ">>>"


def _prompt_count(lines: List[str]) -> int:
    return sum(1 for line in lines if line.startswith(">>>"))


@pytest.mark.parametrize("which", ["sample", "trixie-elf"])
def test_repl_session_in_a_terminal(which: str, sample_dump, terminals, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = sample_dump.path if which == "sample" else resolve_dump("trixie", "elf", "qemu").path
    state = tmp_path / "state"
    cmd = f"{shlex.quote(sys.executable)} -m kdbg -c {shlex.quote(str(path))}; echo KDBG-EXITED=$?; sleep 600"
    t = Terminal(cmd, ROOT, env={"XDG_STATE_HOME": str(state), "PAGER": "less -R"})
    terminals.append(t)
    t._run("resize-window", "-t", "t", "-x", "120", "-y", str(ROWS))
    t.wait(_at_prompt, "the first prompt")

    # Tab completes a member of init_task (from BTF), Enter takes it, Enter runs the line
    t.send('prog["init_task"].co', "Tab")
    t.wait(lambda lines: '>>> prog["init_task"].comm' in lines, "comm completed")
    t.send("Enter")
    t.send("Enter")
    lines = t.wait(lambda lines: '(char [16])"swapper/0"' in lines and _prompt_count(lines) == 2,
                   "init_task's comm")
    assert _at_prompt(lines)

    # a struct name completed inside ptype; the long answer goes through the pager
    t.send("ptype struct task_st", "Tab")
    t.wait(lambda lines: ">>> ptype struct task_struct" in lines, "struct task_struct completed")
    t.send("Enter")
    t.send("Enter")
    t.wait(lambda lines: "struct task_struct {" in lines and _last(lines) == ":", "the pager")
    t.send("q")
    t.wait(lambda lines: _at_prompt(lines) and _prompt_count(lines) == 3, "the prompt after the pager")

    # a multi-line block, indented automatically, run by Enter on its blank last line
    t.send("for i in range(10 ** 12):", "Enter")
    t.wait(lambda lines: _last(lines) == "...", "the block's indented second line")
    t.send('if i == 0: print("loop started")', "Enter")
    t.send('c = prog["init_task"].comm.string_()', "Enter")
    t.wait(lambda lines: '...     c = prog["init_task"].comm.string_()' in lines, "the block's body")
    t.send("Enter")
    t.wait(lambda lines: "loop started" in lines, "the loop running")
    t.send("C-c")
    lines = t.wait(lambda lines: any(line.endswith("kdbg: interrupted") for line in lines) and _at_prompt(lines),
                   "Ctrl-C ending the loop")
    assert _prompt_count(lines) == 4

    # an error is one line; the traceback command shows it whole
    t.send("prog['init_task'].no_such_member + 1", "Enter")
    t.wait(lambda lines: "kdbg: 'struct task_struct' has no member 'no_such_member'" in lines
           and _prompt_count(lines) == 5, "the one-line error")
    t.send("traceback", "Enter")
    lines = t.wait(lambda lines: any(line.startswith("kdbg.errors.") or "MemberNotFoundError" in line
                                     for line in lines) and _prompt_count(lines) == 6, "the traceback")
    assert "Traceback (most recent call last):" in lines

    t.send("C-d")
    lines = t.wait(lambda lines: any(line.startswith("KDBG-EXITED=") for line in lines), "the REPL to end")
    assert "KDBG-EXITED=0" in lines, lines

    history = state / "kdbg" / "history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    text = history.read_text()
    assert '+prog["init_task"].comm\n' in text
    assert "+for i in range(10 ** 12):\n" in text and "+ptype struct task_struct\n" in text


def test_piped_repl_is_plain_with_one_line_errors(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Not a terminal: no colour, no pager; an error is one stderr line and ``traceback``
    (listed by ``help``) prints it whole, from the user's line down."""
    lines = 'help\nprog["init_task"].comm\nptype struct task_struct\n1/0\ntraceback\nt = prog["init_task"]\np t.pid\n'
    p = subprocess.run(
        [sys.executable, "-m", "kdbg", "-q", "-c", str(sample_dump.path)], input=lines,
        capture_output=True, text=True, cwd=ROOT, env=clean_env(XDG_STATE_HOME=str(tmp_path)),
    )
    assert p.returncode == 1, p.stderr  # 1/0 failed (issue 13, 2.5)
    assert "\x1b" not in p.stdout
    assert re.search(r"^traceback +show the full traceback", p.stdout, re.M)
    assert '(char [16])"swapper/0"\n' in p.stdout
    assert "struct task_struct {\n" in p.stdout
    assert p.stdout.endswith("(pid_t)0\n"), p.stdout[-200:]  # the p command sees the REPL's t
    assert p.stderr == "kdbg: ZeroDivisionError: division by zero ('traceback' shows where)\n"
    tb = p.stdout[p.stdout.index("Traceback (most recent call last):"):p.stdout.rindex("(pid_t)0\n")]
    assert tb == ('Traceback (most recent call last):\n  File "<kdbg>", line 1, in <module>\n'
                  "ZeroDivisionError: division by zero\n")


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_unless_no_color_and_ctrl_r_searches_history(no_color: bool, sample_dump, terminals,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    """Input highlighted as Python and ptype's answer as C in a terminal, no colour at all
    under NO_COLOR; Ctrl-R finds an earlier line in the history."""
    cmd = f"{shlex.quote(sys.executable)} -m kdbg -c {shlex.quote(str(sample_dump.path))}; sleep 600"
    t = Terminal(cmd, ROOT, env={"NO_COLOR": "1" if no_color else None, "XDG_STATE_HOME": str(tmp_path)})
    terminals.append(t)
    t.wait(_at_prompt, "the first prompt")
    t.send("ptype struct list_head", "Enter")
    t.wait(lambda lines: "};" in lines and _prompt_count(lines) == 2, "ptype's answer")
    t.send('prog["init_task"].comm')
    t.wait(lambda lines: _last(lines) == '>>> prog["init_task"].comm', "the typed line")
    coloured = t._run("capture-pane", "-e", "-p", "-t", "t")
    colours = re.findall(r"\x1b\[(?:3[0-9]|9[0-7]|38;)", coloured)
    if no_color:
        assert colours == [], coloured
    else:
        def line_of(text: str) -> str:
            return next(line for line in coloured.splitlines() if text in re.sub(r"\x1b\[[0-9;]*m", "", line))

        assert re.search(r"\x1b\[(?:3[0-9]|9[0-7])", line_of("list_head *next;")), "ptype's answer is highlighted"
        assert re.search(r"\x1b\[(?:3[0-9]|9[0-7]|38;)", line_of('prog["init_task"]')), "the input is highlighted"
    t.send("C-u", "C-r", "list_h")
    def found(lines: List[str]) -> bool:
        tail = [line for line in lines if line.strip()][-2:]
        return (len(tail) == 2 and tail[0] == ">>> ptype struct list_head"
                and "search" in tail[1] and "list_h" in tail[1])

    t.wait(found, "Ctrl-R's match")


def test_command_lines_and_block_continuation() -> None:
    """Which lines run a command, and when Enter continues a block (no terminal needed)."""
    from kdbg.ui.repl import is_command_line, needs_more

    assert is_command_line("ptype struct task_struct") and is_command_line("ps")
    assert not is_command_line('p = prog["init_task"]') and not is_command_line("ps += 1")
    assert is_command_line("p x == 1")
    assert needs_more("for t in for_each_task(prog):")
    assert needs_more("for t in for_each_task(prog):\n    print(t)")
    assert not needs_more("for t in for_each_task(prog):\n    print(t)\n    ")
    assert not needs_more('prog["init_task"].comm')
    assert needs_more("x = (1 +")
    assert not needs_more("def f(:") and not needs_more("ptype struct task_struct")
