"""The drgn + DWARF oracle: what drgn, given Debian's DWARF ``vmlinux``, says about
expressions on a reference ELF vmcore.

kdbg must show any kernel object from BTF alone exactly as drgn shows it with full debug
info.  This module asks drgn (0.3.0, from PyPI) and records, for each expression written
in drgn's Python API (``prog["init_task"].comm``, ``container_of(...)``, ``Object(prog,
"struct rq", address=...)``), the type name, ``value_()`` in a JSON form, ``str()``, the
address and, when asked, ``format_(**options)``.  drgn runs in a subprocess (it reads the
dump and the 600 MB ``vmlinux`` there, and a crash in it cannot take the caller down); the
answers are cached as JSON under ``<cache>/oracle/``, keyed by the dump, the ``vmlinux``,
drgn's version and the expression list.

drgn 0.3.0 cannot open QEMU's kdump files (``kdump_get_string_attr(KDUMP_ATTR_ARCH_NAME):
Key has no value``): the oracle takes ELF dumps only, and of those the ``elf-paging`` form
(:data:`ORACLE_FORM`, QEMU ``dump-guest-memory -p``).  On the plain ``elf`` form, whose
PT_LOADs carry ``p_vaddr`` 0, drgn takes the segments as *virtual* addresses from 0 up, so
a NULL pointer or a raw per-CPU offset reads physical memory instead of faulting
(``*(struct mm_struct *)0x0 = {...garbage...}``).  Every form of one suite holds the same
memory, so one answer serves them all.

Module symbols: the dumps come with no module debug info, so drgn's own
``drgn.helpers.linux.kallsyms.load_module_kallsyms`` is registered as a symbol finder
after the ``vmlinux`` ELF symbols, as module DWARF would symbolize them
(``__this_module+0x8``).

Stack traces: :func:`drgn_stack_traces` asks drgn for ``prog.stack_trace(task)`` of every
task (idle tasks included), with drgn's inline frames folded (drgn gives an inlined
function its own frame at the same pc and sp; the non-inline frame of each group is kept),
plus ``prog.threads()`` and ``prog.crashed_thread()``, in its own subprocess and JSON
cache (:data:`STACKS_FORMAT`).

Usage::

    python -m vmcores.oracle SUITE [EXPRESSION ...]      # print drgn's str() of each
    python -m vmcores.oracle SUITE --stacks              # print drgn's stack traces
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from vmcores.build import reference_dumps
from vmcores.debian import cache_root, debian_dbg_vmlinux, file_lock

ORACLE_FORMAT = 1
"""Version of the recorded answer layout; part of the cache key."""

ORACLE_FORM = "elf-paging"
"""The dump form drgn is asked on (see the module docstring)."""

ORACLE_TIMEOUT = 600
"""Seconds one drgn run may take."""


class OracleError(RuntimeError):
    """drgn could not be run, or could not open the dump."""


@dataclasses.dataclass(frozen=True)
class Query:
    """One expression to ask drgn about.

    ``key`` names it across kernels (its text may differ between kernel versions), ``text``
    is Python evaluated with ``prog`` and drgn's free functions in scope, and ``format``
    (when given) the keyword arguments of one ``format_()`` call to record as well.
    """

    key: str
    text: str
    format: Optional[Mapping[str, Any]] = None

    def as_json(self) -> Dict[str, Any]:
        """The query as the subprocess receives it."""
        return {"key": self.key, "text": self.text, "format": dict(self.format) if self.format else None}


def jsonable(value: Any) -> Any:
    """``value_()`` of an object (or a plain Python result) in the form the oracle records:
    dicts and lists as such (tuples as lists), bytes as ``{"bytes": hex}``, NaN as
    ``{"float": "nan"}``.  Compare another debugger's values through this too."""
    if isinstance(value, dict):
        return {str(k): jsonable(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(x) for x in value]
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, float) and value != value:
        return {"float": "nan"}
    return value


# --------------------------------------------------------------------------- the drgn side

