"""Progress on stderr: never when stderr is not a terminal; on a terminal (a pty), once the
threshold has passed (forced to 0 with ``KDBG_PROGRESS_AFTER``), with the line cleared at
the end."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from typing import Dict

from tests.cli_support import ROOT, clean_env


def _env(**extra: str) -> Dict[str, str]:
    return clean_env(KDBG_NO_CACHE="1", **extra)


def test_no_progress_when_stderr_is_a_pipe(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """A cold run (no cache) with stderr a pipe writes nothing at all to stderr, even with
    the threshold forced to 0."""
    run = subprocess.run([sys.executable, "-m", "kdbg", "-c", str(sample_dump.path), "-x", "sym init_task"],
                         capture_output=True, text=True, cwd=ROOT, env=_env(KDBG_PROGRESS_AFTER="0"),
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert "init_task" in run.stdout
    assert run.stderr == ""


def test_progress_on_a_terminal_is_shown_and_cleared(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """stderr a pty, threshold 0: ``kdbg: decoding kallsyms...`` appears, and every progress
    line is cleared (``\\r\\x1b[K``) before the output ends; stdout stays clean."""
    master, slave = pty.openpty()
    try:
        run = subprocess.run([sys.executable, "-m", "kdbg", "-c", str(sample_dump.path), "-x", "sym init_task"],
                             stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, cwd=ROOT,
                             env=_env(KDBG_PROGRESS_AFTER="0"), timeout=300)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert run.returncode == 0, err
    assert b"init_task" in run.stdout and b"kdbg:" not in run.stdout
    assert "kdbg: decoding kallsyms..." in err
    assert err.endswith("\r\x1b[K"), repr(err[-80:])
    # nothing but progress lines: each one starts with a clear and is cleared at the end
    assert all(part == "" or part.startswith("kdbg: ") for part in err.split("\r\x1b[K")), repr(err)
