"""The dumps in the cache: the :class:`Dump` record, where builds live (``<cache>/vmcores``),
the index a build records (``dumps.json``, paths relative to it) and the manifest, a build's
installation in place of the old one (:func:`finish_build`), and :func:`cached_dumps`, the
one load-or-build loop every family of dumps (reference, crash, disk, state, arm64) goes
through.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from vmcores.debian import (
    cache_root,
    file_lock,
)


class BuildError(RuntimeError):
    """Booting a guest, collecting its truth or dumping it failed."""


@dataclasses.dataclass(frozen=True)
class Dump:
    """One reference vmcore.

    ``form`` names the file format (``elf``, ``elf-paging``, ``kdump-zlib``,
    ``kdump-zlib-flat``, ``kdump-lzo``, ``kdump-snappy``, ...); ``tool`` what produced it;
    ``truth`` the directory with the ground truth recorded in the guest just before it.
    """

    suite: str
    release: str
    form: str
    tool: str
    path: Path
    truth: Path


def vmcores_root() -> Path:
    """``<cache>/vmcores``: where dumps, truth and the manifest live."""
    return cache_root() / "vmcores"


def manifest_path() -> Path:
    """``<cache>/vmcores/manifest.json``."""
    return vmcores_root() / "manifest.json"


def finish_build(outdir: Path, final: Path, info: Dict[str, Any]) -> None:
    """Write ``dumps.json`` (*info*) into the finished build directory *outdir* and put it
    in place of *final* (the old build is removed only once the new one is there)."""
    (outdir / "dumps.json").write_text(json.dumps(info, indent=1) + "\n")
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(outdir, final)
    shutil.rmtree(old, ignore_errors=True)


#: The :class:`Dump` fields that are paths: a dump index records them relative to its own
#: directory, so a cache can move (another ``HOME``, a copied ``KDBG_CACHE``).
PATH_FIELDS = ("path", "truth")


def dump_json(d: Dump, home: Path) -> Dict[str, Any]:
    """A :class:`Dump` (or a subclass's, such as ``vmcores.crash.CrashDump``) as the
    ``dumps.json`` in the directory *home* records it: every field, paths as strings
    relative to *home*."""
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(d):
        v = getattr(d, f.name)
        out[f.name] = os.path.relpath(v, home) if isinstance(v, Path) else v
    return out


def dump_from_json(cls: Any, rec: Dict[str, Any], home: Path) -> Any:
    """The ``cls`` (:class:`Dump` or a subclass) a :func:`dump_json` record of the index
    in the directory *home* describes (a relative path is *home*'s; an absolute one, as
    indexes recorded them before, is taken as it is); ``KeyError`` for a record that
    lacks a field. Other fields of *rec* (``size``, a subclass's) are left out."""
    return cls(**{f.name: Path(home, rec[f.name]) if f.name in PATH_FIELDS else rec[f.name]
                  for f in dataclasses.fields(cls)})


def rebased_json(rec: Dict[str, Any], home: Path, to: Path) -> Dict[str, Any]:
    """A record of the index in *home* as the index in *to* records it (a manifest's copy
    of a build's ``dumps.json`` record)."""
    return {k: os.path.relpath(Path(home, v), to) if k in PATH_FIELDS else v for k, v in rec.items()}


K = TypeVar("K")
D = TypeVar("D", bound=Dump)


def cached_dumps(
    keys: Iterable[K],
    lock: Callable[[K], Path],
    load: Callable[[K], Optional[List[D]]],
    make: Callable[[K], List[D]],
    missing: Callable[[K], str],
    forms: Optional[Sequence[str]] = None,
    build: bool = True,
    force: bool = False,
    manifest: Optional[Tuple[Path, Callable[[], None]]] = None,
) -> List[D]:
    """The dumps of each of *keys* (a suite, a kernel, a ``(suite, scenario)`` ...) in the
    cache, filtered by *forms*: every family of dumps (reference, crash, disk, state,
    arm64) is served by this one loop.

    Under the key's lock file (``lock(key)``, so several processes may ask at once and
    one builds), ``load(key)`` gives the recorded dumps or None when a build is needed
    (its own recipe check); then ``make(key)`` builds them (*force*: always), or with
    ``build=False`` :class:`BuildError` says ``missing(key)``. *manifest*, ``(path,
    write)``: *write* runs after a build, or when *path* is missing, not on every call
    (tests call this thousands of times)."""
    result: List[D] = []
    for key in keys:
        with file_lock(lock(key)):
            dumps = None if force else load(key)
            if dumps is None:
                if not build:
                    raise BuildError(missing(key))
                dumps = make(key)
                if manifest is not None:
                    manifest[1]()
            elif manifest is not None and not manifest[0].exists():
                manifest[1]()
        result += [d for d in dumps if forms is None or d.form in forms]
    return result
