"""Types for globals that BTF has no VAR for (the shipped declaration table, attached to a
program as an object finder) and zero-length arrays as DWARF declares them."""

from kdbg.declarations.finder import attach, declared_type, set_table
from kdbg.declarations.table import (
    DATA_DIR,
    MODULE_COMMON,
    MODULE_RULE,
    MODULE_SEPARATOR,
    OVERRIDES_FILE,
    TABLE_FILE,
    DeclarationTable,
    lookup_declared_type,
    module_key,
)
from kdbg.declarations.tableformat import decode_table, encode_table
from kdbg.declarations.zerolength import (
    ZERO_LENGTH_FILE,
    btf_identity,
    flexible_hook,
    zero_length_container,
    zero_length_exceptions,
)

__all__ = [
    "attach", "declared_type", "set_table", "DeclarationTable", "lookup_declared_type", "module_key", "DATA_DIR",
    "TABLE_FILE", "OVERRIDES_FILE", "MODULE_SEPARATOR", "MODULE_RULE", "MODULE_COMMON", "decode_table", "encode_table",
    "ZERO_LENGTH_FILE", "btf_identity", "flexible_hook", "zero_length_container", "zero_length_exceptions",
]
