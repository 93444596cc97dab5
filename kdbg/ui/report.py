"""``kdbg report VMCORE [-o DIR] [--format text|json|html]``: what happened in one dump.

One command gathers what retrace-server, apport and corelens each run crash for, from any
target kdbg opens (a live ``/proc/kcore`` too):

* ``summary``: crash's ``sys`` fields (:func:`kdbg.ui.commands.system.sys_fields`), the
  panic line, the taint flags by name, the crashed CPU and task, the crash kind
  (:mod:`kdbg.fleet.kind`) and the crash signature (:mod:`kdbg.fleet.signature`) of the
  crashed task's stack (of a hung task, the stack of the task the detector named:
  :func:`signature_task`; ``signature.pid`` says whose);
* ``crashed_stack``: the crashed task's stack, with the register blocks (``bt``'s text and
  ``--json`` frames);
* ``oops``: the log's lines from the cause line to the panic;
* ``blocked``: every task in D state, with its stack and how long since it last ran;
* ``cpus``: each CPU's current task and run-queue length;
* ``memory``: total, free and slab pages; ``slabs``: the ten largest slab caches;
* ``modules``: each module with its size and taint letters; ``mounts``;
* ``log``: the last 200 lines of the kernel log.

A section that cannot be read (pages excluded or missing, a structure the kernel lacks)
is ``{"error": "..."}`` and says so in the text and HTML; it never stops the report.

**JSON schema** (``"schema": "kdbg-report/1"``; a later version adds fields, and bumps the
number when it changes or removes one): an object with ``schema``, ``target`` (the dump's
description and warnings) and one key per section above. Text is for a terminal; HTML is
one static file with its style inline, readable without JavaScript or network.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple

from kdbg.core.platform import machine_of
from kdbg.errors import KdbgError
from kdbg.fleet.kind import CrashKind, classify
from kdbg.fleet.signature import Signature, signature
from kdbg.fleet.taint import taint_names
from kdbg.helpers import for_each_task
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.cpumask import for_each_online_cpu
from kdbg.helpers.fs import for_each_mount, mount_dst, mount_fstype, mount_src
from kdbg.helpers.mm import totalram_pages
from kdbg.helpers.module import for_each_module, module_name, module_taints, module_total_size
from kdbg.helpers.pid import find_task
from kdbg.helpers.sched import cpu_curr, cpu_rq, latest_rq_clock, task_cpu, task_state_to_char
from kdbg.helpers.slab import for_each_slab_cache, slab_cache_usage, slab_total_usage
from kdbg.helpers.vmstat import nr_free_pages
from kdbg.ui.commands.stack import header, trace_json, write_trace
from kdbg.ui.commands.system import log_lines, sys_fields
from kdbg.ui.tool import ToolParser
from kdbg.unwind import crashed_thread, stack_trace

__all__ = ["COMMAND", "SCHEMA", "FORMATS", "build_report", "crash_signature", "render", "parse_args", "run",
           "signature_task"]

#: The first word of the command line that selects this tool.
COMMAND = "report"
#: The JSON schema's name and version.
SCHEMA = "kdbg-report/1"
FORMATS = ("text", "json", "html")
USAGE = "kdbg report VMCORE [-o DIR] [--format text|json|html] [-q]"
#: Log lines the report keeps, and slab caches.
LOG_LINES = 200
TOP_SLABS = 10

_Errors = (KdbgError, LookupError, ValueError, OverflowError)


def parse_args(argv: List[str]) -> argparse.Namespace:
    """``kdbg report``'s arguments, as a namespace the session runner takes."""
    p = ToolParser(prog="kdbg report", usage=USAGE, description=__doc__.split("\n\n")[1])
    p.add_argument("core", metavar="VMCORE", nargs="?", help="the dump (default: the live kernel)")
    p.add_argument("-o", "--output", dest="report_dir", metavar="DIR",
                   help="write report.<format> into DIR (every format without --format)")
    p.add_argument("--format", choices=FORMATS, help="text (default on a terminal), json or html")
    p.add_argument("-q", "--quiet", action="store_true", help="no notices")
    p.add_argument("--plugin-path", metavar="DIR", action="append", default=[], help="also load plugins from DIR")
    p.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    ns = p.parse_args(argv)
    ns.btf, ns.kallsyms, ns.json = [], None, False
    ns.commands = ns.code = ns.script = None
    ns.args = []
    return ns


