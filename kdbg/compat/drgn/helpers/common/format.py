"""``drgn.helpers.common.format``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "common.format")
