"""Mounts, paths and open files: drgn's ``drgn.helpers.linux.fs`` names and signatures.

A mount namespace (``struct mnt_namespace``) lists its mounts (``struct mount``) on
``ns->list`` through ``mnt_list`` before Linux 6.8 and in the red-black tree ``ns->mounts``
through ``mnt_node`` since; the helpers pick by the namespace's BTF members. Paths are
built as the kernel's ``d_path()`` builds them: up the ``d_parent`` chain of dentries, and
from a mount's root to its mount point in its parent mount, until the mount that is its
own parent. Every such walk is bounded and cycle-checked (:class:`kdbg.helpers.common.Walk`):
a corrupt chain raises :class:`~kdbg.errors.ValidationError` naming where it was.

Helpers return ``bytes`` for names and paths, as drgn's do.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator, Optional, SupportsIndex, Tuple, Union

from kdbg.btf.types import Pointer
from kdbg.core.conversions import cast, container_of, sizeof
from kdbg.core.default import takes_object_or_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.errors import KdbgError, NotFoundError, ObjectNotFoundError, ValidationError
from kdbg.helpers.common import Walk, describe_address, pointer_to
from kdbg.helpers.format import escape_ascii_string
from kdbg.helpers.list import hlist_empty, hlist_for_each_entry, list_for_each_entry
from kdbg.helpers.rbtree import rbtree_inorder_for_each_entry
from kdbg.helpers.xarray import xa_for_each, xa_is_value

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "address_space_for_each_page",
    "d_path",
    "decode_file_type",
    "dentry_path",
    "fget",
    "for_each_file",
    "for_each_mount",
    "inode_for_each_page",
    "inode_path",
    "inode_paths",
    "mount_dst",
    "mount_fstype",
    "mount_src",
    "path_lookup",
    "print_files",
    "print_mounts",
    "super_block_for_each_mount",
]

Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

#: ``MNT_INTERNAL`` (include/linux/mount.h, unchanged since 2.6.34).
_MNT_INTERNAL = 0x4000
#: ``S_IFMT`` and the file types under it (include/uapi/linux/stat.h), as drgn names them.
_S_IFMT = 0o170000
_FILE_TYPES = {0o140000: "SOCK", 0o120000: "LNK", 0o100000: "REG", 0o060000: "BLK", 0o040000: "DIR",
               0o020000: "CHR", 0o010000: "FIFO"}
#: More descriptors than any table holds in practice (``fs.nr_open`` defaults to 2^20):
#: a larger ``max_fds`` is garbage, not read.
_MAX_FDS = 1 << 24


def _dcache_mounted(prog: Program) -> int:
    """``DCACHE_MOUNTED``: a macro, ``1 << 16`` until Linux 6.15 repacked the dentry flags
    to ``1 << 15`` (an ``enum dentry_flags`` value from then on)."""
    try:
        return prog.constant("DCACHE_MOUNTED").value_()
    except NotFoundError:
        pass
    try:
        release = prog["init_uts_ns"].name.release.string_().split(b".", 2)
        if (int(release[0]), int(release[1])) >= (6, 15):
            return 1 << 15
    except (KdbgError, ValueError, IndexError):
        pass
    return 1 << 16


def _follow_mount(mnt: Object, dentry: Object) -> Tuple[Object, Object]:
    """Cross mount points: the mount mounted on ``dentry`` in ``mnt`` and its root, again
    while that root is itself a mount point."""
    prog = dentry.prog_
    mounted_flag = _dcache_mounted(prog)
    walk = Walk(prog, f"mounts stacked on dentry {describe_address(prog, int(dentry))}")
    while int(dentry.d_flags) & mounted_flag:
        for child in list_for_each_entry("struct mount", mnt.mnt_mounts.address_of_(), "mnt_child"):
            if int(child.mnt_mountpoint) == int(dentry):
                mnt = child
                dentry = child.mnt.mnt_root.read_()
                walk.step(int(mnt))
                break
        else:
            break
    return mnt, dentry


def _follow_dotdot(mnt: Object, dentry: Object, root_mnt: Object, root_dentry: Object) -> Tuple[Object, Object]:
    walk = Walk(dentry.prog_, f"'..' from dentry {describe_address(dentry.prog_, int(dentry))}")
    while int(dentry) != int(root_dentry) or int(mnt) != int(root_mnt):
        parent = dentry.d_parent.read_()
        if int(dentry) != int(parent):
            dentry = parent
            break
        mnt_parent = mnt.mnt_parent.read_()
        if int(mnt) == int(mnt_parent):
            break
        dentry = mnt.mnt_mountpoint.read_()
        mnt = mnt_parent
        walk.step(int(mnt))
    return _follow_mount(mnt, dentry)


def _children(dentry: Object) -> Iterator[Object]:
    """The child dentries: the hlist ``d_children``/``d_sib`` since Linux 6.8, the list
    ``d_subdirs``/``d_child`` before."""
    try:
        head = dentry.d_children
    except AttributeError:
        return list_for_each_entry("struct dentry", dentry.d_subdirs.address_of_(), "d_child")
    return hlist_for_each_entry("struct dentry", head.address_of_(), "d_sib")


@takes_object_or_program_or_default
def path_lookup(prog: Program, root: Optional[Object], path: Path, *, allow_negative: bool = False) -> Object:
    """Look ``path`` up in the dentry cache, as a ``struct path`` value: drgn's
    ``path_lookup([prog | root,] path)``.

    :param root: ``struct path *`` (or ``struct path``) to start from; ``None``:
        ``init_task.fs->root``.
    :param allow_negative: whether a negative dentry (a cached non-existent name) may be
        returned.
    :raises ObjectNotFoundError: if a component is not in the dentry cache (which does not
        mean it does not exist: it may not be cached), or the dentry is negative.
    """
    if root is None:
        root = prog["init_task"].fs.root
    mnt = root_mnt = container_of(root.mnt.read_(), "struct mount", "mnt")
    dentry = root_dentry = root.dentry.read_()
    components = os.fsencode(path).split(b"/")
    for i, component in enumerate(components):
        if component in (b"", b"."):
            continue
        if component == b"..":
            mnt, dentry = _follow_dotdot(mnt, dentry, root_mnt, root_dentry)
            continue
        for child in _children(dentry):
            if child.d_name.name.string_() == component:
                dentry = child
                break
        else:
            failed = os.fsdecode(b"/".join(components[: i + 1]))
            raise ObjectNotFoundError(f"could not find {failed!r} in dcache")
        mnt, dentry = _follow_mount(mnt, dentry)
    if not allow_negative and not int(dentry.d_inode):
        raise ObjectNotFoundError(f"{os.fsdecode(os.fsencode(path))!r} dentry is negative")
    return Object(prog, "struct path", value={"mnt": int(mnt.mnt.address_of_()), "dentry": int(dentry)})


def _mount_of(vfsmnt: Object) -> Object:
    return container_of(vfsmnt, "struct mount", "mnt")


def _any_mount(dentry: Object) -> Object:
    """A mount of ``dentry``'s super block: the first not internal (internal mounts of
    kernel filesystems sit at "/" and mean nothing to users), else the first."""
    internal = None
    for mnt in super_block_for_each_mount(dentry.d_sb):
        if int(mnt.mnt.mnt_flags) & _MNT_INTERNAL:
            internal = internal or mnt
            continue
        return mnt
    if internal is None:
        raise ObjectNotFoundError(f"no mount of the super block of dentry {int(dentry):#x}")
    return internal


def d_path(arg1: Object, arg2: Optional[Object] = None) -> bytes:
    """The full path of a dentry, as the kernel's ``d_path()`` makes it.

    ``d_path(path)`` takes a ``struct path`` (or ``struct path *``); ``d_path(vfsmnt,
    dentry)`` a ``struct vfsmount *`` and a ``struct dentry *``; ``d_path(dentry)`` alone
    picks one of the dentry's mounts (see :func:`super_block_for_each_mount`). A dentry
    with a ``d_dname`` operation (pipes, sockets, anonymous inodes) gives
    ``[fstype]`` as drgn's does.
    """
    if arg2 is None:
        try:
            mnt = _mount_of(arg1.mnt)
            dentry = arg1.dentry.read_()
        except AttributeError:
            dentry = arg1.read_()
            mnt = _any_mount(dentry)
    else:
        mnt = _mount_of(arg1)
        dentry = arg2.read_()
    prog = dentry.prog_
    d_op = dentry.d_op.read_()
    if int(d_op) and int(d_op.d_dname):
        return b"[" + dentry.d_inode.i_sb.s_type.name.string_() + b"]"
    walk = Walk(prog, f"path of dentry {describe_address(prog, int(dentry))}")
    components = []
    while True:
        if int(dentry) == int(mnt.mnt.mnt_root):
            parent = mnt.mnt_parent.read_()
            if int(parent) == int(mnt):
                break
            dentry = mnt.mnt_mountpoint.read_()
            mnt = parent
            walk.step(int(mnt))
            continue
        parent = dentry.d_parent.read_()
        if int(parent) == int(dentry):
            break
        components.append(dentry.d_name.name.string_())
        dentry = parent
        walk.step(int(dentry))
    return b"/" + b"/".join(reversed(components))


def dentry_path(dentry: Object) -> bytes:
    """The path of a dentry from the root of its filesystem (no mounts crossed)."""
    prog = dentry.prog_
    walk = Walk(prog, f"d_parent chain of dentry {describe_address(prog, int(dentry))}")
    components = []
    while True:
        parent = dentry.d_parent.read_()
        if int(parent) == int(dentry):
            break
        components.append(dentry.d_name.name.string_())
        dentry = parent
        walk.step(int(dentry))
    return b"/".join(reversed(components))


def _d_alias_member(prog: Program) -> str:
    t = prog.type("struct dentry").strip_typedefs()
    return "d_alias" if t.has_member("d_alias") else "d_u.d_alias"


def inode_path(inode: Object) -> Optional[bytes]:
    """Some path of ``inode`` (``struct inode *``) from the root of its filesystem, or
    ``None`` when no dentry refers to it."""
    if hlist_empty(inode.i_dentry):
        return None
    return dentry_path(container_of(inode.i_dentry.first, "struct dentry", _d_alias_member(inode.prog_)))


def inode_paths(inode: Object) -> Iterator[bytes]:
    """Every path of ``inode`` from the root of its filesystem, one per dentry alias."""
    member = _d_alias_member(inode.prog_)
    return (dentry_path(d) for d in hlist_for_each_entry("struct dentry", inode.i_dentry.address_of_(), member))


def mount_src(mnt: Object) -> bytes:
    """The source device name of ``mnt`` (``struct mount *``): ``/proc/mounts``' first
    field."""
    return mnt.mnt_devname.string_()


def mount_dst(mnt: Object) -> bytes:
    """Where ``mnt`` (``struct mount *``) is mounted: ``/proc/mounts``' second field."""
    return d_path(mnt.mnt.address_of_(), mnt.mnt.mnt_root)


