"""The kernel's taint flags by name (``Documentation/admin-guide/tainted-kernels.rst``:
the bit numbers and letters are the kernel's ABI, the same since 4.15 save for additions)."""

from __future__ import annotations

from typing import Dict, List

__all__ = ["TAINT_FLAGS", "taint_names"]

#: bit -> (letter when set, name).
TAINT_FLAGS = {
    0: ("P", "proprietary module"),
    1: ("F", "module force-loaded"),
    2: ("S", "out of specification"),
    3: ("R", "module force-unloaded"),
    4: ("M", "machine check"),
    5: ("B", "bad page"),
    6: ("U", "tainted by user"),
    7: ("D", "kernel died (oops or BUG)"),
    8: ("A", "ACPI table overridden"),
    9: ("W", "warning"),
    10: ("C", "staging driver"),
    11: ("I", "firmware workaround"),
    12: ("O", "out-of-tree module"),
    13: ("E", "unsigned module"),
    14: ("L", "soft lockup"),
    15: ("K", "live patched"),
    16: ("X", "auxiliary"),
    17: ("T", "struct randomization"),
    18: ("N", "in-kernel test"),
    19: ("J", "fwctl"),
}


def taint_names(mask: int) -> List[Dict[str, object]]:
    """Each flag set in ``mask`` as ``{"bit", "letter", "name"}``, by bit (an unknown bit is
    named ``"bit N"``)."""
    out: List[Dict[str, object]] = []
    for bit in range(mask.bit_length()):
        if mask >> bit & 1:
            letter, name = TAINT_FLAGS.get(bit, ("?", f"bit {bit}"))
            out.append({"bit": bit, "letter": letter, "name": name})
    return out