def _section(func: Callable[[], Any]) -> Any:
    """``func()``, or ``{"error": ...}`` naming why it failed: one unreadable section
    (an excluded page, a structure this kernel lacks, a helper's bug) never stops the
    report."""
    try:
        return func()
    except _Errors as e:
        return {"error": str(e)}
    except Exception as e:  # noqa: BLE001 - named in the report, never hidden
        return {"error": f"{type(e).__name__}: {e}"}


def _trace(prog: Any, task: Any) -> Dict[str, Any]:
    trace = stack_trace(prog, task)
    text = io.StringIO()
    write_trace(trace, text)
    return {"text": text.getvalue(), **trace_json(trace)}


def _log_text(prog: Any) -> List[str]:
    return log_lines(prog, "none")


def signature_task(prog: Any, kind: CrashKind) -> Any:
    """The task whose stack is the crash's signature: for a hung task, the task the
    detector named (the panicking one is only the detector); else the crashed task."""
    pid = kind.blocked_pid
    if pid is None:
        return deref_if_pointer(crashed_thread(prog).object)
    task = find_task(prog, pid)
    if not int(task):
        raise LookupError(f"the hung task the log names (PID {pid}) is not in the dump's task list")
    return deref_if_pointer(task)


def crash_signature(prog: Any, kind: CrashKind) -> Tuple[Signature, Any]:
    """The signature of a crash of ``kind`` in ``prog`` and the task whose stack it is."""
    task = signature_task(prog, kind)
    machine = machine_of(prog)
    return signature(kind.kind, [(f.name, f.module) for f in stack_trace(prog, task)], machine), task


def _summary(prog: Any, kind: CrashKind) -> Dict[str, Any]:
    fields = _section(partial(sys_fields, prog))
    out: Dict[str, Any] = {"sys_error": fields["error"]} if _error(fields) else dict(fields)
    out["taint"] = _section(partial(_taint, prog))
    out["kind"] = {"kind": kind.kind, "label": kind.label, "evidence": kind.evidence, "panic": kind.panic}
    if kind.kind in ("none", "unknown"):
        out["crashed"] = None
        out["signature"] = None
        return out
    try:
        task = deref_if_pointer(crashed_thread(prog).object)
        sig, whose = crash_signature(prog, kind)
        out["crashed"] = {"cpu": task_cpu(task), "pid": int(task.pid),
                          "comm": task.comm.string_().decode("utf-8", "replace"), "task": int(task.address_of_()),
                          "header": header(task)}
        out["signature"] = {"digest": sig.digest, "kind": sig.kind, "frames": list(sig.frames), "text": str(sig),
                            "pid": int(whose.pid)}
    except _Errors as e:
        out["crashed"] = None
        out["signature"] = {"error": str(e)}
    return out


def _taint(prog: Any) -> Dict[str, Any]:
    mask = int(prog["tainted_mask"])
    return {"mask": mask, "flags": taint_names(mask)}


def _oops(lines: List[str], kind: CrashKind) -> List[str]:
    if kind.evidence is None:
        return []
    start = max((i for i, ln in enumerate(lines) if ln.strip() == kind.evidence), default=None)
    if start is None:
        return []
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("Kernel panic - not syncing")),
               len(lines) - 1)
    return lines[start:end + 1]


def _blocked(prog: Any) -> List[Dict[str, Any]]:
    """The D-state tasks, each with its stack and its wait: from its last arrival on a CPU to
    the latest runqueue clock of any CPU (its own CPU's clock stops while that CPU idles, so
    the hung-task detector's "blocked for more than N seconds" can exceed the wait measured
    against it)."""
    out = []
    now = _section(partial(latest_rq_clock, prog))
    for task_p in for_each_task(prog):
        task = deref_if_pointer(task_p)
        if task_state_to_char(task) != "D":
            continue
        entry: Dict[str, Any] = {"pid": int(task.pid), "comm": task.comm.string_().decode("utf-8", "replace"),
                                 "task": int(task.address_of_()), "header": header(task)}
        entry["waiting_ns"] = _section(partial(_waited, task, now))
        entry["stack"] = _section(partial(_trace, prog, task))
        out.append(entry)
    return out


def _waited(task: Any, now: Any) -> int:
    if isinstance(now, dict):
        raise KdbgError(f"no runqueue clock: {now['error']}")
    return now - int(task.sched_info.last_arrival)