def mount_fstype(mnt: Object) -> bytes:
    """The filesystem type of ``mnt`` (``struct mount *``), with its subtype
    (``fuse.sshfs``): ``/proc/mounts``' third field."""
    sb = mnt.mnt.mnt_sb.read_()
    fstype = sb.s_type.name.string_()
    subtype = sb.s_subtype.read_()
    if int(subtype):
        sub = subtype.string_()
        if sub:
            fstype += b"." + sub
    return fstype


def _namespace_mounts(ns: Object) -> Iterator[Object]:
    t = ns.type_.strip_typedefs()
    under = (t.type if isinstance(t, Pointer) else t).strip_typedefs()
    # Before Linux 6.8 (2eea9ce4310d, "mounts: keep list of mounts in an rbtree") struct
    # mnt_namespace had a list; since, an rbtree named "mounts" (before, "mounts" was a
    # count).
    if under.has_member("list"):
        return list_for_each_entry("struct mount", ns.list.address_of_(), "mnt_list")

    return rbtree_inorder_for_each_entry("struct mount", ns.mounts.address_of_(), "mnt_node")


@takes_object_or_program_or_default
def for_each_mount(
    prog: Program,
    ns: Optional[Object],
    *,
    src: Optional[Path] = None,
    dst: Optional[Path] = None,
    fstype: Optional[Union[str, bytes]] = None,
) -> Iterator[Object]:
    """Every mount of a namespace, as ``struct mount *``, in ``/proc/mounts`` order.

    :param ns: ``struct mnt_namespace *``; default the initial namespace
        (``init_task.nsproxy->mnt_ns``).
    :param src: only mounts of this source device name.
    :param dst: only mounts at this path.
    :param fstype: only mounts of this filesystem type.
    """
    if ns is None:
        ns = prog["init_task"].nsproxy.mnt_ns
    src_b = os.fsencode(src) if src is not None else None
    dst_b = os.fsencode(dst) if dst is not None else None
    fstype_b = os.fsencode(fstype) if fstype else None
    for mnt in _namespace_mounts(ns):
        if not int(mnt.mnt.mnt_sb):
            continue  # a cursor of a /proc/mounts reader (Linux 5.8 to 6.8)
        if src_b is not None and mount_src(mnt) != src_b:
            continue
        if dst_b is not None and mount_dst(mnt) != dst_b:
            continue
        if fstype_b is not None and mount_fstype(mnt) != fstype_b:
            continue
        yield mnt


