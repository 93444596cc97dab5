"""Subprocesses of the tests: one controlled environment for all of them, ``python -m
kdbg`` in this checkout, the non-root side of a root/non-root check, and a terminal.

Every subprocess a test starts (kdbg, gcc, bpftool, pahole, tmux, pip, ...) gets
:func:`clean_env`, or a change of it, instead of the caller's environment: the suite
runs the same whatever the caller set (``PYTHONDONTWRITEBYTECODE`` and every other
``PYTHON*`` variable, ``NO_COLOR``, ``TERM``, the locale, ``HOME`` and the XDG
directories, ``PAGER``/``LESS``, ``COLUMNS``, ``KDBG_*``, ``SUDO_*``, ``TMUX`` ...).
``tests/test_suite_rules.py`` checks that every subprocess call in ``tests/`` passes
``env=``.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import site
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from vmcores.debian import cache_root

ROOT = Path(__file__).resolve().parent.parent

#: The caller's variables a subprocess keeps: where this machine's tools are, and where
#: temporary files go. Nothing else of the caller's environment reaches a subprocess.
KEPT = ("PATH", "TMPDIR")

#: The locale every subprocess runs in (glibc >= 2.35 has it built in).
LOCALE = "C.UTF-8"

#: The terminal type of the tmux panes of :class:`Terminal`.
TERMINAL_TYPE = "xterm-256color"

IS_ROOT = os.geteuid() == 0

#: The subprocesses' homes of this test process, by name, and under :data:`_TOP` the
#: directory they are made in (:func:`use_private_dirs`).
_dirs: Dict[str, Path] = {}
_TOP = ""


def use_private_dirs(top: Path) -> None:
    """Make this process's private directories (:func:`clean_env`'s ``HOME``) under *top*:
    a directory of the session's ``tmp_path_factory`` (``tests/conftest.py``), so pytest
    removes them with its old base temporary directories, also those of an xdist worker
    killed by a timeout (which never runs an ``atexit``)."""
    _dirs.clear()
    _dirs[_TOP] = top


def _private_dir(name: str, owner: Optional[pwd.struct_passwd] = None) -> Path:
    """A directory of this test process, made on first use under the session's directory
    (:func:`use_private_dirs`): the subprocesses' ``HOME`` (``owner``: given to that
    user; pytest's 0700 parents are searched with ``CAP_DAC_READ_SEARCH``, see
    :func:`as_nobody`)."""
    if name not in _dirs:
        top = _dirs.get(_TOP)
        assert top is not None, ("a subprocess environment was asked for before the test session started "
                                 "(at import?): make it in a test or fixture; collecting the tests must not "
                                 "create directories")
        os.chmod(top, 0o755)
        d = top / name
        d.mkdir()
        if owner is not None:
            os.chown(d, owner.pw_uid, owner.pw_gid)
        _dirs[name] = d
    return _dirs[name]


def clean_env(**changes: Optional[str]) -> Dict[str, str]:
    """The environment of a subprocess: ``PATH`` and ``TMPDIR`` of the caller (:data:`KEPT`),
    an empty ``HOME`` of this test process (so no user configuration, plugin, history or
    user site-packages directory takes part; ``PYTHONUSERBASE`` still points where the
    caller's Python finds its user-installed packages), locale :data:`LOCALE`,
    ``TERM=dumb``, ``TZ=UTC``, and ``KDBG_CACHE`` at the cache the reference dumps are
    built in (kdbg's entries there are keyed by content and checked, so they change how
    fast a start is, never what it prints). ``changes`` set variables, ``None`` removes one."""
    env = {k: os.environ[k] for k in KEPT if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        HOME=str(_private_dir("home")),
        LANG=LOCALE,
        LC_ALL=LOCALE,
        TERM="dumb",
        TZ="UTC",
        PYTHONUSERBASE=site.getuserbase(),
        KDBG_CACHE=str(cache_root()),
    )
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


#: What a package tool (pip) needs of the caller to reach packages: its configuration under
#: ``HOME``/``XDG_CONFIG_HOME``, ``PIP_*``, proxies. kdbg reads none of these.
_PACKAGE_ACCESS = ("HOME", "XDG_CONFIG_HOME", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY",
                   "HTTPS_PROXY", "NO_PROXY")


def package_tool_env(**changes: Optional[str]) -> Dict[str, str]:
    """:func:`clean_env` plus what a package tool (``pip``) needs of the caller's
    environment to reach packages the way this machine is set up to (its pip
    configuration files, ``PIP_*`` variables and proxies); for installing, never for
    running kdbg."""
    kept = {k: v for k, v in os.environ.items() if k in _PACKAGE_ACCESS or k.startswith("PIP_")}
    return clean_env(**{**kept, **changes})


def run_kdbg(*args: str, cwd: Optional[Path] = ROOT, timeout: float = 600, env: Optional[Dict[str, str]] = None,
             input: Optional[str] = None) -> subprocess.CompletedProcess:
    """``python -m kdbg ARGS...`` in this checkout with :func:`clean_env` (or ``env``),
    stdin empty (or ``input``); stdout and stderr captured as text. The exit status is
    the caller's to check."""
    return subprocess.run([sys.executable, "-m", "kdbg", *args], capture_output=True, text=True,
                          stdin=None if input is not None else subprocess.DEVNULL, input=input, cwd=cwd,
                          timeout=timeout, env=env if env is not None else clean_env())


def kdbg_commands(path: Path, *commands: str) -> subprocess.CompletedProcess:
    """``python -m kdbg -q -c PATH -x C1 -x C2 ...`` (:func:`run_kdbg`)."""
    args: List[str] = ["-q", "-c", str(path)]
    for c in commands:
        args += ["-x", c]
    return run_kdbg(*args)


# --------------------------------------------------------------------------- root and not


def nobody() -> pwd.struct_passwd:
    """The unprivileged user the non-root side of a root/non-root check runs as."""
    return pwd.getpwnam("nobody")


def nobody_env(**changes: Optional[str]) -> Dict[str, str]:
    """:func:`clean_env` for a process run by :func:`as_nobody`: its own ``HOME`` owned by
    ``nobody``, and kdbg's cache in it (``nobody`` may not write the caller's)."""
    home = _private_dir("nobody-home", nobody())
    return clean_env(HOME=str(home), KDBG_CACHE=str(home / ".cache" / "kdbg"), **changes)


def as_nobody(argv: Sequence[str]) -> List[str]:
    """``argv`` run as ``nobody`` (the non-root side of a check, from a root run), with
    ``setpriv``: real and effective user and group ``nobody``'s, no supplementary groups.
    The process keeps one capability, ``CAP_DAC_READ_SEARCH`` (read and search any
    file), so that an interpreter installed under a 0700 home (pyenv under ``/root``)
    and pytest's 0700 temporary directories stay readable; every check of the user
    (``geteuid``, file ownership) sees ``nobody``. Only root can do this."""
    assert IS_ROOT, "only root can run a process as nobody"
    user = nobody()
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is required"
    return [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *argv]


# --------------------------------------------------------------------------- a terminal


class Terminal:
    """A tmux session on a private server running one shell command (bash) in a pane of
    a known environment: :func:`clean_env` with ``TERM`` :data:`TERMINAL_TYPE` and
    ``env``'s changes (the command runs under ``env -i``, so neither the caller's
    environment nor tmux's own reaches it). The server ignores the user's tmux
    configuration (``-f /dev/null``); a pane whose command ended stays on screen."""

    def __init__(self, command: str, cwd: Path, env: Optional[Dict[str, Optional[str]]] = None) -> None:
        self.tmux = shutil.which("tmux")
        assert self.tmux, "tmux is required (apt-get install -y tmux)"
        self.socket = f"kdbg-test-{os.getpid()}-{time.monotonic_ns()}"
        # bash: a Ctrl-C that the command catches leaves bash running the rest of the
        # line ("wait and see"); dash would die of it
        bash = shutil.which("bash")
        assert bash, "bash is required"
        pane_env = clean_env(TERM=TERMINAL_TYPE, **(env or {}))
        pane = " ".join(["env", "-i", *(shlex.quote(f"{k}={v}") for k, v in sorted(pane_env.items())),
                         bash, "-c", shlex.quote(command)])
        # a pane whose command ended stays, with what it printed (remain-on-exit)
        self._run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "200", "-y", "60", "-c", str(cwd), pane,
                  ";", "set-option", "-t", "t", "remain-on-exit", "on")

    def _run(self, *args: str) -> str:
        assert self.tmux
        p = subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True, check=True,
                           env=clean_env(TERM=TERMINAL_TYPE))
        return p.stdout

    def send(self, *keys: str) -> None:
        """Type ``keys`` (tmux key names such as ``Enter``, ``C-c``, or text)."""
        self._run("send-keys", "-t", "t", *keys)

    def screen(self) -> List[str]:
        """The pane's lines, scrollback included, without trailing blanks."""
        return [line.rstrip() for line in self._run("capture-pane", "-p", "-J", "-S", "-", "-t", "t").splitlines()]

    def wait(self, pred: Callable[[List[str]], bool], what: str, limit: float = 120.0) -> List[str]:
        """Poll the screen until ``pred(lines)``; a hang guard, not a speed check."""
        end = time.monotonic() + limit
        while True:
            lines = self.screen()
            if pred(lines):
                return lines
            if time.monotonic() > end:
                raise AssertionError(f"never saw {what}; screen:\n" + "\n".join(lines))
            time.sleep(0.2)

    def close(self) -> None:
        """Stop the private tmux server."""
        subprocess.run([self.tmux or "tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       env=clean_env())
