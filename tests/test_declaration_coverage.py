"""Coverage of the shipped declaration table on a kernel whose DWARF did not build it.

The table ships from forky (7.2), trixie (6.12) and bullseye (5.10) DWARF; bookworm (6.1) is
held out. Ground truth is bookworm's own DWARF (Debian's ``linux-image-<release>-dbg`` of the
bookworm kernel at hand, read with pyelftools by :mod:`tools.dwarf_globals`, not by kdbg);
types come from the table parsed against the guest's own BTF. At least 90% of the DWARF variables that have
an address must get exactly DWARF's type (canonical spelling) and DWARF's byte size.
The same holds for the globals of the modules the reference guest loaded (``qemu_fw_cfg``),
against the DWARF of bookworm's ``.ko`` files of that package, typed from the table's
entries of each module. The generator is also checked to be reproducible: rebuilding from
the packages the shipped files name (not the suites' current kernels) gives them byte for
byte.
"""

from __future__ import annotations

import warnings
from typing import List, Optional, Sequence

import pytest

from kdbg.declarations import (
    TABLE_FILE,
    ZERO_LENGTH_FILE,
    DeclarationTable,
    decode_table,
    encode_table,
    lookup_declared_type,
)
from tools.declaration_coverage import Coverage, coverage_of, module_coverage_of, reference_modules, suite_btfs
from tools.gen_declarations import (
    HELD_OUT_SUITE,
    SHIPPED_MODULES,
    SHIPPED_SUITES,
    ZERO_LENGTH_SUITES,
    build_table,
    build_zero_length,
)
from tools.held_out import source_kernels, table_labels, zero_length_labels
from vmcores.debian import suite_kernel_abis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def held_out() -> Coverage:
    """The shipped table measured on the held-out kernel."""
    return coverage_of(HELD_OUT_SUITE, DeclarationTable.shipped())


def test_held_out_kernel_not_a_source() -> None:
    from vmcores.debian import debian_kernel

    release = debian_kernel(HELD_OUT_SUITE, "cloud").release
    comments = DeclarationTable.shipped().comments
    assert comments and all(release not in c for c in comments)
    assert HELD_OUT_SUITE not in SHIPPED_SUITES


def test_coverage_at_least_90_percent(held_out: Coverage) -> None:
    print(held_out.report())
    assert held_out.total > 20000
    assert held_out.exact / held_out.total >= 0.90, held_out.report()
    assert held_out.same_size / held_out.total >= 0.90, held_out.report()


def test_module_coverage_at_least_90_percent() -> None:
    """The modules the held-out guest loaded: their DWARF variables typed exactly."""
    modules = reference_modules(HELD_OUT_SUITE)
    assert "qemu_fw_cfg" in modules
    cov = module_coverage_of(HELD_OUT_SUITE, DeclarationTable.shipped(), modules)
    print(cov.report())
    assert cov.total >= 25
    assert cov.exact / cov.total >= 0.90, cov.report()
    assert cov.same_size / cov.total >= 0.90, cov.report()


def test_every_module_coverage_at_least_90_percent() -> None:
    """Every module of the held-out kernel's package, each parsed with its .ko's own BTF."""
    cov = module_coverage_of(HELD_OUT_SUITE, DeclarationTable.shipped(), ["all"])
    print(cov.report())
    assert cov.total > 30000
    assert cov.exact / cov.total >= 0.90, cov.report()
    assert cov.same_size / cov.total >= 0.90, cov.report()


def test_well_known_globals_exact() -> None:
    """The globals helpers start from get DWARF's exact type on the held-out kernel."""
    from tools.declaration_coverage import kdbg_dtype
    from tools.dwarf_types import canonical
    from tools.gen_declarations import suite_variables

    _label, variables = suite_variables(HELD_OUT_SUITE)
    truth = {v.name: v for v in variables if v.address is not None}
    btfs = suite_btfs(HELD_OUT_SUITE)
    table = DeclarationTable.shipped()
    for name in ["init_task", "init_mm", "modules", "init_uts_ns", "prb", "super_blocks", "slab_caches",
                 "init_pid_ns", "node_states", "__per_cpu_offset", "nr_cpu_ids", "jiffies_64"]:  # fmt: skip
        if name not in truth:
            continue
        t = lookup_declared_type(table, name, btfs)
        assert t is not None, name
        assert canonical(kdbg_dtype(t)) == canonical(truth[name].type), name


def _sources_or_warn(labels: List[str], suites: Sequence[str], what: str) -> Optional[List[str]]:
    """The kernel names of a shipped file's sources (:func:`tools.held_out.source_kernels`),
    or ``None`` with a warning naming those the archive no longer serves (the file can then
    not be made again; it still serves every kernel as it is)."""
    names = source_kernels(labels, suites)
    gone = [n for n in names if n.split("@", 1)[1] not in suite_kernel_abis(n.split("@", 1)[0])]
    if gone:
        warnings.warn(f"the archive no longer serves {', '.join(gone)}, sources of {what}: it cannot be made "
                      "again from its own packages (python3 -m tools.gen_declarations makes one of the kernels "
                      "served now)", stacklevel=2)  # fmt: skip
        return None
    return names


# It reads the DWARF of every module of three kernels: 30 s with the per-module cache
# warm; from an empty one 932 s before tools.dwarf_globals skipped DIEs by their
# abbreviations (X1, a fresh machine's run), 410 s after (beside a CI run). Its own xdist group, so the
# rest of this file (another 9 minutes cold) runs on the other worker meanwhile instead of
# after it; the per-module caches are written atomically (tools.dwarf_globals).
@pytest.mark.xdist_group("declaration-table-generator")
@pytest.mark.timeout(3600)
def test_generator_reproduces_the_shipped_table() -> None:
    """The generator, run on the very packages the shipped table names (whichever kernels
    the suites serve now), gives the table byte for byte."""
    data = TABLE_FILE.read_bytes()
    shipped = decode_table(data)
    assert encode_table(shipped) == data  # the format round-trips
    names = _sources_or_warn(table_labels(), SHIPPED_SUITES, TABLE_FILE.name)
    if names is None:
        return
    text, _stats = build_table(names, SHIPPED_MODULES)
    assert text.split("\n", 1)[0] == shipped.split("\n", 1)[0]
    assert text == shipped
    assert encode_table(text) == data  # byte for byte


def test_generator_reproduces_the_zero_length_list() -> None:
    """The same for the zero-length-array list and the packages it names."""
    names = _sources_or_warn(zero_length_labels(), ZERO_LENGTH_SUITES, ZERO_LENGTH_FILE.name)
    if names is None:
        return
    assert build_zero_length(names) == ZERO_LENGTH_FILE.read_text()
