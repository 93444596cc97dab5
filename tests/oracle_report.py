"""How often kdbg agreed with the drgn oracle, per kernel and comparison, with the kernels
the shipped declaration table and zero-length-array list were made from (*in sample*) told
apart from those they were not (*held out*, :mod:`tools.held_out`). ``tests/conftest.py``
prints :data:`AGREEMENT` at the end of the session, the held-out figures after the others.
"""

from __future__ import annotations

from typing import List

from tools.held_out import in_sample
from vmcores.debian import debian_kernel

#: One line per comparison recorded: ``in sample`` or ``held out``, the kernel and its
#: release, what was compared, how many agreed of how many.
AGREEMENT: List[str] = []


def record_agreement(name: str, what: str, agree: int, total: int) -> str:
    """Record (in :data:`AGREEMENT`), print and return one comparison's figure on the
    kernel *name* (a suite or ``SUITE@ABI``)."""
    state = "in sample" if in_sample(name) else "held out"
    line = f"{state:9}  {name} ({debian_kernel(name, 'cloud').release}) {what}: {agree} of {total} agree with drgn"
    AGREEMENT.append(line)
    print(line)
    return line
