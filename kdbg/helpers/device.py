"""Devices, buses, classes and device numbers: drgn's ``drgn.helpers.linux.device``.

A bus's or class's devices are on the ``klist_devices`` of its ``struct subsys_private``,
found by walking the registered buses (``bus_kset``) or classes (``class_kset``), as drgn
does on every kernel (the ``bus->p``/``class->p`` shortcut went away in 6.3/6.4). A device
links onto a class through ``device_private.knode_class`` since Linux 5.1 and
``device.knode_class`` before. Registered character and block device numbers are the hash
chains ``chrdevs[]`` and ``major_names[]``. Every walk is bounded and cycle-checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, SupportsIndex, Tuple

from kdbg.core.conversions import NULL, cast
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.helpers.common import Walk, deref_if_pointer, describe_address, has_member, pointer_to, program_cache
from kdbg.helpers.list import list_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "MAJOR",
    "MINOR",
    "MKDEV",
    "bus_for_each_dev",
    "bus_to_subsys",
    "class_for_each_device",
    "class_to_subsys",
    "dev_name",
    "for_each_registered_blkdev",
    "for_each_registered_chrdev",
]

#: ``MINORBITS`` (include/linux/kdev_t.h): a kernel ``dev_t`` is ``major << 20 | minor``.
MINORBITS = 20
_MINORMASK = (1 << MINORBITS) - 1
#: ``KOBJ_MAP`` hash size of ``cdev_map->probes`` (fs/char_dev.c, drivers/base/map.c).
_PROBES = 255


def MAJOR(dev: SupportsIndex) -> int:  # noqa: N802 - the kernel's name
    """The major number of a kernel ``dev_t`` (an object or an ``int``)."""
    return integer_value(dev) >> MINORBITS


def MINOR(dev: SupportsIndex) -> int:  # noqa: N802 - the kernel's name
    """The minor number of a kernel ``dev_t``."""
    return integer_value(dev) & _MINORMASK


def MKDEV(major: SupportsIndex, minor: SupportsIndex) -> int:  # noqa: N802 - the kernel's name
    """The kernel ``dev_t`` of ``major`` and ``minor``."""
    return (integer_value(major) << MINORBITS) | integer_value(minor)


def dev_name(dev: Object) -> bytes:
    """The name of ``dev`` (``struct device *``): its ``init_name`` until it is
    registered, its kobject's name after."""
    d = deref_if_pointer(dev)
    init_name = d.init_name.read_()
    if int(init_name):
        return init_name.string_()
    return d.kobj.name.string_()


def _subsys(prog: Program, kset: str, member: str, target: Object) -> Object:
    address = int(target)
    for sp in list_for_each_entry("struct subsys_private", prog[kset].list.address_of_(), "subsys.kobj.entry"):
        if int(sp.member_(member)) == address:
            return sp
    return NULL(prog, pointer_to(prog, "struct subsys_private"))


def bus_to_subsys(bus: Object) -> Object:
    """The private data of ``bus`` (``struct bus_type *``), ``struct subsys_private *``
    (``NULL`` if the bus is not registered)."""
    return _subsys(bus.prog_, "bus_kset", "bus", bus)


def class_to_subsys(class_: Object) -> Object:
    """The private data of ``class_`` (``struct class *``), ``struct subsys_private *``
    (``NULL`` if the class is not registered)."""
    return _subsys(class_.prog_, "class_kset", "class", class_)


def bus_for_each_dev(bus: Object) -> Iterator[Object]:
    """Every device on ``bus`` (``struct bus_type *``), as ``struct device *``."""
    sp = bus_to_subsys(bus)
    for priv in list_for_each_entry("struct device_private", sp.klist_devices.k_list.address_of_(),
                                    "knode_bus.n_node"):
        yield priv.device.read_()


def class_for_each_device(class_: Object) -> Iterator[Object]:
    """Every device of ``class_`` (``struct class *``), as ``struct device *``."""
    prog = class_.prog_
    private = program_cache(prog, "device.knode_class_private",
                            lambda: has_member(prog, "struct device_private", "knode_class"))
    devices = class_to_subsys(class_).klist_devices.k_list.address_of_()
    if private:
        for priv in list_for_each_entry("struct device_private", devices, "knode_class.n_node"):
            yield priv.device.read_()
    else:
        yield from list_for_each_entry("struct device", devices, "knode_class.n_node")


def _chain(prog: Program, head: Object, what: str) -> Iterator[Object]:
    """The entries of a ``next``-linked hash chain starting at pointer ``head``."""
    walk = Walk(prog, what)
    entry = head.read_()
    while int(entry):
        walk.step(int(entry))
        yield entry
        entry = entry.next.read_()


@takes_program_or_default
def for_each_registered_chrdev(prog: Program) -> Iterator[Tuple[int, int, bytes, Object]]:
    """``(first dev_t, number of minors, name, struct cdev *)`` of every registered range
    of character device numbers, in ``/proc/devices``' hash order. The ``cdev`` is the
    range's own, or else the one ``cdev_add()`` mapped at its first number (``NULL`` if
    none)."""
    chrdevs = prog["chrdevs"]
    probes = prog["cdev_map"].probes
    for i in range(len(chrdevs)):
        for cd in _chain(prog, chrdevs[i], f"chrdevs[{i}] at {describe_address(prog, chrdevs.address_ or 0)}"):
            major = int(cd.major)
            dev = MKDEV(major, int(cd.baseminor))
            cdev = cd.cdev.read_()
            if not int(cdev):
                cdev = _mapped_cdev(prog, probes[major % _PROBES], dev, cdev)
            yield dev, int(cd.minorct), cd.name.string_(), cdev


def _mapped_cdev(prog: Program, head: Object, dev: int, null: Object) -> Object:
    """The ``struct cdev *`` a ``cdev_map`` chain maps at ``dev``, else ``null``. The chain
    ends with the catch-all probe of the whole number space, which is no device's."""
    for probe in _chain(prog, head, f"cdev_map probes of {MAJOR(dev)}:{MINOR(dev)}"):
        if not int(probe.next):
            break
        if int(probe.dev) == dev:
            return cast(null.type_, probe.data)
    return null


@takes_program_or_default
def for_each_registered_blkdev(prog: Program) -> Iterator[Tuple[int, bytes, Object]]:
    """``(major, name, struct blk_major_name *)`` of every registered block device major."""
    names = prog["major_names"]
    for i in range(len(names)):
        for entry in _chain(prog, names[i], f"major_names[{i}]"):
            yield int(entry.major), entry.name.string_(), entry
