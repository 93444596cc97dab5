"""The core: :class:`~kdbg.core.program.Program`, :class:`~kdbg.core.object.Object`, C
arithmetic, value encoding and the printer. It knows memory, symbols, BTF, errors and the
cache, and nothing above it: modules, the declaration table, helpers and the unwinder
attach through finders and hooks."""

from kdbg.core import printer  # noqa: F401 - installs the printer behind Object.format_()
