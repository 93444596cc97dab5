"""Kernel symbols: kallsyms from ``/proc/kallsyms`` text or decoded from kernel memory.

:class:`SymbolTable` answers name and address queries; :func:`load_kallsyms_file` parses
the text format and :func:`load_kallsyms_from_memory` decodes the kernel's compressed
tables (vmlinux symbols only; module symbols need typed ``struct module`` access).
"""

from kdbg.symbols.address import ADDRESS_SYNTAX, parse_address, parse_number
from kdbg.symbols.kallsyms.mem import (
    DecodedKallsyms,
    KallsymsTables,
    decode_kallsyms,
    find_kallsyms_tables,
    load_kallsyms_from_memory,
)
from kdbg.symbols.kallsyms.text import load_kallsyms_file, parse_kallsyms_text
from kdbg.symbols.table import Symbol, SymbolTable

__all__ = [
    "ADDRESS_SYNTAX",
    "DecodedKallsyms",
    "KallsymsTables",
    "Symbol",
    "SymbolTable",
    "decode_kallsyms",
    "find_kallsyms_tables",
    "load_kallsyms_file",
    "load_kallsyms_from_memory",
    "parse_address",
    "parse_number",
    "parse_kallsyms_text",
]
