"""kdbg's shipped plugins (installed as the ``kdbg_plugins`` package).

Each module here is a plugin loaded by :mod:`kdbg.ui.plugins` from its file, like any user's
plugin: it uses only kdbg's public API (``kdbg.helpers``, Objects, ``kdbg.ui.commands``).
See ``README.md`` in this directory.
"""
