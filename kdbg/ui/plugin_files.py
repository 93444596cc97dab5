"""Plugin files: where they are, whether root may run them, and loading them.

:mod:`kdbg.ui.commands` loads the shipped ``plugins/`` from here on the first use of its
table; :mod:`kdbg.ui.plugins` loads the user's directories, the ``--plugin-path`` ones and
the entry points. Neither of those imports the other for it.

Running as root, a plugin file is refused when it, or any directory above it (symlinks
and their targets included), is owned by neither root nor the invoking user (``SUDO_UID``
under sudo), or when group or others may write it (a directory with the sticky bit, such
as ``/tmp``, only as an ancestor): anyone able to write it could run code as root
(:mod:`kdbg.trust`). Each refusal is one warning naming the path and why; the other
plugins still load.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Dict, List, Optional

from kdbg import trust

__all__ = [
    "load_dir",
    "load_file",
    "load_shipped_plugins",
    "plugin_warnings",
    "shipped_plugin_dir",
    "user_plugin_dir",
    "warn",
]

_WARNINGS: List[str] = []
_shipped_loaded = False
_loaded_files: Dict[str, bool] = {}


def warn(message: str) -> None:
    """Keep one plugin warning line (without the ``kdbg: warning:`` prefix) for
    :func:`plugin_warnings`."""
    _WARNINGS.append(message)


def plugin_warnings() -> List[str]:
    """The warnings of plugin loading not yet reported; reading them clears them."""
    out = list(_WARNINGS)
    del _WARNINGS[:]
    return out


def shipped_plugin_dir() -> Optional[Path]:
    """The directory of kdbg's shipped plugins: ``plugins/`` beside the ``kdbg`` package in
    a source tree, else the installed ``kdbg_plugins`` package."""
    here = Path(__file__).resolve().parent.parent.parent
    if (here / "pyproject.toml").is_file() and (here / "plugins" / "__init__.py").is_file():
        return here / "plugins"
    spec = importlib.util.find_spec("kdbg_plugins")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return None


def user_plugin_dir() -> Path:
    """``$XDG_CONFIG_HOME/kdbg/plugins`` (default ``~/.config/kdbg/plugins``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kdbg" / "plugins"


def _error_line(path: str, e: BaseException) -> str:
    """``plugin FILE:LINE: Type: message`` for a plugin that failed to load."""
    line: Optional[int] = None
    if isinstance(e, SyntaxError) and e.filename and os.path.abspath(e.filename) == os.path.abspath(path):
        line, msg = e.lineno, e.msg
    else:
        for frame in traceback.extract_tb(e.__traceback__):
            if os.path.abspath(frame.filename) == os.path.abspath(path):
                line = frame.lineno  # the innermost line of the plugin itself
        msg = str(e)
    where = f"{path}:{line}" if line is not None else path
    return f"plugin {where}: {type(e).__name__}: {msg}" if msg else f"plugin {where}: {type(e).__name__}"


def refusal(path: str, what: str) -> Optional[str]:
    """Running as root, why plugin ``what`` (``file`` or ``directory``) at ``path`` is
    refused (the warning line), or ``None`` when it may load (always, for other users)."""
    if os.geteuid() != 0:
        return None
    try:
        trust.check_path(path, trust.trusted_uids(invoking=True))
    except trust.Untrusted as e:
        here, there = os.path.abspath(path), os.path.abspath(e.path)
        why = e.reason
        if e.reason.startswith("owned by"):
            why += ", neither root nor the invoking user"
        if there == here:
            why = f"is {why}"
        elif here.startswith(there.rstrip(os.sep) + os.sep):
            why = f"is in {e.path}, which is {why}"
        else:  # reached through a symlink
            why = f"leads to {e.path}, which is {why}"
        return f"plugin {what} {path} {why}: not loaded (running as root)"
    except OSError as e:
        return f"plugin {what} {path}: {e.strerror or e}: not loaded (running as root)"
    return None


def load_file(path: str) -> None:
    """Import plugin file ``path`` once (a warning, never an exception, when it fails)."""
    key = os.path.realpath(path)
    if key in _loaded_files:
        return
    _loaded_files[key] = True
    refused = refusal(path, "file")
    if refused is not None:
        warn(refused)
        return
    stem = os.path.basename(path)[:-3]
    name, n = f"kdbg_plugin_{stem}", 1
    while name in sys.modules:  # two plugins of one file name in different directories
        n += 1
        name = f"kdbg_plugin_{stem}_{n}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        warn(f"plugin {path}: cannot be loaded")
        return
    mod = importlib.util.module_from_spec(spec)
    # in sys.modules while it runs, as an imported module is (dataclasses, pickle need it)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:
        del sys.modules[name]
        warn(_error_line(path, e))


def load_dir(d: str) -> None:
    """Load every ``*.py`` of directory ``d`` not starting with ``_``, by file name."""
    refused = refusal(d, "directory")
    if refused is not None:
        warn(refused)
        return
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".py") and not fn.startswith("_"):
            load_file(os.path.join(d, fn))


def load_shipped_plugins() -> None:
    """Load kdbg's own ``plugins/`` once (:mod:`kdbg.ui.commands` does on the first use of
    its table; a built-in command module imported later never takes a name back)."""
    global _shipped_loaded
    if _shipped_loaded:
        return
    _shipped_loaded = True
    d = shipped_plugin_dir()
    if d is not None:
        load_dir(str(d))
