"""The fs helpers (``kdbg.helpers.fs``) and the ``mount`` command.

Ground truth: the guest's ``/proc/mounts`` (``truth/mounts``; the guest ran busybox as init
on its initramfs, no chroot, so the initial namespace is what it read) and drgn's own
``for_each_mount``, ``d_path``, ``path_lookup``, ``dentry_path`` and ``for_each_file`` with
Debian's DWARF on the same memory. Corrupt mount lists and dentry chains (patched through a
memory overlay) end in one-line ``ValidationError``s.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any, List, Tuple

import pytest

import kdbg
from kdbg.errors import ObjectNotFoundError, ValidationError
from kdbg.helpers.fs import (
    d_path,
    dentry_path,
    for_each_file,
    for_each_mount,
    inode_path,
    mount_dst,
    mount_fstype,
    mount_src,
    path_lookup,
)
from kdbg.helpers.pid import find_task, for_each_task
from tests.cli_support import clean_env
from tests.conftest import ROOT, resolve_dump
from tests.helpers_oracle import helper_answers
from tests.helpers_support import dump_ids, helper_dumps, open_dump
from tests.memory_overlay import overlay
from vmcores.debian import SUITES

DUMPS = helper_dumps(filtered_trixie=False)


def _fresh(suite: str) -> Any:
    return kdbg.open_core(str(resolve_dump(suite, "kdump-zlib", "qemu").path))


def _unescape(field: str) -> str:
    """``/proc/mounts`` escapes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def _proc_mounts(truth: Any) -> List[Tuple[str, str, str]]:
    rows = []
    for line in (truth / "mounts").read_text().splitlines():
        src, dst, fstype = line.split(" ")[:3]
        rows.append((_unescape(src), _unescape(dst), _unescape(fstype)))
    return rows


@pytest.mark.parametrize("dump", DUMPS, ids=dump_ids)
def test_mounts_equal_proc_mounts(dump: Tuple[str, str, str]) -> None:
    """(source, mount point, fstype) of every mount, in order, equal the guest's
    ``/proc/mounts``."""
    prog = open_dump(*dump)
    got = [(mount_src(m).decode(), mount_dst(m).decode(), mount_fstype(m).decode()) for m in for_each_mount(prog)]
    want = _proc_mounts(resolve_dump(*dump).truth)
    assert len(want) >= 5
    assert got == want


def test_filtered_trixie_dump_says_excluded() -> None:
    """Where the dump lacks the slab pages (see helper_dumps in tests/helpers_support.py), the mounts are a one-line
    FaultError saying the page was excluded from the dump, not garbage or a traceback."""
    prog = open_dump("trixie", "kdump-d31", "makedumpfile")
    with pytest.raises(kdbg.FaultError) as info:
        [mount_dst(m) for m in for_each_mount(prog)]
    assert "excluded from the dump" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("suite", SUITES)
def test_mounts_equal_drgn(suite: str) -> None:
    """The same mounts at the same ``struct mount`` addresses as drgn's for_each_mount;
    the filters pick what they name."""
    prog = open_dump(suite)
    got = [[mount_src(m).decode(), mount_dst(m).decode(), mount_fstype(m).decode(), int(m)]
           for m in for_each_mount(prog)]
    assert got == helper_answers(suite)["fs.mounts"]
    assert [mount_dst(m) for m in for_each_mount(prog, fstype="proc")] == [b"/proc"]
    assert [mount_src(m) for m in for_each_mount(prog, dst="/tmp")] == [b"tmpfs"]
    assert [mount_fstype(m) for m in for_each_mount(prog, src=b"sysfs")] == [b"sysfs"]
    assert list(for_each_mount(prog, fstype="ext4")) == []
    ns = prog["init_task"].nsproxy.mnt_ns
    # drgn's form: the namespace replaces the program
    assert [int(m) for m in for_each_mount(ns)] == [row[3] for row in got]


@pytest.mark.parametrize("suite", SUITES)
def test_paths_equal_drgn(suite: str) -> None:
    """path_lookup (with '..' and a mount crossed), d_path of a struct path, of a
    (vfsmount, dentry) pair and of a dentry alone, dentry_path, inode_path: drgn's paths."""
    prog = open_dump(suite)
    names = ["/", "/proc", "/dev/console", "/proc/../dev", "/bin/busybox", "/tmp"]
    paths = [path_lookup(prog, p) for p in names]
    console = paths[2]
    got = [d_path(p).decode() for p in paths] + [dentry_path(console.dentry).decode()]
    assert got == helper_answers(suite)["fs.paths"]
    assert d_path(console.mnt, console.dentry) == b"/dev/console"
    assert d_path(paths[1].dentry) == b"/proc"  # the one mount of proc that is not internal
    # a pointer to a struct path in memory: init's standard input (/dev/console, as drgn's
    # fs.files says); path_lookup's own result is a value, with no address to point at
    stdin = dict(for_each_file(find_task(prog, 1)))[0].f_path.address_of_()
    assert stdin.type_.type_name() == "struct path *" and console.address_ is None
    assert helper_answers(suite)["fs.files"]["1"][0] == [0, "/dev/console"]
    assert d_path(stdin) == b"/dev/console"
    assert inode_path(console.dentry.d_inode) == b"console"
    assert d_path(path_lookup(prog, "/proc", allow_negative=True)) == b"/proc"
    with pytest.raises(ObjectNotFoundError) as info:
        path_lookup(prog, "/no/such/file")
    assert "'/no' in dcache" in str(info.value)


