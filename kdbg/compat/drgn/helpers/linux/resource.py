"""``drgn.helpers.linux.resource``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "linux.resource")