def super_block_for_each_mount(sb: Object) -> Iterator[Object]:
    """Every mount of a super block (``struct super_block *``), as ``struct mount *``:
    the list ``s_mounts``/``mnt_instance``, or since Linux 6.18 the chain
    ``s_mounts``/``mnt_next_for_sb``."""
    s_mounts = sb.s_mounts
    if isinstance(s_mounts.type_.strip_typedefs(), Pointer):
        prog = sb.prog_
        walk = Walk(prog, f"s_mounts of super block {describe_address(prog, int(sb))}")
        mount = s_mounts.read_()
        while int(mount):
            walk.step(int(mount))
            yield mount
            mount = mount.mnt_next_for_sb.read_()
    else:
        yield from list_for_each_entry("struct mount", s_mounts.address_of_(), "mnt_instance")


@takes_object_or_program_or_default
def print_mounts(
    prog: Program,
    ns: Optional[Object],
    *,
    src: Optional[Path] = None,
    dst: Optional[Path] = None,
    fstype: Optional[Union[str, bytes]] = None,
) -> None:
    """Print each mount of :func:`for_each_mount` as ``src dst fstype (struct mount *)ADDR``."""
    for mnt in for_each_mount(prog if ns is None else ns, src=src, dst=dst, fstype=fstype):
        print(
            f"{_escape(mount_src(mnt))} {_escape(mount_dst(mnt))} {_escape(mount_fstype(mnt))} "
            f"({mnt.type_.type_name()}){int(mnt):#x}"
        )


