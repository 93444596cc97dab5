"""The lazy registries (:class:`kdbg.lazy.LazyNames`) say what the modules they stand for
say, and a one-command run imports only what its command needs.

- ``kdbg.helpers``' table is every helper submodule's own ``__all__``, in order, and
  importing the package imports none of them;
- the built-in command table (:data:`kdbg.ui.commands.BUILTINS`) is what the command
  modules register, name for name (aliases included);
- ``kdbg -c SAMPLE -x sys`` imports neither the other built-in command modules (those the
  shipped plugins do not import themselves) nor every helper, and the names of the
  session's namespace still decide, and still work, as before.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from typing import Any, List

import pytest

import kdbg.helpers
from kdbg.lazy import LazyNames
from kdbg.ui.commands import BUILTINS
from tests.cli_support import ROOT, clean_env

pytestmark = pytest.mark.timeout(300)

_INTERNAL_HELPERS = {"kdbg.helpers.common", "kdbg.helpers.cpu_stacks"}


def _python(code: str, tmp_path: Any) -> Any:
    """The JSON ``code`` prints last, run in a fresh interpreter on this checkout."""
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(KDBG_CACHE=str(tmp_path)),
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.splitlines()[-1])


def _helper_modules() -> List[str]:
    return sorted(f"kdbg.helpers.{m.name}" for m in pkgutil.iter_modules(kdbg.helpers.__path__)
                  if f"kdbg.helpers.{m.name}" not in _INTERNAL_HELPERS)


def test_helpers_table_is_the_submodules_all() -> None:
    """Every helper submodule is in the table with its own ``__all__`` (same names, same
    order), each name resolves to that module's object, and ``__all__`` is the table's."""
    homes = kdbg.helpers._HOMES
    assert isinstance(homes, LazyNames)
    assert sorted(homes.modules()) == _helper_modules()
    for module in homes.modules():
        own = list(importlib.import_module(module).__all__)
        assert [n for n, home in homes.items() if home == module] == own, module
    assert kdbg.helpers.__all__ == ["ValidationError", *homes]
    for name in kdbg.helpers.__all__:
        home = homes.get(name, "kdbg.errors")
        assert getattr(kdbg.helpers, name) is getattr(importlib.import_module(home), name), name
    with pytest.raises(AttributeError, match="no attribute 'no_such_helper'"):
        kdbg.helpers.no_such_helper  # noqa: B018


def test_importing_helpers_imports_no_submodule(tmp_path: Any) -> None:
    """``import kdbg.helpers`` loads no helper submodule; one name loads its module only
    (and what that module imports), not the others."""
    loaded, after_one = _python(
        "import json, sys\n"
        "import kdbg.helpers\n"
        "a = sorted(m for m in sys.modules if m.startswith('kdbg.helpers.'))\n"
        "from kdbg.helpers import for_each_task\n"
        "b = sorted(m for m in sys.modules if m.startswith('kdbg.helpers.'))\n"
        "print(json.dumps([a, b]))\n", tmp_path)
    assert loaded == []
    assert kdbg.helpers._HOMES["for_each_task"] in after_one
    assert len(after_one) < len(_helper_modules())


def test_builtin_command_table_is_the_registrations(tmp_path: Any) -> None:
    """Importing every module of :data:`BUILTINS` (and nothing else: no plugin) registers
    exactly the table's names, each from the module the table names."""
    registered = _python(
        "import importlib, json\n"
        "import kdbg.ui.commands as c\n"
        "for m in c.BUILTINS.modules():\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps({k: v.func.__module__ for k, v in c._COMMANDS.items()}))\n", tmp_path)
    assert registered == dict(BUILTINS)


def test_one_command_run_imports_what_it_needs(tmp_path: Any, sample_dump: Any) -> None:
    """``kdbg -c SAMPLE -x sys``: of the built-in command modules only ``system`` and those
    the shipped plugins import themselves; not every helper module; no REPL toolkit."""
    shipped = _python(
        "import json, sys\n"
        "from kdbg.ui.plugin_files import load_shipped_plugins\n"
        "load_shipped_plugins()\n"
        "print(json.dumps(sorted(sys.modules)))\n", tmp_path / "a")
    rc, out, loaded = _python(
        "import io, json, sys, contextlib\n"
        "from kdbg.ui.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    rc = main(['-q', '-c', {str(sample_dump.path)!r}, '-x', 'sys'])\n"
        "print(json.dumps([rc, buf.getvalue(), sorted(sys.modules)]))\n", tmp_path / "b")
    assert rc == 0 and "RELEASE: " + sample_dump.release in out, out
    command_modules = set(BUILTINS.modules())
    assert command_modules & set(loaded) - set(shipped) <= {"kdbg.ui.commands.system"}
    assert command_modules - set(loaded), "every built-in command module was imported"
    helpers = set(_helper_modules())
    assert helpers - set(loaded), "every helper module was imported"
    assert not {m for m in loaded if m.split(".")[0] in ("prompt_toolkit", "pygments")}


