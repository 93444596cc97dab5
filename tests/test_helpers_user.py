"""drgn's user helpers (``for_each_user``, ``find_user``, ``kuid_val``) against drgn with
Debian's DWARF on the three reference kernels: every user, each found by UID (a
``kuid_t`` and an integer), UIDs nobody has, and every task's credentials' UIDs."""

from __future__ import annotations

import pytest

from tests.helpers_compare import mismatches
from vmcores.debian import SUITES

CASES = {
    "for_each_user": "[(u.value_(), H.kuid_val(u.uid)) for u in H.for_each_user(prog)]",
    "find_user.each": "[H.find_user(prog, u.uid).value_() for u in H.for_each_user(prog)]",
    "find_user.int": "[H.find_user(prog, H.kuid_val(u.uid)).value_() for u in H.for_each_user(prog)]",
    "find_user.absent": "[H.find_user(prog, n).value_() for n in (1, 5, 65534, 128, 129, 1000, 2**31)]",
    "find_user.type": "H.find_user(prog, 12345)",
    "kuid_val.tasks": "sorted({H.kuid_val(t.cred.uid) for t in H.for_each_task(prog)})",
    "kuid_val.int": "H.kuid_val(7)",
    "root_user": "H.find_user(prog, 0).__count.refs.counter.value_()",
}


@pytest.mark.parametrize("suite", SUITES)
def test_user_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