def _escape(name: bytes) -> str:
    """``name`` as drgn prints a path: backslashes and non-printable bytes escaped
    (``\\t``, ``\\x7f``)."""
    return escape_ascii_string(name, escape_backslash=True)


def fget(task: Object, fd: int) -> Object:
    """The ``struct file *`` of file descriptor ``fd`` of ``task`` (``struct task_struct *``)."""
    return task.files.fdt.fd[fd].read_()


def for_each_file(task: Object) -> Iterator[Tuple[int, Object]]:
    """Each ``(fd, struct file *)`` open in ``task`` (``struct task_struct *``)."""
    files = task.files.read_()
    if not int(files):
        return
    fdt = files.fdt.read_()
    max_fds = int(fdt.max_fds)
    if not 0 <= max_fds <= _MAX_FDS:
        raise ValidationError(f"fdtable {int(fdt):#x}: implausible max_fds {max_fds}")
    bits = 8 * sizeof(fdt.open_fds[0])
    words = (max_fds + bits - 1) // bits
    # the open-fd bitmap in one read (at most _MAX_FDS / 8 bytes)
    bitmap = int.from_bytes(task.prog_.read(int(fdt.open_fds), words * bits // 8), "little")
    fd_array = fdt.fd.read_()
    while bitmap:
        fd = (bitmap & -bitmap).bit_length() - 1
        bitmap &= bitmap - 1
        if fd < max_fds:
            yield fd, fd_array[fd].read_()


def print_files(task: Object) -> None:
    """Print each open file of ``task`` as ``fd path (struct file *)ADDR``."""
    for fd, file in for_each_file(task):
        print(f"{fd} {_escape(d_path(file.f_path))} ({file.type_.type_name()}){int(file):#x}")


def decode_file_type(mode: SupportsIndex) -> str:
    """The file type of ``mode`` (``i_mode``, ``st_mode``): ``REG``, ``DIR``, ``CHR``,
    ``BLK``, ``FIFO``, ``LNK``, ``SOCK``, or the type bits in octal (``170000``)."""
    bits = integer_value(mode) & _S_IFMT
    return _FILE_TYPES.get(bits, f"{bits:06o}")


def address_space_for_each_page(mapping: Object) -> Iterator[Tuple[int, Object]]:
    """Each ``(index, struct page *)`` cached in ``mapping`` (``struct address_space *``):
    the entries of its ``i_pages`` xarray but the shadow (value) entries."""
    page_p = pointer_to(mapping.prog_, "struct page")
    for index, entry in xa_for_each(mapping.i_pages.address_of_()):
        if not xa_is_value(entry):
            yield index, cast(page_p, entry)


def inode_for_each_page(inode: Object) -> Iterator[Tuple[int, Object]]:
    """Each ``(index, struct page *)`` cached for ``inode`` (``struct inode *``), from its
    ``i_mapping``."""
    return address_space_for_each_page(inode.i_mapping.read_())
