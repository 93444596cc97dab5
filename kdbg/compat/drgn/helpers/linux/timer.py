"""``drgn.helpers.linux.timer``, inside kdbg (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export

export(globals(), "linux.timer")
