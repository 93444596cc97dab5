"""``drgn.helpers.linux``, inside kdbg: every helper of its modules (:mod:`kdbg.compat`)."""

from kdbg.compat.drgn.helpers.export import export
from kdbg.compat.drgn.helpers.names import DRGN_HELPERS

export(globals(), *(key for key in DRGN_HELPERS if key.startswith("linux.")))