# Runs in the subprocess, with only drgn imported.  Kept as one source string so that the
# child does not import this package (or kdbg).
_CHILD = r"""
import json, sys, time
from typing import Any
import drgn
from drgn import NULL, Object, cast, container_of, offsetof, reinterpret, sizeof

OPEN_PROGRAM

JSONABLE

def error(e):
    return {"error": type(e).__name__, "message": str(e)}

def answer(prog, ns, q):
    t0 = time.perf_counter()
    rec = {"key": q["key"], "text": q["text"]}
    try:
        obj = eval(q["text"], ns)
    except Exception as e:
        rec["kind"] = "error"
        rec.update(error(e))
        return rec
    if not isinstance(obj, drgn.Object):
        rec["kind"] = "python"
        rec["python_type"] = type(obj).__name__
        rec["repr"] = repr(obj)
        rec["value"] = jsonable(obj) if isinstance(obj, (int, bool, str, bytes, list, dict)) else None
        return rec
    rec["kind"] = "object"
    rec["type"] = obj.type_.type_name()
    rec["address"] = obj.address_
    rec["absent"] = obj.absent_
    try:
        rec["value"] = jsonable(obj.value_())
    except Exception as e:
        rec["value_error"] = error(e)
    try:
        rec["str"] = str(obj)
    except Exception as e:
        rec["str_error"] = error(e)
    if q.get("format"):
        rec["format_options"] = q["format"]
        try:
            rec["format"] = obj.format_(**q["format"])
        except Exception as e:
            rec["format_error"] = error(e)
    rec["seconds"] = round(time.perf_counter() - t0, 6)
    return rec

def main():
    core, vmlinux, queries_path, out_path = sys.argv[1:5]
    t0 = time.perf_counter()
    prog, t_open = open_program(core, vmlinux)
    ns = {"prog": prog, "drgn": drgn, "Object": Object, "NULL": NULL, "cast": cast,
          "container_of": container_of, "offsetof": offsetof, "reinterpret": reinterpret,
          "sizeof": sizeof}
    with open(queries_path) as f:
        queries = json.load(f)
    records = [answer(prog, ns, q) for q in queries]
    out = {"drgn": drgn.__version__, "open_seconds": round(t_open, 3),
           "total_seconds": round(time.perf_counter() - t0, 3), "records": records}
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)

main()
"""


# Both children open the dump the same way (pasted in for OPEN_PROGRAM).
_OPEN_PROGRAM = r"""
def open_program(core, vmlinux):
    t0 = time.perf_counter()
    prog = drgn.Program()
    prog.set_core_dump(core)
    prog.load_debug_info([vmlinux])
    # Module symbols: the dumps carry no module debug info; drgn's own helper reads each
    # module's kallsyms, as full DWARF for the modules would symbolize them.
    from drgn.helpers.linux.kallsyms import load_module_kallsyms
    prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog), enable_index=-1)
    return prog, time.perf_counter() - t0
"""


def _child_source() -> str:
    return _CHILD.replace("OPEN_PROGRAM", _OPEN_PROGRAM).replace("JSONABLE", inspect.getsource(jsonable))


def _stacks_child_source() -> str:
    return _STACKS_CHILD.replace("OPEN_PROGRAM", _OPEN_PROGRAM)


