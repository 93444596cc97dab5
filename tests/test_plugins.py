"""Plugins (``kdbg.ui.plugins``) and the command line's ``--version``/``--help``.

Every case runs the real CLI (``python3 -m kdbg``) on the committed sample dump with
plugins written to temporary directories: loaded with ``--plugin-path``, from
``$XDG_CONFIG_HOME/kdbg/plugins`` and through a ``kdbg.plugins`` entry point of a
distribution on ``PYTHONPATH``; argparse-style arguments, helpers, declarations, the
loading order, broken plugins (one warning line, kdbg still starts) and, running as root,
plugin paths that group or others may write (refused, named), and the same paths loaded by
a user who is not root (``nobody``, from a root run). Each subprocess gets the tests'
controlled environment (:func:`tests.cli_support.clean_env`) with its own empty
``XDG_CONFIG_HOME`` so that the user's real plugins never take part.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

import pytest

import kdbg
from tests import cli_support
from tests.cli_support import IS_ROOT, ROOT, as_nobody, clean_env, nobody_env, package_tool_env

GREET = """\
\"\"\"A test plugin: the ``greet`` command with argparse arguments, a helper, a declaration.\"\"\"

import json

from kdbg.ui.commands import argument, command
from kdbg.helpers import find_task
from kdbg.ui.plugins import declaration, helper

declaration("unsigned int max_threads;")


@helper
def comm_of(prog, pid):
    \"\"\"The comm of task PID.\"\"\"
    return find_task(prog, pid).comm.string_().decode()


@command("greet", "greet a task by PID", arguments=[
    argument("pid", metavar="PID", type=int, help="a PID"),
    argument("-n", "--times", type=int, default=1, help="how often"),
    argument("--json", action="store_true"),
])
def greet(prog, args, ctx):
    name = comm_of(prog, args.pid)
    if ctx.json or args.json:
        ctx.out.write(json.dumps({"pid": args.pid, "comm": name, "times": args.times}) + "\\n")
        return
    for _ in range(args.times):
        ctx.out.write(f"hello {name}\\n")
