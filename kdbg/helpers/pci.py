"""PCI: drgn's ``drgn.helpers.linux.pci``.

Every PCI device is a device of ``pci_bus_type`` (``struct pci_dev`` holds its
``struct device`` as ``dev``); the root buses are on ``pci_root_buses`` (through
``node``), a bus's child buses on its ``children`` and its devices on ``devices``
(through ``bus_list``). A device is a bridge when its header type (``hdr_type``) is
``PCI_HEADER_TYPE_BRIDGE`` (1) or ``PCI_HEADER_TYPE_CARDBUS`` (2); its PCI Express type
is bits 4 to 7 of its capability's flags register (``pcie_flags_reg``).
"""

from __future__ import annotations

import enum
import os
from typing import TYPE_CHECKING, Iterator, Union

from kdbg.core.conversions import container_of
from kdbg.core.default import takes_program_or_default
from kdbg.core.object import Object
from kdbg.helpers.common import deref_if_pointer
from kdbg.helpers.device import bus_for_each_dev, dev_name
from kdbg.helpers.list import list_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "for_each_pci_dev", "for_each_pci_root_bus", "pci_bus_for_each_child", "pci_bus_for_each_dev", "pci_bus_name",
    "pci_is_bridge", "pci_name", "pci_pcie_type",
]

#: ``PCI_HEADER_TYPE_BRIDGE`` and ``PCI_HEADER_TYPE_CARDBUS`` (include/uapi/linux/pci_regs.h).
_BRIDGE_HEADERS = (1, 2)
#: ``PCI_EXP_FLAGS_TYPE``.
_EXP_FLAGS_TYPE = 0x00F0


class PCI_EXP_TYPE(enum.IntEnum):  # noqa: N801 - the kernel's (and drgn's) name
    """PCI Express Device/Port Type (``PCI_EXP_TYPE_*``)."""

    ENDPOINT = 0x0
    LEG_END = 0x1
    ROOT_PORT = 0x4
    UPSTREAM = 0x5
    DOWNSTREAM = 0x6
    PCI_BRIDGE = 0x7
    PCIE_BRIDGE = 0x8
    RC_END = 0x9
    RC_EC = 0xA


@takes_program_or_default
def for_each_pci_dev(prog: Program) -> Iterator[Object]:
    """Every PCI device, as ``struct pci_dev *``."""
    pci_dev = prog.type("struct pci_dev")
    for dev in bus_for_each_dev(prog["pci_bus_type"].address_of_()):
        yield container_of(dev, pci_dev, "dev")


@takes_program_or_default
def for_each_pci_root_bus(prog: Program) -> Iterator[Object]:
    """Every PCI root bus, as ``struct pci_bus *``."""
    return list_for_each_entry("struct pci_bus", prog["pci_root_buses"].address_of_(), "node")


def pci_bus_for_each_child(bus: Object) -> Iterator[Object]:
    """Each child bus of ``bus`` (``struct pci_bus *``), as ``struct pci_bus *``."""
    return list_for_each_entry("struct pci_bus", deref_if_pointer(bus).children.address_of_(), "node")


def pci_bus_for_each_dev(bus: Object) -> Iterator[Object]:
    """Each device on ``bus`` (``struct pci_bus *``), as ``struct pci_dev *``."""
    return list_for_each_entry("struct pci_dev", deref_if_pointer(bus).devices.address_of_(), "bus_list")


def pci_name(dev: Object) -> str:
    """The name of ``dev`` (``struct pci_dev *``): ``domain:bus:device.function``."""
    return os.fsdecode(dev_name(deref_if_pointer(dev).dev))


def pci_bus_name(bus: Object) -> str:
    """The name of ``bus`` (``struct pci_bus *``): ``domain:bus``."""
    return os.fsdecode(dev_name(deref_if_pointer(bus).dev))


def pci_is_bridge(dev: Object) -> bool:
    """Whether ``dev`` (``struct pci_dev *``) is a PCI-to-PCI or CardBus bridge."""
    return int(deref_if_pointer(dev).hdr_type) in _BRIDGE_HEADERS


def pci_pcie_type(dev: Object) -> Union[PCI_EXP_TYPE, int]:
    """The PCI Express device/port type of ``dev`` (``struct pci_dev *``): a
    :class:`PCI_EXP_TYPE`, or the number when it is none of them."""
    value = (int(deref_if_pointer(dev).pcie_flags_reg) & _EXP_FLAGS_TYPE) >> 4
    try:
        return PCI_EXP_TYPE(value)
    except ValueError:
        return value
