"""sysfs, the kernfs hierarchy of kobjects: drgn's ``drgn.helpers.linux.sysfs``.

sysfs's root node is ``sysfs_root_kn``. A directory node's ``priv`` is its
``struct kobject``, a file's kobject is its directory's; a kobject's node is ``sd``. What
holds a kobject is told by its ``ktype``: ``device_ktype`` (``struct device``),
``module_ktype`` (``struct module_kobject``), ``driver_ktype`` (``struct
driver_private``, whose ``driver`` is returned), ``class_ktype`` and ``bus_ktype`` (the
kobject of the ``subsys`` kset of a ``struct subsys_private``, whose ``class`` or ``bus``
is returned).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Tuple

from kdbg.core.conversions import NULL, cast, container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.errors import NotFoundError
from kdbg.helpers.common import first_global, pointer_to, symbols_complete, unknown_global
from kdbg.helpers.kernfs import kernfs_children, kernfs_node_is, kernfs_parent, kernfs_path, kernfs_walk

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["kobject_path", "sysfs_listdir", "sysfs_lookup", "sysfs_lookup_kobject", "sysfs_lookup_node"]


def _relative(path: str) -> Optional[str]:
    """``path`` relative to ``/sys`` (an absolute path elsewhere is ``None``)."""
    if not path.startswith("/"):
        return path
    rest = path.lstrip("/")
    if rest == "sys":
        return ""
    if rest.startswith("sys/"):
        return rest[4:].lstrip("/")
    return None


@takes_program_or_default
def sysfs_lookup_node(prog: Program, path: str) -> Object:
    """The ``struct kernfs_node *`` at sysfs path ``path`` (``devices/system/cpu``, or
    absolute, ``/sys/devices/system/cpu``; empty or ``/sys`` is the root), ``NULL`` if
    there is none."""
    relative = _relative(path)
    if relative is None:
        return NULL(prog, pointer_to(prog, "struct kernfs_node"))
    return kernfs_walk(first_global(prog, ("sysfs_root_kn",), "sysfs")[1], relative)


@takes_program_or_default
def sysfs_lookup_kobject(prog: Program, path: str) -> Optional[Object]:
    """The ``struct kobject *`` of sysfs path ``path``: a directory's own, a file's
    directory's; ``NULL`` if there is none."""
    kobject_p = pointer_to(prog, "struct kobject")
    kn = sysfs_lookup_node(prog, path)
    if not int(kn):
        return NULL(prog, kobject_p)
    if not kernfs_node_is(kn, "KERNFS_DIR"):
        kn = kernfs_parent(kn)
        if not int(kn):
            return NULL(prog, kobject_p)
    return cast(kobject_p, kn.priv)


def _ktype(prog: Program, name: str, path: str) -> Optional[int]:
    """The address of the ktype ``name``; ``None`` when the kernel has none
    (``module_ktype`` without ``CONFIG_MODULES``), an error when it may have one kdbg
    cannot find (kallsyms without data symbols: these are static)."""
    try:
        return int(prog[name].address_of_())
    except NotFoundError:
        if symbols_complete(prog):
            return None
        raise unknown_global(prog, name, f"what {path} is") from None


#: The ktypes whose kobjects are held by a known structure, in the order they are tried.
_HOLDERS: Tuple[str, ...] = ("device_ktype", "module_ktype", "driver_ktype", "class_ktype", "bus_ktype")


@takes_program_or_default
def sysfs_lookup(prog: Program, path: str) -> Optional[Object]:
    """The kernel object sysfs path ``path`` shows: a ``struct device *``,
    ``struct module_kobject *``, ``struct device_driver *``, ``struct class *`` or
    ``struct bus_type *`` by the kobject's type, else the ``struct kobject *``
    (``NULL`` if there is none)."""
    kobj = sysfs_lookup_kobject(prog, path)
    if kobj is None or not int(kobj):
        return NULL(prog, pointer_to(prog, "struct kobject"))
    ktype = int(kobj.ktype)
    for name in _HOLDERS:
        if _ktype(prog, name, path) != ktype:
            continue
        if name == "device_ktype":
            return container_of(kobj, "struct device", "kobj")
        if name == "module_ktype":
            return container_of(kobj, "struct module_kobject", "kobj")
        if name == "driver_ktype":
            return container_of(kobj, "struct driver_private", "kobj").driver.read_()
        subsys = container_of(container_of(kobj, "struct kset", "kobj"), "struct subsys_private", "subsys")
        return subsys.member_("class" if name == "class_ktype" else "bus").read_()
    return kobj


@takes_program_or_default
def sysfs_listdir(prog: Program, path: str) -> List[bytes]:
    """The names in sysfs directory ``path``; a path that does not exist or is not a
    directory is a :class:`ValueError`."""
    kn = sysfs_lookup_node(prog, path)
    if not int(kn):
        raise ValueError(f"{path}: not found")
    return [child.name.string_() for child in kernfs_children(kn)]


def kobject_path(kobj: Object) -> bytes:
    """The sysfs path of ``kobj`` (``struct kobject *``): ``/sys/devices/...``."""
    path = kernfs_path(kobj.sd.read_())
    return b"/sys" if path == b"/" else b"/sys" + path
