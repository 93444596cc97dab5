"""``drgn.helpers.linux.list_nulls``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "linux.list_nulls")
