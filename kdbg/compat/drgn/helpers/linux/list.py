"""``drgn.helpers.linux.list``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "linux.list")
