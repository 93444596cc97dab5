"""A kdbg error raised inside any registered command comes out as one line that names the
command (``kdbg: CMD: what``): the command dispatcher
(:func:`kdbg.ui.commands.run_command`) says it once for every command, built-in or plugin,
so no command wraps its own errors."""

from __future__ import annotations

import io
from typing import Any

import pytest

from kdbg.errors import CoreError, ExpressionError, FaultError, KdbgError
from kdbg.ui.commands import BUILTINS, CommandContext, commands
from kdbg.ui.session import run_line
from tests.cli_support import kdbg_commands
from tests.conftest import SampleDump

pytestmark = pytest.mark.timeout(300)

#: Every registered command, plugins' included (the table loads them all).
REGISTERED = sorted(commands())


def test_every_builtin_is_parametrized() -> None:
    """The parametrized list below is the whole table, so no command escapes the check."""
    assert set(BUILTINS) <= set(REGISTERED)
    assert {"ps", "files", "mount"} <= set(REGISTERED)  # shipped plugins


def _raise_inside(monkeypatch: pytest.MonkeyPatch, name: str, error: KdbgError) -> None:
    """Make command ``name`` raise ``error`` when it runs; a command with arguments keeps
    an (empty) argparse parser, so the line goes through the same path as before."""
    cmd = commands()[name]

    def boom(prog: Any, args: Any, ctx: CommandContext) -> None:
        raise error

    monkeypatch.setattr(cmd, "func", boom)
    monkeypatch.setattr(cmd, "arguments", None if cmd.arguments is None else [])


@pytest.mark.parametrize("name", REGISTERED)
def test_kdbg_error_inside_a_command_is_one_line_naming_it(name: str, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _raise_inside(monkeypatch, name, FaultError("could not read memory", 0xdead000))
    err = run_line(None, name, CommandContext(out=io.StringIO()), {}, styled=False)
    assert isinstance(err, ExpressionError)
    assert isinstance(err.__cause__, FaultError)  # `traceback` still shows where it came from
    assert capsys.readouterr().err == f"kdbg: {name}: could not read memory: 0xdead000\n"


@pytest.mark.parametrize("name", ["bt", "files", "mod"])
def test_a_message_that_names_its_command_is_not_named_twice(name: str, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _raise_inside(monkeypatch, name, KdbgError(f"{name}: no such thing"))
    run_line(None, name, CommandContext(out=io.StringIO()), {}, styled=False)
    assert capsys.readouterr().err == f"kdbg: {name}: no such thing\n"


def test_a_command_s_own_expression_error_is_printed_as_written(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _raise_inside(monkeypatch, "vm", ExpressionError("vm -P: 1234 is no VMA of the task"))
    run_line(None, "vm", CommandContext(out=io.StringIO()), {}, styled=False)
    assert capsys.readouterr().err == "kdbg: vm -P: 1234 is no VMA of the task\n"


def test_an_unusable_target_is_not_a_failed_command(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A target error (no memory, a broken dump) passes as it is, so that ``-x`` exits 2
    for it (:func:`kdbg.core.program.is_target_error`), not 1 as a command's failure."""
    _raise_inside(monkeypatch, "swap", CoreError("the dump is cut short"))
    err = run_line(None, "swap", CommandContext(out=io.StringIO()), {}, styled=False)
    assert isinstance(err, CoreError)
    assert capsys.readouterr().err == "kdbg: the dump is cut short\n"


def test_real_errors_name_their_command(sample_dump: SampleDump) -> None:
    """On the sample dump, from the command line: errors the helpers raise (no task of
    that PID) come out as one line each naming the command, the commands after them
    still run, and the exit status is 1."""
    r = kdbg_commands(sample_dump.path, "bt 999999", "task 999999", "sig 999999", "vm 999999", "sys")
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"kdbg: {cmd}: no task with PID 999999" for cmd in ("bt", "task", "sig", "vm")]
    assert "RELEASE" in r.stdout