def run_drgn(core: Path, vmlinux: Path, queries: Sequence[Query]) -> Dict[str, Any]:
    """Ask drgn afresh (no cache): ``{"drgn", "open_seconds", "total_seconds", "records"}``,
    one record per query, in order."""
    with tempfile.TemporaryDirectory(prefix="kdbg-oracle-") as tmp:
        qpath = Path(tmp) / "queries.json"
        opath = Path(tmp) / "answers.json"
        qpath.write_text(json.dumps([q.as_json() for q in queries]))
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _child_source(), str(core), str(vmlinux), str(qpath), str(opath)],
                capture_output=True,
                text=True,
                timeout=ORACLE_TIMEOUT,
                env=env,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired as e:
            raise OracleError(f"drgn on {core} timed out after {ORACLE_TIMEOUT}s") from e
        if proc.returncode != 0 or not opath.exists():
            raise OracleError(f"drgn on {core} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        result: Dict[str, Any] = json.loads(opath.read_text())
        return result


def drgn_version() -> str:
    """The installed drgn's version (without importing it here)."""
    try:
        return version("drgn")
    except PackageNotFoundError as e:
        raise OracleError("drgn is not installed: python3 -m pip install drgn==0.3.0") from e


def _file_id(path: Path) -> Dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclasses.dataclass(frozen=True)
class OracleAnswers:
    """drgn's answers for one dump: ``records`` by query key, plus how long drgn took
    (``open_seconds`` to open the dump and the DWARF, ``total_seconds`` in all, measured
    when the answers were made; ``cached`` says whether this call ran drgn)."""

    suite: str
    core: Path
    vmlinux: Path
    drgn: str
    records: Dict[str, Dict[str, Any]]
    open_seconds: float
    total_seconds: float
    wall_seconds: float
    cached: bool
    path: Path


def ask_drgn(suite: str, core: Path, queries: Sequence[Query], vmlinux: Optional[Path] = None) -> OracleAnswers:
    """drgn's answers for *queries* on the ELF dump *core* of *suite*.

    *vmlinux* defaults to :func:`vmcores.debian.debian_dbg_vmlinux` of *suite* (downloaded
    once).  Answers are cached under ``<cache>/oracle/``; the key covers the dump (path,
    size, mtime), the ``vmlinux``, drgn's version and the queries, so a rebuilt dump or a
    changed list is asked again.
    """
    keys = [q.key for q in queries]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate query keys: {dup}")
    core = Path(core)
    vmlinux = Path(vmlinux) if vmlinux is not None else debian_dbg_vmlinux(suite)
    ident = {
        "format": ORACLE_FORMAT,
        "child": hashlib.sha256(_child_source().encode()).hexdigest()[:16],
        "drgn": drgn_version(),
        "core": _file_id(core),
        "vmlinux": _file_id(vmlinux),
        "queries": [q.as_json() for q in queries],
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    top = cache_root() / "oracle"
    path = top / f"{suite}-{core.name}-{digest}.json"
    with file_lock(top / f".{suite}-{core.name}.lock"):
        cached = path.exists()
        t0 = time.perf_counter()
        if cached:
            data = json.loads(path.read_text())
        else:
            data = run_drgn(core, vmlinux, queries)
            data["ident"] = ident
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(tmp, path)
        wall = time.perf_counter() - t0
    return OracleAnswers(
        suite=suite,
        core=core,
        vmlinux=vmlinux,
        drgn=data["drgn"],
        records={r["key"]: r for r in data["records"]},
        open_seconds=data["open_seconds"],
        total_seconds=data["total_seconds"],
        wall_seconds=wall,
        cached=cached,
        path=path,
    )


def drgn_eval(suite: str, core: Path, text: str, vmlinux: Optional[Path] = None) -> Any:
    """Evaluate one Python expression with drgn on *core* and return its JSON-able value:
    an object's ``value_()``, or a plain Python result (lists, ints, ...) as is.  For
    checks of the oracle itself, such as walking a list with drgn's helpers
    (``drgn.helpers.linux`` is importable as ``drgn.helpers.linux`` in *text*).  Cached
    as :func:`ask_drgn` caches (the same dump, ``vmlinux``, drgn and text: the same
    answer; ``tests/test_oracle.py`` checks that drgn's answers are reproducible)."""
    rec = ask_drgn(suite, Path(core), [Query("eval", text)], vmlinux).records["eval"]
    if rec["kind"] == "error":
        raise OracleError(f"drgn: {text}: {rec['error']}: {rec['message']}")
    return rec.get("value")



def drgn_crash_command(suite: str, core: Path, line: str, vmlinux: Optional[Path] = None) -> str:
    """What drgn 0.3.0's crash command *line* (``drgn.commands._crash``: ``"mod -t"`` runs as
    drgn's ``crash mod -t``, through drgn's ``crash`` namespace) prints on *core* with
    Debian's DWARF: its standard output, captured in the oracle's child and cached as
    :func:`drgn_eval` caches. A command drgn does not have raises :class:`OracleError`."""
    text = ("(lambda sys, buf, old: [setattr(sys, 'stdout', buf), "
            "__import__('drgn.commands._crash', fromlist=['x']).CRASH_COMMAND_NAMESPACE.run("
            f"prog, {line!r}, globals={{}}), setattr(sys, 'stdout', old), buf.getvalue()][-1])"
            "(__import__('sys'), __import__('io').StringIO(), __import__('sys').stdout)")
    out = drgn_eval(suite, core, text, vmlinux)
    if not isinstance(out, str):
        raise OracleError(f"drgn: crash {line}: printed no text ({out!r})")
    return out

STACKS_FORMAT = 2
"""Version of the recorded stack-trace layout; part of its cache key."""

# Runs in a subprocess with only drgn imported: every task's stack trace, folded.
_STACKS_CHILD = r"""
import json, sys, time
import drgn
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_cpu

OPEN_PROGRAM

def fold(trace):
    out = []
    for i, f in enumerate(trace):
        rec = [f.pc, f.sp, bool(f.interrupted), f.name]
        if i == 0 or f.interrupted:  # registers a dump note, a pt_regs or a saved frame gave
            try:
                rec.append(dict(f.registers()))
            except Exception as e:
                rec.append({"error": str(e)})
        if out and out[-1][0] == f.pc and out[-1][1] == f.sp and out[-1][-1] is True:
            out[-1] = rec + [f.is_inline]
        else:
            out.append(rec + [f.is_inline])
    return [r[:-1] for r in out]

def main():
    core, vmlinux, out_path = sys.argv[1:4]
    prog, t_open = open_program(core, vmlinux)
    tasks = []
    t1 = time.perf_counter()
    for t in for_each_task(prog, idle=True):
        rec = {"address": t.value_(), "pid": t.pid.value_(), "comm": t.comm.string_().decode(errors="replace"),
               "cpu": task_cpu(t)}
        try:
            rec["frames"] = fold(prog.stack_trace(t))
        except Exception as e:
            rec["error"] = f"{type(e).__name__}: {e}"
        tasks.append(rec)
    t_unwind = time.perf_counter() - t1
    out = {"drgn": drgn.__version__, "open_seconds": round(t_open, 3), "unwind_seconds": round(t_unwind, 3),
           "tasks": tasks, "threads": [th.tid for th in prog.threads()]}
    try:
        c = prog.crashed_thread()
        out["crashed"] = {"tid": c.tid, "address": c.object.value_()}
    except Exception as e:
        out["crashed"] = {"error": f"{type(e).__name__}: {e}"}
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)

main()
"""


@dataclasses.dataclass(frozen=True)
class DrgnStacks:
    """drgn's stack traces of every task of one dump.

    ``tasks`` maps a task's address to ``{"pid", "comm", "cpu", "frames"}`` (``frames``:
    ``[pc, sp, interrupted, name]`` each, inline frames folded; the first frame and every
    interrupted one add ``registers()`` as a fifth item) or ``{"error"}`` where
    drgn could not unwind it; ``threads`` lists ``prog.threads()``'s TIDs; ``crashed`` is
    ``{"tid", "address"}`` of ``prog.crashed_thread()`` or ``{"error"}``."""

    suite: str
    core: Path
    drgn: str
    tasks: Dict[int, Dict[str, Any]]
    threads: List[int]
    crashed: Dict[str, Any]
    open_seconds: float
    unwind_seconds: float
    cached: bool
    path: Path


def drgn_stack_traces(suite: str, core: Path, vmlinux: Optional[Path] = None) -> DrgnStacks:
    """drgn's ``prog.stack_trace(task)`` for every task of the ELF dump *core* of
    *suite* (cached like :func:`ask_drgn`, keyed by the dump, the ``vmlinux``, drgn's
    version and the child script)."""
    core = Path(core)
    vmlinux = Path(vmlinux) if vmlinux is not None else debian_dbg_vmlinux(suite)
    ident = {
        "format": STACKS_FORMAT,
        "child": hashlib.sha256(_stacks_child_source().encode()).hexdigest()[:16],
        "drgn": drgn_version(),
        "core": _file_id(core),
        "vmlinux": _file_id(vmlinux),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    top = cache_root() / "oracle"
    path = top / f"stacks-{suite}-{core.name}-{digest}.json"
    with file_lock(top / f".{suite}-{core.name}.lock"):
        cached = path.exists()
        if cached:
            data = json.loads(path.read_text())
        else:
            with tempfile.TemporaryDirectory(prefix="kdbg-oracle-") as tmp:
                opath = Path(tmp) / "stacks.json"
                env = dict(os.environ)
                env.pop("PYTHONPATH", None)
                try:
                    proc = subprocess.run(
                        [sys.executable, "-c", _stacks_child_source(), str(core), str(vmlinux), str(opath)],
                        capture_output=True, text=True, timeout=ORACLE_TIMEOUT, env=env, cwd=tmp,
                    )
                except subprocess.TimeoutExpired as e:
                    raise OracleError(f"drgn stack traces on {core} timed out after {ORACLE_TIMEOUT}s") from e
                if proc.returncode != 0 or not opath.exists():
                    raise OracleError(f"drgn stack traces on {core} failed ({proc.returncode}): "
                                      f"{proc.stderr.strip()[-2000:]}")
                data = json.loads(opath.read_text())
            data["ident"] = ident
            tmp_path = path.with_suffix(".tmp")
            tmp_path.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(tmp_path, path)
    return DrgnStacks(
        suite=suite,
        core=core,
        drgn=data["drgn"],
        tasks={t["address"]: t for t in data["tasks"]},
        threads=list(data["threads"]),
        crashed=data["crashed"],
        open_seconds=data["open_seconds"],
        unwind_seconds=data["unwind_seconds"],
        cached=cached,
        path=path,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: print drgn's ``str()`` of each expression on *SUITE*'s ELF dump."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.oracle", description=__doc__.split("\n")[0])
    ap.add_argument("suite")
    ap.add_argument("expressions", nargs="*")
    ap.add_argument("--json", action="store_true", help="print the whole records")
    ap.add_argument("--stacks", action="store_true", help="print drgn's stack trace of every task")
    args = ap.parse_args(argv)

    elf = [d for d in reference_dumps(suites=[args.suite]) if d.form == ORACLE_FORM][0]
    if args.stacks:
        stacks = drgn_stack_traces(args.suite, elf.path)
        for addr, t in stacks.tasks.items():
            print(f"PID: {t['pid']}  TASK: {addr:x}  CPU: {t['cpu']}  COMMAND: \"{t['comm']}\"")
            for i, (pc, sp, interrupted, name, *_regs) in enumerate(t.get("frames", [])):
                print(f"#{i:<2} {pc:#x} sp={sp:#x}{' (interrupted)' if interrupted else ''} {name or ''}")
            if "error" in t:
                print(f"    {t['error']}")
        return 0
    if not args.expressions:
        ap.error("give EXPRESSION ... or --stacks")
    queries: List[Query] = [Query(f"q{i}", t) for i, t in enumerate(args.expressions)]
    vml = debian_dbg_vmlinux(args.suite)
    out = run_drgn(elf.path, vml, queries)
    for rec in out["records"]:
        if args.json:
            print(json.dumps(rec, indent=1))
        elif rec["kind"] == "object":
            print(rec.get("str", rec.get("str_error")))
        else:
            print(rec.get("repr", f"{rec.get('error')}: {rec.get('message')}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
