"""Helpers on a kernel whose kallsyms lists no data symbols (bookworm's ``cloud-arm64``,
without ``CONFIG_KALLSYMS_ALL``): a global the kernel has but kdbg cannot find is "cannot
tell", one line naming it, never the answer of a kernel without it. Truth from outside
kdbg: the ``-dbg`` vmlinux's symbol table says the kernel has each global asked for, and
the guest's own ``/proc/kallsyms`` that it lists none of them.

(Where kallsyms does list the data symbols, a global it lacks is absent from the kernel:
test_helpers_irq, test_helpers_sysfs and the crash command tests run there.)
"""

from __future__ import annotations

import pytest

from kdbg import open_core as open_program
from kdbg.errors import ObjectNotFoundError
from kdbg.helpers.common import symbols_complete
from kdbg.helpers.irq import for_each_irq_desc, irq_to_desc
from kdbg.helpers.sysfs import sysfs_lookup
from tests.kallsyms_truth import truth_vmlinux
from tests.test_arm64_data_symbols import vmlinux_symbols
from vmcores.arm64 import arm64_dumps
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def dump() -> Dump:
    return next(d for d in arm64_dumps(["bookworm-cloud"]) if d.form == ORACLE_FORM)


def test_unfound_globals_cannot_tell(dump: Dump) -> None:
    """The IRQ descriptors' tree (``irq_desc_tree``, static on 6.1) and sysfs's root
    (``sysfs_root_kn``) are in the kernel (its vmlinux) and not in its kallsyms: the
    helpers say they cannot tell, naming the global."""
    vmlinux = vmlinux_symbols(dump)
    kallsyms = {n for _a, _t, n in truth_vmlinux(dump.truth)}
    for name in ("irq_desc_tree", "sysfs_root_kn"):
        assert name in vmlinux and name not in kallsyms, name
    with open_program(str(dump.path)) as prog:
        assert not symbols_complete(prog)
        cases = [(lambda: list(for_each_irq_desc(prog)), "cannot tell the IRQ descriptors: no symbol 'sparse_irqs'"
                  " (nor 'irq_desc_tree'): kallsyms lists no data symbols"),
                 (lambda: irq_to_desc(prog, 1), "cannot tell the IRQ descriptors: no symbol 'sparse_irqs'"),
                 (lambda: sysfs_lookup(prog, "/sys/devices/system/cpu/cpu0"),
                  "cannot tell sysfs: no symbol 'sysfs_root_kn': kallsyms lists no data symbols")]
        for call, start in cases:
            with pytest.raises(ObjectNotFoundError) as e:
                call()
            assert str(e.value).startswith(start) and "\n" not in str(e.value), str(e.value)
