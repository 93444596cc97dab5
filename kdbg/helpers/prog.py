"""Writing helpers that take a program or use the default one (drgn's
``drgn.helpers.common.prog``): the decorators live with the default program in
:mod:`kdbg.core.default`; this module gives them their helper names."""

from kdbg.core.default import takes_object_or_program_or_default, takes_program_or_default

__all__ = ["takes_object_or_program_or_default", "takes_program_or_default"]
