"""``drgn.helpers.linux.tcp``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "linux.tcp")