def _cpus(prog: Any) -> List[Dict[str, Any]]:
    out = []
    for cpu in for_each_online_cpu(prog):
        curr = cpu_curr(prog, cpu)
        out.append({"cpu": cpu, "pid": int(curr.pid), "comm": curr.comm.string_().decode("utf-8", "replace"),
                    "task": int(curr.value_()), "nr_running": int(cpu_rq(prog, cpu).nr_running)})
    return out


def _memory(prog: Any) -> Dict[str, Any]:
    page_size = int(prog["PAGE_SIZE"])
    slab = _section(lambda: slab_total_usage(prog).total_pages)
    return {"page_size": page_size, "total_pages": totalram_pages(prog), "free_pages": nr_free_pages(prog),
            "slab_pages": slab if isinstance(slab, int) else 0}


def _slabs(prog: Any) -> List[Dict[str, Any]]:
    rows: List[Dict[str, Any]] = []
    for cache in for_each_slab_cache(prog):
        usage = slab_cache_usage(cache)
        size = int(cache.size)
        rows.append({"name": cache.name.string_().decode("utf-8", "replace"), "objects": usage.num_objs,
                     "active": usage.active_objs, "object_size": size, "bytes": usage.num_objs * size})
    rows.sort(key=lambda r: (-r["bytes"], r["name"]))
    return rows[:TOP_SLABS]


def _modules(prog: Any) -> List[Dict[str, Any]]:
    return [{"name": module_name(m), "size": module_total_size(m), "taint": module_taints(m)}
            for m in for_each_module(prog)]


def _mounts(prog: Any) -> List[Dict[str, Any]]:
    return [{"source": mount_src(m).decode("utf-8", "replace"), "target": mount_dst(m).decode("utf-8", "replace"),
             "type": mount_fstype(m).decode("utf-8", "replace")} for m in for_each_mount(prog)]


def build_report(prog: Any) -> Dict[str, Any]:
    """The report of ``prog``'s target as one JSON-able object (see the module docstring)."""
    memory = getattr(prog, "memory", None)
    lines = _section(lambda: _log_text(prog))
    log = lines if isinstance(lines, list) else []
    kind = classify(log) if isinstance(lines, list) else CrashKind("unknown", _error(lines), None)
    report: Dict[str, Any] = {
        "schema": SCHEMA,
        "target": {"description": getattr(prog, "description", ""),
                   "warnings": list(getattr(memory, "warnings", []) or [])},
        "summary": _section(lambda: _summary(prog, kind)),
        "crashed_stack": _section(lambda: _trace(prog, crashed_thread(prog).object)),
        "oops": _oops(log, kind),
        "blocked": _section(lambda: _blocked(prog)),
        "cpus": _section(lambda: _cpus(prog)),
        "memory": _section(lambda: _memory(prog)),
        "slabs": _section(lambda: _slabs(prog)),
        "modules": _section(lambda: _modules(prog)),
        "mounts": _section(lambda: _mounts(prog)),
        "log": lines if isinstance(lines, dict) else log[-LOG_LINES:],
    }
    return report


# --------------------------------------------------------------------------- rendering


def _error(value: Any) -> Optional[str]:
    return value.get("error") if isinstance(value, dict) else None


