"""Memory and symbol commands: ``sym`` and ``rd`` (filled in with the memory layer)."""