"""


def one_command(name: str, text: str) -> str:
    """A plugin defining command ``name`` that prints ``text``."""
    return textwrap.dedent(f"""\
        from kdbg.ui.commands import command


        @command({name!r}, "prints {text}")
        def _cmd(prog, args, ctx):
            ctx.out.write({text!r} + "\\n")
        """)


@pytest.fixture
def run(tmp_path: Path, sample_dump):  # type: ignore[no-untyped-def]
    """``run(*args, env=None, dump=True, nobody=False)``: kdbg on the sample dump with an
    empty XDG_CONFIG_HOME (``env``: changes of the controlled environment, None removes a
    variable; ``nobody``: run as ``nobody``, from a root run)."""
    xdg = tmp_path / "xdg-empty"
    xdg.mkdir()

    def _run(*args: str, env: Optional[Dict[str, Optional[str]]] = None, dump: bool = True,
             nobody: bool = False) -> subprocess.CompletedProcess:
        changes = {"XDG_CONFIG_HOME": str(xdg), **(env or {})}
        target = ["-c", str(sample_dump.path)] if dump else []
        argv = [sys.executable, "-m", "kdbg", "-q", *target, *args]
        return subprocess.run(
            as_nobody(argv) if nobody else argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            cwd=ROOT, env=nobody_env(**changes) if nobody else clean_env(**changes), timeout=300,
        )

    return _run


def plugin_dir(tmp_path: Path, name: str, files: Dict[str, str]) -> Path:
    d = tmp_path / name
    d.mkdir()
    os.chmod(d, 0o755)
    for fn, text in files.items():
        (d / fn).write_text(text)
        os.chmod(d / fn, 0o644)
    return d


# ---------------------------------------------------------------- command line


def test_version(run) -> None:  # type: ignore[no-untyped-def]
    p = run("--version", dump=False)
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout == f"kdbg {kdbg.__version__}\n" == "kdbg 0.1.0\n"


def test_help_is_the_contract(run) -> None:  # type: ignore[no-untyped-def]
    p = run("--help", dump=False, env={"COLUMNS": "200"})
    assert p.returncode == 0 and p.stderr == ""
    first = p.stdout.splitlines()[0]
    assert first == ("usage: kdbg [TARGET] [--json] [-q] [--plugin-path DIR]... "
                     "[-e CODE | -x COMMAND... | SCRIPT [ARG...]]")
    for option in ["-c PATH, --core PATH", "--btf PATH", "--kallsyms PATH", "--json", "-q, --quiet",
                   "--plugin-path DIR", "--traceback", "--version", "-e CODE", "-x COMMAND", "SCRIPT", "ARG",
                   "Exit status: 0 ok, 1 a command or script failed, 2 bad usage or unusable target."]:
        assert option in p.stdout, option


# ---------------------------------------------------------------- --plugin-path


def test_plugin_path_command_with_argparse_arguments(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = plugin_dir(tmp_path, "p", {"greet.py": GREET})
    p = run("--plugin-path", str(d), "-x", "greet 1", "-x", "greet -n 2 2", "-x", "greet --json --times 3 1")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[:3] == ["hello init", "hello kthreadd", "hello kthreadd"]
    assert lines[3] == '{"pid": 1, "comm": "init", "times": 3}'
    # the global --json reaches the command too
    p = run("--json", "--plugin-path", str(d), "-x", "greet 1")
    assert p.stdout == '{"pid": 1, "comm": "init", "times": 1}\n'


def test_plugin_command_help_and_bad_arguments(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = plugin_dir(tmp_path, "p", {"greet.py": GREET})
    p = run("--plugin-path", str(d), "-x", "help greet", "-x", "greet -h", "-x", "help")
    assert p.returncode == 0, p.stderr
    # help greet and greet -h print the same argparse help
    assert p.stdout.count("usage: greet [-h] [-n TIMES] [--json] PID\n") == 2
    assert p.stdout.count("  -n TIMES, --times TIMES") == 2
    assert "greet a task by PID" in p.stdout
    assert re.search(r"^greet +greet a task by PID$", p.stdout, re.M)
    for bad, why in [("greet", "the following arguments are required: PID"),
                     ("greet one", "argument PID: invalid int value: 'one'"),
                     ("greet 1 --bogus", "unrecognized arguments: --bogus"),
                     ("greet 'unclosed", "cannot parse arguments")]:
        p = run("--plugin-path", str(d), "-x", bad)
        assert p.returncode == 1, bad
        assert p.stdout == ""
        assert p.stderr.count("\n") == 1 and why in p.stderr and p.stderr.startswith("kdbg: "), p.stderr


def test_plugin_helper_and_declaration(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A helper is a name in -e and scripts; a declaration types a global of the opened
    Program (max_threads is an int; the plugin declares it unsigned)."""
    p = run("-e", "prog['max_threads']")
    assert p.stdout == "(int)400\n"
    d = plugin_dir(tmp_path, "p", {"greet.py": GREET})
    p = run("--plugin-path", str(d), "-e", "comm_of(prog, 2)")
    assert (p.returncode, p.stdout) == (0, "'kthreadd'\n"), p.stderr
    p = run("--plugin-path", str(d), "-e", "prog['max_threads']")
    assert p.stdout == "(unsigned int)400\n"
    script = tmp_path / "s.py"
    script.write_text("print(comm_of(prog, 1))\n")
    p = run("--plugin-path", str(d), str(script))
    assert (p.returncode, p.stdout) == (0, "init\n"), p.stderr


