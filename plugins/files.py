"""``files PID``: a task's open files, like crash's ``files`` (a shipped plugin).

A header names the task (``PID``, ``TASK``, ``CPU``, ``COMMAND``) and its ``ROOT`` and
``CWD``; then one row per open descriptor: ``FD``, the ``struct file``, ``struct dentry``
and ``struct inode`` addresses, the ``TYPE`` from the inode's mode (``REG``, ``DIR``,
``CHR``, ``BLK``, ``FIFO``, ``SOCK``, ``LNK``; ``UNKN`` otherwise) and the ``PATH`` as
``d_path`` makes it (pipes and sockets as ``pipe:[INO]``, ``socket:[INO]``). ``--json``
gives an object with ``pid``, ``task``, ``comm``, ``root``, ``cwd`` and ``files`` (a list
of ``fd``, ``file``, ``dentry``, ``inode``, ``type``, ``path``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from kdbg.errors import ObjectNotFoundError
from kdbg.helpers import d_path, find_task, for_each_file, task_cpu
from kdbg.ui.commands import CommandContext, argument, command

_S_IFMT = 0o170000
#: ``S_IF*`` file types as crash names them.
FILE_TYPES = {0o100000: "REG", 0o040000: "DIR", 0o020000: "CHR", 0o060000: "BLK", 0o010000: "FIFO",
              0o140000: "SOCK", 0o120000: "LNK"}


def _path(path: Any) -> str:
    return d_path(path).decode(errors="replace")


def files_of(prog: Any, pid: int) -> Dict[str, Any]:
    """The ``--json`` object for PID ``pid``."""
    task = find_task(prog, pid)
    if not int(task):
        raise ObjectNotFoundError(f"files: no task with PID {pid}")
    fs = task.fs.read_()
    out: Dict[str, Any] = {
        "pid": pid,
        "task": int(task),
        "cpu": task_cpu(task),
        "comm": task.comm.string_().decode(errors="replace"),
        "root": _path(fs.root) if int(fs) else None,
        "cwd": _path(fs.pwd) if int(fs) else None,
        "files": [],
    }
    for fd, f in for_each_file(task):
        if not int(f):
            continue  # a descriptor being opened: reserved, no file yet
        dentry = f.f_path.dentry.read_()
        inode = f.f_inode.read_()
        mode = int(inode.i_mode) if int(inode) else 0
        out["files"].append({
            "fd": fd,
            "file": int(f),
            "dentry": int(dentry),
            "inode": int(inode),
            "type": FILE_TYPES.get(mode & _S_IFMT, "UNKN"),
            "path": _path(f.f_path),
        })
    return out


@command("files", "list a task's open files: fd, file, dentry, inode, type, path (crash's files)",
         arguments=[
             argument("pid", metavar="PID", type=int, help="the task's PID"),
             argument("--json", action="store_true", help="one JSON object"),
         ])
def files(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the open files of task ``PID``."""
    info = files_of(prog, args.pid)
    if ctx.json or args.json:
        ctx.out.write(json.dumps(info) + "\n")
        return
    w = ctx.out.write
    w(f"PID: {info['pid']:<6}  TASK: {info['task']:016x}  CPU: {info['cpu']:<3} COMMAND: \"{info['comm']}\"\n")
    w(f"ROOT: {info['root']}    CWD: {info['cwd']}\n")
    w(f"{'FD':>3} {'FILE':<16} {'DENTRY':<16} {'INODE':<16} {'TYPE':<4} PATH\n")
    for r in info["files"]:
        w(f"{r['fd']:>3} {r['file']:016x} {r['dentry']:016x} {r['inode']:016x} {r['type']:<4} {r['path']}\n")
