"""``drgn.helpers.common.stack``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "common.stack")