def test_plugins_are_modules_in_sys_modules(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A plugin runs as an imported module does (a dataclass with string annotations looks
    its module up in sys.modules); two plugins of the same file name both load."""
    dc = textwrap.dedent("""\
        from __future__ import annotations

        import dataclasses

        from kdbg.ui.commands import command


        @dataclasses.dataclass
        class Row:
            pid: int


        @command("dc", "a dataclass")
        def _cmd(prog, args, ctx):
            ctx.out.write(f"{Row(1)}\\n")
        """)
    a = plugin_dir(tmp_path, "a", {"same.py": dc})
    b = plugin_dir(tmp_path, "b", {"same.py": one_command("other", "the other same.py")})
    p = run("--plugin-path", str(a), "--plugin-path", str(b), "-x", "dc", "-x", "other")
    assert (p.returncode, p.stdout, p.stderr) == (0, "Row(pid=1)\nthe other same.py\n", "")


def test_plugin_path_not_a_directory_is_bad_usage(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = run("--plugin-path", str(tmp_path / "nope"), "-x", "help")
    assert p.returncode == 2
    assert p.stderr == f"kdbg: plugin path {str(tmp_path / 'nope')!r} is not a directory\n"


def test_broken_plugin_warns_once_and_the_others_load(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = plugin_dir(tmp_path, "p", {
        "a_broken.py": "import kdbg\n\nraise ValueError('no good')\n",
        "b_syntax.py": "def f(:\n",
        "c_good.py": one_command("good", "still here"),
        "_private.py": "raise SystemError('never imported')\n",
        "notes.txt": "not python\n",
    })
    p = run("--plugin-path", str(d), "-x", "good")
    assert p.returncode == 0
    assert p.stdout == "still here\n"
    lines = p.stderr.splitlines()
    assert lines[0] == f"kdbg: warning: plugin {d / 'a_broken.py'}:3: ValueError: no good"
    assert re.fullmatch(rf"kdbg: warning: plugin {re.escape(str(d / 'b_syntax.py'))}:1: SyntaxError: .+", lines[1])
    assert len(lines) == 2


# ---------------------------------------------------------------- where and in which order


def test_xdg_config_home_plugins_are_found(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    xdg = tmp_path / "config"
    (xdg / "kdbg").mkdir(parents=True)
    os.chmod(xdg / "kdbg", 0o755)
    plugin_dir(xdg / "kdbg", "plugins", {"mine.py": one_command("mine", "from xdg")})
    p = run("-x", "mine", env={"XDG_CONFIG_HOME": str(xdg)})
    assert (p.returncode, p.stdout, p.stderr) == (0, "from xdg\n", "")
    # --plugin-path loads after XDG_CONFIG_HOME: the same name is replaced
    d = plugin_dir(tmp_path, "later", {"mine.py": one_command("mine", "from --plugin-path")})
    p = run("--plugin-path", str(d), "-x", "mine", env={"XDG_CONFIG_HOME": str(xdg)})
    assert (p.returncode, p.stdout) == (0, "from --plugin-path\n")


def test_default_user_plugin_dir_is_under_home(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / ".config" / "kdbg").mkdir(parents=True)
    plugin_dir(home / ".config" / "kdbg", "plugins", {"h.py": one_command("homecmd", "from home")})
    p = run("-x", "homecmd", env={"XDG_CONFIG_HOME": "", "HOME": str(home)})
    assert (p.returncode, p.stdout) == (0, "from home\n"), p.stderr


def test_entry_point_plugins_are_found(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A distribution on PYTHONPATH with a kdbg.plugins entry point naming a module (imported)
    and one naming a function (called)."""
    site = tmp_path / "site"
    info = site / "kdbg_ep_test-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kdbg-ep-test\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[kdbg.plugins]\nmod = kdbg_ep_test_mod\nfunc = kdbg_ep_test_func:register\n")
    (site / "kdbg_ep_test_mod.py").write_text(one_command("epmod", "entry point module"))
    (site / "kdbg_ep_test_func.py").write_text(textwrap.dedent("""\
        from kdbg.ui.commands import command


        def register():
            @command("epfunc", "registered by a function")
            def _cmd(prog, args, ctx):
                ctx.out.write("entry point function\\n")
        """))
    p = run("-x", "epmod", "-x", "epfunc", env={"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    assert (p.returncode, p.stdout, p.stderr) == (0, "entry point module\nentry point function\n", "")


@pytest.mark.parametrize("bytecode", ["written", "not written"])
def test_entry_points_are_remembered_until_a_distribution_changes(run, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  bytecode: str) -> None:
    """The entry points found are kept in kdbg's cache (scanning them costs every start
    importlib.metadata), keyed by each distribution's metadata in the ``sys.path``
    directories (``kdbg.ui.plugins._entry_points_key``): a second start answers from the
    cache entry, whether or not the first one wrote the plugin's bytecode into the path
    directory (``site/__pycache__``: ``PYTHONDONTWRITEBYTECODE`` unset, as on most
    machines, or set); installing a distribution, removing one or editing one's entry
    points is seen at the next start."""
    site = tmp_path / "site"
    cache = tmp_path / "cache"

    def dist(name: str, command: str) -> Path:
        info = site / f"{name}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[kdbg.plugins]\n{command} = {name}_mod\n")
        (site / f"{name}_mod.py").write_text(one_command(command, f"{command} ran"))
        return info

    def ran(p: subprocess.CompletedProcess) -> str:
        assert p.returncode in (0, 1), p.stderr
        return p.stdout

    env: Dict[str, Optional[str]] = {
        "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "KDBG_CACHE": str(cache),
        "PYTHONDONTWRITEBYTECODE": None if bytecode == "written" else "1"}
    one = dist("kdbg_ep_one", "epone") / "entry_points.txt"
    first = run("-x", "epone", env=env)
    assert (first.returncode, first.stdout, first.stderr) == (0, "epone ran\n", "")
    assert (site / "__pycache__").is_dir() == (bytecode == "written")
    assert len(list((cache / "entry-points").glob("*"))) == 1
    # Emptying the distribution's entry_points.txt but keeping its modification time,
    # and adding bytecode and a module to the path directory, changes no distribution's
    # metadata: the next start answers from the cache entry (proof that it is read).
    stamp = one.stat()
    one.write_text("")
    os.utime(one, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (site / "__pycache__").mkdir(exist_ok=True)
    (site / "__pycache__" / "other.cpython-311.pyc").write_bytes(b"")
    (site / "other.py").write_text("")
    again = run("-x", "epone", env=env)
    assert (again.returncode, again.stdout, again.stderr) == (0, "epone ran\n", "")
    assert len(list((cache / "entry-points").glob("*"))) == 1
    # The same edit with a new modification time is seen: epone is gone.
    os.utime(one, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    edited = run("-x", "epone", env=env)
    assert (edited.returncode, edited.stdout) == (1, ""), edited.stderr
    assert edited.stderr == "kdbg: unknown command 'epone' (try 'help')\n"
    # Installing another distribution is seen (and the restored entry point with it).
    one.write_text("[kdbg.plugins]\nepone = kdbg_ep_one_mod\n")
    two = dist("kdbg_ep_two", "eptwo")
    later = run("-x", "epone", "-x", "eptwo", env=env)
    assert (later.returncode, later.stdout, later.stderr) == (0, "epone ran\neptwo ran\n", "")
    # Removing it is seen too.
    shutil.rmtree(two)
    gone = run("-x", "epone", "-x", "eptwo", env=env)
    assert (ran(gone), gone.stderr) == ("epone ran\n", "kdbg: unknown command 'eptwo' (try 'help')\n")


def test_broken_entry_point_is_one_warning(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = tmp_path / "site"
    info = site / "kdbg_ep_bad-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kdbg-ep-bad\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kdbg.plugins]\nbad = kdbg_ep_bad_mod\n")
    (site / "kdbg_ep_bad_mod.py").write_text("x = 1\nraise RuntimeError('ep boom')\n")
    p = run("-x", "help", env={"PYTHONPATH": f"{site}{os.pathsep}{ROOT}"})
    assert p.returncode == 0 and "ptype" in p.stdout
    assert p.stderr == (f"kdbg: warning: plugin bad (kdbg_ep_bad_mod) {site / 'kdbg_ep_bad_mod.py'}:2: "
                        "RuntimeError: ep boom\n")


def test_plugin_replaces_a_shipped_plugin_command(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = plugin_dir(tmp_path, "p", {"myps.py": one_command("ps", "my ps")})
    p = run("--plugin-path", str(d), "-x", "ps", "-x", "help ps")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "my ps\nps\n    prints my ps\n"


# ---------------------------------------------------------------- root and writable paths


def test_group_or_world_writable_plugins_refused_as_root(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As root (CI): a world-writable plugin directory is refused and named, and so is a
    group-writable file in a safe directory, while its neighbours load. Not root
    (``nobody``, run from the root run; the caller itself when it is not root): they load
    (only root is protected by the check)."""
    open_dir = plugin_dir(tmp_path, "open", {"o.py": one_command("opencmd", "from an open dir")})
    os.chmod(open_dir, 0o777)
    safe = plugin_dir(tmp_path, "safe", {"g.py": one_command("gcmd", "group writable"),
                                          "s.py": one_command("scmd", "safe file")})
    os.chmod(safe / "g.py", 0o664)
    args = ("--plugin-path", str(open_dir), "--plugin-path", str(safe), "-x", "scmd", "-x", "help")

    def listed(p: subprocess.CompletedProcess) -> set:
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("safe file\n")
        return {line.split()[0] for line in p.stdout.splitlines()[1:] if line.strip()}

    if IS_ROOT:
        p = run(*args)
        assert p.stderr.splitlines() == [
            f"kdbg: warning: plugin directory {open_dir} is writable by group or others: not loaded (running as root)",
            f"kdbg: warning: plugin file {safe / 'g.py'} is writable by group or others: not loaded (running as root)",
        ]
        commands = listed(p)
        assert "opencmd" not in commands and "gcmd" not in commands and "scmd" in commands
        p = run("--plugin-path", str(open_dir), "-x", "opencmd")
        assert p.returncode == 1 and "unknown command 'opencmd'" in p.stderr
    p = run(*args, nobody=IS_ROOT)
    assert p.stderr == ""
    assert {"opencmd", "gcmd", "scmd"} <= listed(p)
    if IS_ROOT:  # it really ran as nobody
        who = run("-e", "__import__('os').geteuid()", nobody=True)
        assert (who.returncode, who.stdout) == (0, f"{cli_support.nobody().pw_uid}\n"), who.stderr


# ---------------------------------------------------------------- packaging


def test_a_non_editable_install_ships_the_plugins(tmp_path: Path, sample_dump) -> None:  # type: ignore[no-untyped-def]
    """``pip install . --target DIR`` of a copy of the source: the wheel holds the shipped
    plugins (kdbg_plugins), and kdbg run from DIR (outside the source tree) has ``ps``."""
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ["kdbg", "plugins"]:
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ["pyproject.toml", "setup.py", "README.md"]:
        shutil.copy(ROOT / name, src / name)
    target = tmp_path / "installed"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", str(src), "--target", str(target)],
                         capture_output=True, text=True, cwd=tmp_path, env=package_tool_env(), timeout=600)
    assert pip.returncode == 0, pip.stderr
    shipped = sorted(p.name for p in (target / "kdbg_plugins").iterdir() if p.suffix in (".py", ".md"))
    assert shipped == ["README.md", "__init__.py", "dmesg.py", "files.py", "lsmod.py", "mount.py", "ps.py"]
    env = clean_env(PYTHONPATH=str(target), XDG_CONFIG_HOME=str(tmp_path))
    p = subprocess.run(
        [sys.executable, "-c",
         "import kdbg, kdbg.ui.plugins as p; print(kdbg.__file__); print(p.shipped_plugin_dir())"],
        capture_output=True, text=True, cwd=tmp_path, env=env)
    assert p.stdout.splitlines() == [str(target / "kdbg" / "__init__.py"), str(target / "kdbg_plugins")], p.stderr
    p = subprocess.run([sys.executable, "-m", "kdbg", "-q", "-c", str(sample_dump.path), "-x", "ps 1"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1].split()[0] == "1" and p.stdout.splitlines()[1].split()[-1] == "init"