def test_shipped_plugins_register_no_builtin_name(tmp_path: Any) -> None:
    """The shipped plugins register commands only, none of a built-in's name: what lets a
    built-in's lookup skip loading them (:func:`kdbg.ui.commands.lookup`)."""
    registered, helpers, declarations = _python(
        "import json\n"
        "import kdbg.ui.commands as c\n"
        "from kdbg.ui import plugins\n"
        "from kdbg.ui.plugin_files import load_shipped_plugins\n"
        "load_shipped_plugins()\n"
        "print(json.dumps([{k: v.func.__module__ for k, v in c._COMMANDS.items()}, sorted(plugins.helpers()),\n"
        "                  plugins.declarations()]))\n", tmp_path)
    # the built-in command modules the plugins import register their own names too
    ours = {name for name, module in registered.items() if module not in set(BUILTINS.modules())}
    assert ours, "no shipped plugin registered a command"
    assert all(registered[name].startswith("kdbg_plugin_") for name in ours), registered
    assert not ours & set(BUILTINS)
    assert helpers == [] and declarations == []


def test_e_run_imports_what_it_needs(tmp_path: Any, sample_dump: Any) -> None:
    """``kdbg -c SAMPLE -e 'prog["init_task"].comm'`` imports no command module, shipped
    plugin, REPL, session or unwinder, and not every helper; the helpers it does not name
    still resolve when named, inside functions and comprehensions too."""
    rc, out, loaded = _python(
        "import io, json, sys, contextlib\n"
        "from kdbg.ui.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    rc = main(['-q', '-c', {str(sample_dump.path)!r}, '-e', 'prog[\"init_task\"].comm'])\n"
        "print(json.dumps([rc, buf.getvalue(), sorted(sys.modules)]))\n", tmp_path / "a")
    assert (rc, out) == (0, '(char [16])"swapper/0"\n')
    unwanted = {m for m in loaded if m.startswith(("kdbg.ui.commands.", "kdbg_plugin", "kdbg.ui.repl",
                                                   "kdbg.ui.session", "kdbg.unwind.", "prompt_toolkit"))}
    assert unwanted == set()
    assert set(_helper_modules()) - set(loaded), "every helper module was imported"
    code = "[t.comm.string_().decode() for t in for_each_task(prog) if task_state_to_char(t) and t.pid == 1]"
    p = subprocess.run([sys.executable, "-m", "kdbg", "-q", "-c", str(sample_dump.path), "-e", code], cwd=ROOT,
                       env=clean_env(KDBG_CACHE=str(tmp_path / "b")), capture_output=True, text=True, timeout=240)
    # the guest's own ps: pid, ppid, state, comm
    init = next(line.split()[3] for line in (sample_dump.truth / "ps").read_text().splitlines()
                if line.split()[0] == "1")
    assert (p.returncode, p.stdout) == (0, f"[{init!r}]\n"), p.stderr


def test_x_lines_share_one_namespace(tmp_path: Any, sample_dump: Any) -> None:
    """With the namespace built on first use, ``-x`` lines still bind and see names (a
    bound name wins over a command), helpers still resolve, commands still evaluate."""
    env = clean_env(KDBG_CACHE=str(tmp_path))
    args = [sys.executable, "-m", "kdbg", "-q", "-c", str(sample_dump.path)]
    lines = ["t = find_task(prog, 1)", "p t.comm", "sys = 41 + 1", "sys",
             "print(len(for_each_task(prog).__class__.__name__) > 0)"]
    p = subprocess.run([*args, *[a for line in lines for a in ("-x", line)]], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    e = subprocess.run([*args, "-e", "find_task(prog, 1).comm"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=240)
    assert e.returncode == 0, e.stderr
    assert p.stdout == e.stdout + "42\nTrue\n"