def _text_sections(r: Dict[str, Any]) -> List[Tuple[str, List[str]]]:
    """The report as ``(title, lines)`` pairs: the text form, and the HTML form's content."""
    out: List[Tuple[str, List[str]]] = []
    s = r["summary"]
    if _error(s):
        out.append(("Summary", [f"(cannot be read: {_error(s)})"]))
    else:
        crashed = s.get("crashed")
        sig = s.get("signature")
        rows: List[Tuple[str, Any]] = [("KIND", s["kind"]["label"]), ("PANIC", s.get("panic")),
                ("SIGNATURE", "(no crash)" if sig is None else f"(cannot be read: {_error(sig)})" if _error(sig)
                 else f"{sig['digest']}  {sig['text']}"),
                ("CRASHED", crashed["header"] if crashed else "(no crashed task)")]
        if "sys_error" in s:
            rows.append(("SYSTEM", f"(cannot be read: {s['sys_error']})"))
        else:
            rows += [("RELEASE", s["release"]), ("VERSION", s["version"]), ("MACHINE", s["machine"]),
                     ("NODENAME", s["nodename"]),
                     ("CPUS", f"{s['cpus']}" + (f" [OFFLINE: {s['offline']}]" if s["offline"] else "")),
                     ("UPTIME", f"{s['uptime']} s"),
                     ("LOAD AVERAGE", ", ".join(f"{v:.2f}" for v in s["load_average"])),
                     ("TASKS", str(s["tasks"])), ("MEMORY", f"{s['memory_pages'] * s['page_size'] >> 20} MiB")]
        taint = s["taint"]
        rows.append(("TAINT", f"(cannot be read: {_error(taint)})" if _error(taint) else
                     " ".join(f"{f['letter']} ({f['name']})" for f in taint["flags"]) or "not tainted"))
        out.append(("Summary", [f"{k:>12}: {v}" for k, v in rows if v is not None]))
    st = r["crashed_stack"]
    out.append(("Crashed task's stack", [f"(cannot be read: {_error(st)})"] if _error(st) else st["text"].splitlines()))
    out.append(("Oops", r["oops"] or ["(the log names no cause)"]))
    b = r["blocked"]
    if _error(b):
        out.append(("Tasks in D state", [f"(cannot be read: {_error(b)})"]))
    else:
        lines: List[str] = []
        for t in b:
            wait = t["waiting_ns"]
            lines.append(t["header"] + (f"  (not run for {wait / 1e9:.1f} s)" if isinstance(wait, int) else ""))
            stack = t["stack"]
            lines.extend(f"(cannot be read: {_error(stack)})" if _error(stack) else stack["text"].splitlines())
        out.append(("Tasks in D state", lines or ["(none)"]))
    for key, title, fmt in (
        ("cpus", "CPUs", lambda c: f"CPU {c['cpu']}: PID {c['pid']} {c['comm']} (run queue: {c['nr_running']})"),
        ("slabs", "Largest slab caches",
         lambda c: f"{c['name']:<24} {c['objects']:>8} objects of {c['object_size']:>6} B  {c['bytes'] >> 10:>8} KiB"),
        ("modules", "Modules", lambda m: f"{m['name']:<24} {m['size']:>8}  {m['taint'] or '-'}"),
        ("mounts", "Mounts", lambda m: f"{m['source']} {m['target']} {m['type']}"),
    ):
        value = r[key]
        out.append((title, [f"(cannot be read: {_error(value)})"] if _error(value) else [fmt(x) for x in value]))
    m = r["memory"]
    out.append(("Memory", [f"(cannot be read: {_error(m)})"] if _error(m) else
                [f"{k}: {m[k] * m['page_size'] >> 10} KiB" for k in ("total_pages", "free_pages", "slab_pages")]))
    log = r["log"]
    out.append((f"Last {LOG_LINES} log lines", [f"(cannot be read: {_error(log)})"] if _error(log) else log))
    if r["target"]["warnings"]:
        out.insert(0, ("Warnings", r["target"]["warnings"]))
    return out


def render(report: Dict[str, Any], fmt: str) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return json.dumps(report, indent=1) + "\n"
    sections = _text_sections(report)
    if fmt == "text":
        return "".join(f"== {title}\n" + "".join(line + "\n" for line in lines) + "\n" for title, lines in sections)
    title = html.escape(f"kdbg report: {report['target']['description']}")
    body = "".join(f'<section><h2>{html.escape(t)}</h2><pre>{html.escape(chr(10).join(lines))}</pre></section>\n'
                   for t, lines in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}"
            "h2{border-bottom:1px solid #ccc}</style></head>\n"
            f"<body><h1>{title}</h1>\n{body}</body></html>\n")


def run(prog: Any, ns: argparse.Namespace, ctx: Any) -> int:
    """Build the report and write it to stdout (in ``ns.format``, text by default) or into
    ``ns.report_dir``; the exit status."""
    report = build_report(prog)
    if ns.report_dir:
        os.makedirs(ns.report_dir, exist_ok=True)
        suffix = {"text": "txt", "json": "json", "html": "html"}
        for fmt in ([ns.format] if ns.format else FORMATS):
            with open(os.path.join(ns.report_dir, f"report.{suffix[fmt]}"), "w") as f:
                f.write(render(report, fmt))
        return 0
    ctx.out.write(render(report, ns.format or "text"))
    return 0