@pytest.mark.parametrize("suite", SUITES)
def test_open_files_equal_drgn(suite: str) -> None:
    """Every task's open files (fd and d_path) equal drgn's for_each_file + d_path; a
    descriptor being opened (reserved, no file yet) is a NULL file, as in drgn."""
    prog = open_dump(suite)
    got = {}
    for t in for_each_task(prog):
        got[str(int(t.pid))] = [[fd, d_path(f.f_path).decode("latin-1")] for fd, f in for_each_file(t) if int(f)]
    assert got == helper_answers(suite)["fs.files"]
    assert got["1"][:3] == [[0, "/dev/console"], [1, "/dev/console"], [2, "/dev/console"]]


@pytest.mark.parametrize("suite", SUITES)
def test_mount_command(suite: str) -> None:
    """``kdbg -c DUMP -x mount`` lists the guest's /proc/mounts rows; ``--json`` the same
    as objects with the struct mount and super_block addresses."""
    dump = resolve_dump(suite, "kdump-zlib", "qemu")
    base = [sys.executable, "-m", "kdbg", "-c", str(dump.path)]
    run = subprocess.run([*base, "-x", "mount"], capture_output=True, cwd=ROOT, text=True, env=clean_env())
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["MOUNT", "SUPERBLK", "TYPE", "DEVNAME", "DIRNAME"]
    want = _proc_mounts(dump.truth)
    assert [tuple(ln.split()[2:5]) for ln in lines[1:]] == [(f, s, d) for s, d, f in want]
    run = subprocess.run([*base, "--json", "-x", "mount"], capture_output=True, cwd=ROOT, text=True, env=clean_env())
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [(r["source"], r["target"], r["fstype"]) for r in rows] == want
    assert [r["mount"] for r in rows] == [m[3] for m in helper_answers(suite)["fs.mounts"]]
    run = subprocess.run([*base, "-x", "mount /proc"], capture_output=True, cwd=ROOT, text=True, env=clean_env())
    assert run.returncode == 1 and run.stderr.count("\n") == 1


# ---------------------------------------------------------------- corrupt structures


def _word(value: int) -> bytes:
    return (value & ((1 << 64) - 1)).to_bytes(8, "little")


@pytest.mark.parametrize("suite", SUITES)
def test_cyclic_mount_list_is_one_line_error(suite: str) -> None:
    """A namespace's mounts linked in a cycle that never returns to the head (list) or a
    tree that loops (rbtree, 6.8 and later): one-line ValidationError, no hang."""
    prog = _fresh(suite)
    mounts = list(for_each_mount(prog))
    ov = overlay(prog)
    mount_t = prog.type("struct mount").strip_typedefs()
    if mount_t.has_member("mnt_list") and prog["init_task"].nsproxy.mnt_ns[0].type_.has_member("list"):
        off = mount_t.offsetof("mnt_list")
        # the third mount's next points back at the second: head, 1, 2, 3, 2, 3, ...
        ov.patches[int(mounts[2]) + off] = _word(int(mounts[1]) + off)
    else:
        node = mount_t.offsetof("mnt_node")
        rb_left = prog.type("struct rb_node").strip_typedefs().offsetof("rb_left")
        rb_right = prog.type("struct rb_node").strip_typedefs().offsetof("rb_right")
        # every node's children point at the first mount's node: a loop
        for m in mounts:
            ov.patches[int(m) + node + rb_left] = _word(int(mounts[0]) + node)
            ov.patches[int(m) + node + rb_right] = _word(int(mounts[0]) + node)
    with pytest.raises(ValidationError) as info:
        for _ in for_each_mount(prog):
            pass
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suite", SUITES)
def test_cyclic_dentry_chain_is_one_line_error(suite: str) -> None:
    """A d_parent chain that loops: dentry_path and d_path end in a one-line
    ValidationError naming the dentry; a mount that is its own child's parent too."""
    prog = _fresh(suite)
    console = path_lookup(prog, "/dev/console")
    root = console.dentry.d_parent.read_()
    d_parent = prog.type("struct dentry").strip_typedefs().offsetof("d_parent")
    ov = overlay(prog)
    ov.patches[int(root) + d_parent] = _word(int(console.dentry))
    with pytest.raises(ValidationError) as info:
        dentry_path(console.dentry)
    assert "\n" not in str(info.value) and f"{int(console.dentry):#x}" in str(info.value)
    busybox = path_lookup(prog, "/bin/busybox")
    bin_dir = busybox.dentry.d_parent.read_()
    ov.patches[int(bin_dir) + d_parent] = _word(int(busybox.dentry))
    with pytest.raises(ValidationError) as info:
        d_path(busybox)
    assert "\n" not in str(info.value)


def test_garbage_fd_table_is_one_line_error() -> None:
    """An fd table claiming 2^31 descriptors is refused in one line, not walked."""
    prog = _fresh("bookworm")
    task = next(t for t in for_each_task(prog) if int(t.pid) == 1)
    fdt = task.files.fdt.read_()
    off = prog.type("struct fdtable").strip_typedefs().offsetof("max_fds")
    overlay(prog).patches[int(fdt) + off] = (1 << 31).to_bytes(4, "little")
    with pytest.raises(ValidationError) as info:
        list(for_each_file(task))
    assert "\n" not in str(info.value) and "max_fds" in str(info.value)
