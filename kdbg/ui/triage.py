"""``kdbg triage PATH... -o OUT [--jobs N] [--dask SCHEDULER] [--json-progress]``

Reports every dump under the given paths (files, or directories walked) and groups them by
crash signature (:mod:`kdbg.fleet.groups`):

* ``OUT/reports/<id>.json``: each dump's ``kdbg report`` (JSON); ``<id>`` is derived from
  the file's identity (device, inode, size, modification time) and path, so a rerun reuses
  the report of an unchanged dump and redoes a changed one;
* ``OUT/summary.json`` (``"schema": "kdbg-triage/1"``): ``dumps`` (one row per file: path,
  status ``ok`` or ``error`` with the reason, release, date, kind, signature, ``reused``),
  ``groups`` (signature, kind, count, kernels, first and last date, example, dumps) and
  ``errors``;
* ``OUT/summary.html``: the same as one static page (no script, no network).

Work runs in processes on this machine (``--jobs N``, default the CPU count; each worker is
replaced after :data:`TASKS_PER_WORKER` dumps, so its memory stays bounded), or on an
existing Dask cluster (``--dask tcp://HOST:PORT``; ``pip install kdbg[dask]``), whose
workers run the same function. A file that is not a dump, a truncated or corrupt one, is a
row saying why: it never stops the batch. On a terminal a progress line counts the dumps
done, names the current one and estimates the time left; ``--json-progress`` writes the
same as JSON lines on stderr for other tools.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import html
import json
import os
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from kdbg import target
from kdbg.errors import KdbgError
from kdbg.fleet.groups import group, row_of_report
from kdbg.progress import progress
from kdbg.ui.report import build_report
from kdbg.ui.tool import ToolParser

__all__ = ["COMMAND", "SCHEMA", "TASKS_PER_WORKER", "main", "report_one", "find_dumps"]

COMMAND = "triage"
SCHEMA = "kdbg-triage/1"
USAGE = "kdbg triage PATH... -o OUT [--jobs N] [--dask SCHEDULER] [--json-progress]"
#: Dumps a local worker process reports before it is replaced (bounds its memory).
TASKS_PER_WORKER = 20


def parse_args(argv: List[str]) -> argparse.Namespace:
    """``kdbg triage``'s arguments."""
    p = ToolParser(prog="kdbg triage", usage=USAGE, description=__doc__.split("\n\n")[1])
    p.add_argument("paths", metavar="PATH", nargs="+", help="dumps, or directories to walk for dumps")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the directory to write into")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="local worker processes")
    p.add_argument("--dask", metavar="SCHEDULER", help="run on this Dask scheduler (tcp://HOST:PORT)")
    p.add_argument("--json-progress", action="store_true", help="progress as JSON lines on stderr")
    ns = p.parse_args(argv)
    if ns.jobs < 1:
        raise KdbgError(f"triage: --jobs must be at least 1, not {ns.jobs}")
    return ns


