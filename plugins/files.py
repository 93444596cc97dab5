"""``files PID``: a task's open files, like crash's ``files`` (a shipped plugin).

A header names the task (``PID``, ``TASK``, ``CPU``, ``COMMAND``) and its ``ROOT`` and
``CWD``; then one row per open descriptor: ``FD``, the ``struct file``, ``struct dentry``
and ``struct inode`` addresses, the ``TYPE`` from the inode's mode (``REG``, ``DIR``,
``CHR``, ``BLK``, ``FIFO``, ``SOCK``, ``LNK``; ``UNKN`` otherwise) and the ``PATH`` as
``d_path`` makes it (pipes and sockets as ``pipe:[INO]``, ``socket:[INO]``). ``--json``
gives an object with ``pid``, ``task``, ``comm``, ``root``, ``cwd`` and ``files`` (a list
of ``fd``, ``file``, ``dentry``, ``inode``, ``type``, ``path``).  Without ``PID``: the
current context's task (crash's ``set``).

``files -d DENTRY``: the dentry's inode, super block, type and path (crash's columns);
``files -p INODE``: the inode's page-cache pages (``NRPAGES``, then crash's ``struct page``
line of each, as ``vtop`` prints one).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict

from kdbg.core.object import Object
from kdbg.errors import ExpressionError, KdbgError, ObjectNotFoundError
from kdbg.helpers import d_path, find_task, for_each_file, task_cpu
from kdbg.helpers.fs import decode_file_type, dentry_path, inode_for_each_page
from kdbg.helpers.mm import page_to_phys
from kdbg.ui.commands import CommandContext, argument, command
from kdbg.ui.commands.calc import PAGE_HEADER, page_line
from kdbg.ui.commands.context import current_task
from kdbg.ui.commands.memory import address_arg

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


def dentry_row(prog: Any, address: int) -> Dict[str, Any]:
    """``files -d``: the dentry at *address*, its inode, super block, type and path from
    its file system's root (crash's, with a leading ``/``)."""
    dentry = Object(prog, "struct dentry *", value=address)
    inode = dentry.d_inode.read_()
    return {"dentry": address, "inode": int(inode), "superblk": int(dentry.d_sb),
            "type": decode_file_type(inode.i_mode) if int(inode) else "",
            "path": "/" + dentry_path(dentry).decode(errors="replace")}


def inode_pages(prog: Any, address: int) -> Dict[str, Any]:
    """``files -p``: the inode at *address*, its ``nrpages`` and each cached page."""
    inode = Object(prog, "struct inode *", value=address)
    pages = [{"index": index, "page": int(page), "physical": int(page_to_phys(page))}
             for index, page in inode_for_each_page(inode)]
    return {"inode": address, "nrpages": int(inode.i_mapping.nrpages), "pages": pages}


def _dentry_lines(row: Dict[str, Any]) -> str:
    return (f"     DENTRY           INODE           SUPERBLK     TYPE PATH\n"
            f"{row['dentry']:016x} {row['inode']:016x} {row['superblk']:016x} {row['type']:<4} {row['path']}\n")


def _inode_lines(prog: Any, info: Dict[str, Any]) -> str:
    head = f"     INODE        NRPAGES\n{info['inode']:016x} {info['nrpages']:>8}\n"
    if not info["pages"]:
        return head
    page_p = prog.type("struct page *")
    rows = [page_line(prog, Object(prog, page_p, value=p["page"]), p["physical"]) for p in info["pages"]]
    return head + "\n" + PAGE_HEADER + "\n" + "".join(r + "\n" for r in rows)


@command("files", "list a task's open files: fd, file, dentry, inode, type, path (crash's files); "
         "-d a dentry, -p an inode's cached pages",
         arguments=[
             argument("pid", metavar="PID", type=int, nargs="?", help="the task's PID (default: the current context)"),
             argument("-d", dest="dentry", metavar="DENTRY", help="a struct dentry: its inode, super block, path"),
             argument("-p", dest="inode", metavar="INODE", help="a struct inode: its page-cache pages"),
             argument("--json", action="store_true", help="one JSON object"),
         ])
def files(prog: Any, args: argparse.Namespace, ctx: CommandContext) -> None:
    """Print the open files of task ``PID`` (or a dentry, or an inode's pages)."""
    as_json = ctx.json or args.json
    if args.dentry is not None or args.inode is not None:
        if args.pid is not None or (args.dentry is not None and args.inode is not None):
            raise ExpressionError("files: -d DENTRY and -p INODE take nothing else")
        word = args.dentry if args.dentry is not None else args.inode
        try:
            address = address_arg(prog, word)
            data = dentry_row(prog, address) if args.dentry is not None else inode_pages(prog, address)
            text = "" if as_json else _dentry_lines(data) if args.dentry is not None else _inode_lines(prog, data)
        except KdbgError as e:  # a bad word too: the option and the word name it
            raise ExpressionError(f"files: {'-d' if args.dentry is not None else '-p'} {word}: {e}") from None
        ctx.out.write(json.dumps(data) + "\n" if as_json else text)
        return
    try:
        pid = args.pid if args.pid is not None else int(current_task(prog, ctx).pid)
    except KdbgError as e:  # no current context (a dump of a kernel that did not panic)
        raise ExpressionError(f"files: {e}; name a PID") from None
    info = files_of(prog, pid)
    if as_json:
        ctx.out.write(json.dumps(info) + "\n")
        return
    w = ctx.out.write
    w(f"PID: {info['pid']:<6}  TASK: {info['task']:016x}  CPU: {info['cpu']:<3} COMMAND: \"{info['comm']}\"\n")
    w(f"ROOT: {info['root']}    CWD: {info['cwd']}\n")
    w(f"{'FD':>3} {'FILE':<16} {'DENTRY':<16} {'INODE':<16} {'TYPE':<4} PATH\n")
    for r in info["files"]:
        w(f"{r['fd']:>3} {r['file']:016x} {r['dentry']:016x} {r['inode']:016x} {r['type']:<4} {r['path']}\n")