def find_dumps(paths: List[str]) -> List[str]:
    """Every file named or under a directory named, sorted, each once (``CoreError`` for a
    path that does not exist)."""
    out: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                out.extend(os.path.join(root, f) for f in sorted(files))
        elif os.path.exists(path):
            out.append(path)
        else:
            raise KdbgError(f"triage: {path}: no such file or directory")
    seen = set()
    unique = []
    for p in (os.path.abspath(x) for x in out):
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def _identity(path: str) -> str:
    st = os.stat(path)
    key = f"{path}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def report_one(path: str, out_dir: str) -> Dict[str, Any]:
    """Report the dump at ``path`` into ``out_dir/reports/`` (or reuse the report of an
    unchanged file) and return its triage row. Never raises: a file that cannot be
    reported is a row with ``status: error`` and the reason. This is what workers run."""
    start = time.monotonic()
    try:
        ident = _identity(path)
    except OSError as e:
        return {"path": path, "status": "error", "error": f"cannot read: {e.strerror or e}"}
    report_file = os.path.join(out_dir, "reports", f"{ident}.json")
    reused = os.path.exists(report_file)
    try:
        if reused:
            with open(report_file) as f:
                report = json.load(f)
        else:
            prog = target.open_core(path)
            try:
                report = build_report(prog)
            finally:
                prog.close()
            tmp = f"{report_file}.tmp.{os.getpid()}"
            with open(tmp, "w") as f:
                json.dump(report, f)
            os.replace(tmp, report_file)
    except (KdbgError, OSError, ValueError) as e:
        return {"path": path, "status": "error", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - a row naming it; the batch goes on
        return {"path": path, "status": "error", "error": f"{type(e).__name__}: {e}"}
    row = row_of_report(path, report)
    row.update(report=os.path.relpath(report_file, out_dir), reused=reused,
               warnings=report.get("target", {}).get("warnings", []), seconds=round(time.monotonic() - start, 3))
    return row


def _local(paths: List[str], out_dir: str, jobs: int) -> Iterator[Tuple[str, Dict[str, Any]]]:
    kwargs: Dict[str, Any] = {"max_workers": jobs}
    if sys.version_info >= (3, 11):
        kwargs["max_tasks_per_child"] = TASKS_PER_WORKER
    with cf.ProcessPoolExecutor(**kwargs) as pool:
        futures = {pool.submit(report_one, p, out_dir): p for p in paths}
        for fut in cf.as_completed(futures):
            yield futures[fut], fut.result()


def _dask(paths: List[str], out_dir: str, address: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    try:
        from distributed import Client, as_completed  # the optional extra: kdbg[dask]
    except ImportError:
        raise KdbgError("triage: --dask needs Dask's distributed package (pip install kdbg[dask])") from None
    try:
        client = Client(address, timeout=30)
    except (OSError, TimeoutError) as e:
        raise KdbgError(f"triage: cannot reach the Dask scheduler {address}: {e}") from None
    try:
        futures = {client.submit(report_one, p, out_dir, pure=False): p for p in paths}
        for fut in as_completed(list(futures)):
            yield futures[fut], fut.result()
    finally:
        client.close()


def _render_html(summary: Dict[str, Any]) -> str:
    esc = html.escape

    def date(value: Optional[int]) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value)) if isinstance(value, int) else ""

    rows = "".join(
        f"<tr><td>{g['count']}</td><td><code>{esc(g['signature'] or '')}</code></td><td>{esc(g['label'] or '')}</td>"
        f"<td>{esc(g['signature_text'])}</td><td>{esc(', '.join(g['kernels']))}</td><td>{date(g['first'])}</td>"
        f"<td>{date(g['last'])}</td><td>{esc(g['example'])}</td></tr>\n" for g in summary["groups"])
    dumps = "".join(
        f"<tr><td>{esc(d['path'])}</td><td>{esc(d['status'])}</td><td>{esc(d.get('release') or '')}</td>"
        f"<td>{esc(d.get('label') or d.get('error') or '')}</td>"
        f"<td><code>{esc(d.get('signature') or '')}</code></td></tr>\n"
        for d in summary["dumps"])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kdbg triage</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}</style></head>\n<body>"
            f"<h1>kdbg triage: {len(summary['dumps'])} files, {len(summary['groups'])} groups, "
            f"{len(summary['errors'])} errors</h1>\n<h2>Groups</h2>\n<table id=\"groups\"><tr><th>dumps</th>"
            "<th>signature</th><th>kind</th><th>frames</th><th>kernels</th><th>first</th><th>last</th>"
            f"<th>example</th></tr>\n{rows}</table>\n<h2>Dumps</h2>\n<table id=\"dumps\"><tr><th>file</th>"
            f"<th>status</th><th>kernel</th><th>kind or error</th><th>signature</th></tr>\n{dumps}</table>\n"
            "</body></html>\n")


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: List[str]) -> int:
    """Run ``kdbg triage``; the exit status (0 even when some files are errors: they are
    rows of the summary; 2 for bad usage)."""
    try:
        ns = parse_args(argv)
        paths = find_dumps(ns.paths)
    except KdbgError as e:
        sys.stderr.write(f"kdbg: {e}\n")
        return 2
    out_dir = os.path.abspath(ns.output)
    os.makedirs(os.path.join(out_dir, "reports"), exist_ok=True)
    results: Dict[str, Dict[str, Any]] = {}
    emit: Callable[[Dict[str, Any]], None] = _json_progress if ns.json_progress else (lambda _e: None)
    start = time.monotonic()
    source = _dask(paths, out_dir, ns.dask) if ns.dask else _local(paths, out_dir, ns.jobs)
    try:
        with progress("triage", after=0 if ns.json_progress else None) as bar:
            for path, row in source:
                results[path] = row
                done = len(results)
                bar.update(done, len(paths), os.path.basename(path))
                left = (time.monotonic() - start) / done * (len(paths) - done)
                emit({"done": done, "total": len(paths), "current": path, "status": row["status"],
                      "seconds_left": round(left, 1)})
    except KdbgError as e:
        sys.stderr.write(f"kdbg: {e}\n")
        return 2
    rows = [results[p] for p in paths]
    summary = {"schema": SCHEMA, "dumps": rows, "groups": group(rows),
               "errors": [r for r in rows if r["status"] != "ok"]}
    _write(os.path.join(out_dir, "summary.json"), json.dumps(summary, indent=1) + "\n")
    _write(os.path.join(out_dir, "summary.html"), _render_html(summary))
    sys.stdout.write(f"{len(rows)} files: {len(summary['groups'])} groups, {len(summary['errors'])} errors; "
                     f"{out_dir}/summary.html\n")
    return 0


def _json_progress(event: Dict[str, Any]) -> None:
    sys.stderr.write(json.dumps(event) + "\n")
    sys.stderr.flush()
