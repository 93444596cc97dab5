"""How well the declaration table types a kernel whose DWARF did not build it.

::

    python3 -m tools.declaration_coverage                 # shipped table, on bookworm (6.1)
    python3 -m tools.declaration_coverage --suite trixie --table /tmp/t.zlib --misses 30

Ground truth is the kernel's own DWARF (Debian's ``linux-image-<release>-dbg``, read with
pyelftools by :mod:`tools.dwarf_globals`, not by kdbg): every top-level variable with an
address. For each, the table's declarations are parsed against the same kernel's BTF (the
guest's ``/sys/kernel/btf/vmlinux`` in the reference dump's truth) by
:func:`kdbg.declarations.lookup_declared_type`, with no size hint (kallsyms gives none),
as ``prog[name]`` does. A variable counts as *exact* when the canonical spelling of that
type (:func:`tools.dwarf_types.canonical`, written here from kdbg's type model, not by
kdbg's C writer) equals DWARF's, and as *same size* when the type's size equals DWARF's
byte size. The figure printed is exact / all.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from kdbg.btf.cache import open_btf
from kdbg.btf.index import BTF
from kdbg.btf.loader import load_btf_file, load_btf_files
from kdbg.btf.types import (
    Array,
    Composite,
    Const,
    Enum,
    Float,
    FuncProto,
    Fwd,
    Int,
    Pointer,
    Restrict,
    Type,
    Typedef,
    TypeTag,
    Void,
    Volatile,
)
from kdbg.declarations import DeclarationTable, lookup_declared_type, module_key
from tools.dwarf_globals import DwarfVariable
from tools.dwarf_modules import module_btf, module_files
from tools.dwarf_types import DType, canonical, dwarf_size
from tools.gen_declarations import HELD_OUT_SUITE, suite_module_variables, suite_variables
from vmcores.build import truth_files
from vmcores.debian import debian_dbg_modules

__all__ = ["Coverage", "kdbg_dtype", "measure", "coverage_of", "module_coverage_of", "reference_modules", "main"]


def kdbg_dtype(t: Type, depth: int = 0) -> DType:
    """kdbg's type as a :data:`~tools.dwarf_types.DType` tree, for :func:`canonical`
    (type tags dropped: DWARF from gcc has none; sizes left out: the comparison of sizes
    is separate)."""
    if depth > 100:
        raise ValueError("type too deep")
    d = depth + 1
    if isinstance(t, Void):
        return ("void",)
    if isinstance(t, TypeTag):
        return kdbg_dtype(t.ref, d)
    if isinstance(t, Const):
        return ("const", kdbg_dtype(t.ref, d))
    if isinstance(t, Volatile):
        return ("volatile", kdbg_dtype(t.ref, d))
    if isinstance(t, Restrict):
        return ("restrict", kdbg_dtype(t.ref, d))
    if isinstance(t, Pointer):
        return ("ptr", kdbg_dtype(t.type, d))
    if isinstance(t, Array):
        return ("array", t.length, kdbg_dtype(t.type, d))
    if isinstance(t, Typedef):
        return ("typedef", t.btf_name, None)
    if isinstance(t, (Int, Float)):
        return ("base", t.btf_name, None)  # gcc's spelling, as DWARF's
    if isinstance(t, Composite):
        if not t.btf_name:
            return (t.keyword, "", None, tuple((m.btf_name, kdbg_dtype(m.type, d), m.bitfield_size)
                                               for m in t.members))
        return (t.keyword, t.btf_name, None)
    if isinstance(t, Fwd):
        return (t.keyword, t.btf_name, None)
    if isinstance(t, Enum):
        if not t.btf_name:
            return ("enum", "", None, tuple(e.name for e in t.enumerators))
        return ("enum", t.btf_name, None)
    if isinstance(t, FuncProto):
        return ("func", kdbg_dtype(t.type, d), tuple(kdbg_dtype(p.type, d) for p in t.params), t.is_variadic)
    raise ValueError(f"unexpected type {t!r}")


@dataclasses.dataclass
class Coverage:
    """The counts of one measurement."""

    suite: str
    total: int = 0
    typed: int = 0
    exact: int = 0
    same_size: int = 0
    misses: List[Tuple[str, str, str]] = dataclasses.field(default_factory=list)
    reasons: Counter = dataclasses.field(default_factory=Counter)

    @property
    def share(self) -> float:
        """exact / total."""
        return self.exact / self.total if self.total else 0.0

    def report(self) -> str:
        """The figures, one a line."""
        pct = lambda n: f"{100.0 * n / self.total:.2f}%" if self.total else "-"  # noqa: E731
        lines = [
            f"{self.suite}: {self.total} DWARF variables with an address",
            f"  typed by the table:        {self.typed} ({pct(self.typed)})",
            f"  exactly DWARF's type:      {self.exact} ({pct(self.exact)})",
            f"  same size as DWARF's:      {self.same_size} ({pct(self.same_size)})",
        ]
        for reason, n in self.reasons.most_common():
            lines.append(f"  missed, {reason}: {n}")
        return "\n".join(lines)


def measure(
    variables: Sequence[DwarfVariable],
    table: DeclarationTable,
    btfs: Sequence[BTF],
    suite: str = "",
    module: Optional[str] = None,
    cov: Optional[Coverage] = None,
) -> Coverage:
    """Coverage of ``table`` on a kernel given by its DWARF ``variables`` and BTF (of
    ``module``'s variables: looked up as ``prog[name]`` looks up a module symbol, in the
    module's entries, or vmlinux's when the table has none of that module; added to
    ``cov`` when given)."""
    cov = cov if cov is not None else Coverage(suite)
    memo: Dict[str, Optional[Type]] = {}
    for v in variables:
        if v.address is None:
            continue
        cov.total += 1
        key = v.name if module is None or module_key(module, v.name) not in table else module_key(module, v.name)
        if key not in memo:
            memo[key] = lookup_declared_type(table, v.name, btfs, module=None if key == v.name else module)
        t = memo[key]
        want = canonical(v.type)
        if t is None:
            reason = "not in the table" if key not in table else "no declaration parses"
            if v.declaration is None:
                reason = "anonymous type"
            cov.reasons[reason] += 1
            cov.misses.append((key, want, reason))
            continue
        cov.typed += 1
        try:
            got = canonical(kdbg_dtype(t))
        except ValueError as e:
            got = f"<{e}>"
        try:
            size: Optional[int] = t.size
        except Exception:  # noqa: BLE001 - an unsized type simply does not agree
            size = None
        if size == dwarf_size(v.type):
            cov.same_size += 1
        if got == want:
            cov.exact += 1
        else:
            cov.reasons["another type"] += 1
            cov.misses.append((key, want, got))
    return cov


def suite_btfs(suite: str) -> List[BTF]:
    """The BTF the suite's reference guest had (``truth/btf/vmlinux``)."""
    return load_btf_files([str(truth_files(suite) / "btf" / "vmlinux")])


def coverage_of(suite: str, table: DeclarationTable) -> Coverage:
    """:func:`measure` on the reference kernel of ``suite``."""
    _label, variables = suite_variables(suite)
    return measure(variables, table, suite_btfs(suite), suite)


def reference_modules(suite: str) -> List[str]:
    """The modules the suite's reference guest had loaded (``truth/modules``)."""
    text = (truth_files(suite) / "modules").read_text()
    return sorted({line.split()[0] for line in text.splitlines() if line.strip()})


def module_coverage_of(suite: str, table: DeclarationTable, modules: Optional[Sequence[str]] = None) -> Coverage:
    """:func:`measure` on the variables of the modules the suite's reference guest loaded
    (or ``modules``; ``["all"]``: every module of the package), from their DWARF ``.ko``
    (:func:`tools.gen_declarations.suite_module_variables`), each parsed against vmlinux's
    BTF then the module's own (``truth/btf/<module>`` of a loaded module, else the ``.BTF``
    section of its ``.ko``: the same bytes; none where the kernel builds no module BTF)."""
    names = list(modules) if modules is not None else reference_modules(suite)
    every = names == ["all"]
    per_module = suite_module_variables(suite, None if every else names)
    if every:
        names = sorted(per_module)
    files = module_files(debian_dbg_modules(suite))
    base = suite_btfs(suite)
    truth = truth_files(suite)
    cov = Coverage(f"{suite} modules {'(all)' if every else ' '.join(names)}")
    for name in names:
        btfs = list(base)
        split = truth / "btf" / name
        if split.exists():
            btfs.append(load_btf_file(str(split), base=base[0]))
        elif name in files:
            data = module_btf(files[name])
            if data:
                btfs.append(open_btf(data, base=base[0], name=f"{name}.ko .BTF"))
        measure(per_module.get(name, []), table, btfs, suite, module=name, cov=cov)
    return cov


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python3 -m tools.declaration_coverage", description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default=HELD_OUT_SUITE, help="reference kernel to measure on (default: %(default)s)")
    ap.add_argument("--table", type=Path, help="a table file (default: the shipped table with its overrides)")
    ap.add_argument("--misses", type=int, default=0, metavar="N", help="also list N misses")
    ap.add_argument("--modules", nargs="*", metavar="MODULE",
                    help="measure these modules' variables instead of vmlinux's (no names: the modules the "
                         "reference guest loaded; 'all': every module of the package)")  # fmt: skip
    args = ap.parse_args(argv)
    table = DeclarationTable.load(args.table) if args.table else DeclarationTable.shipped()
    for c in table.comments:
        if not c.startswith("module-"):  # the module rules and module-common lines are data
            print(f"table: {c}")
    if args.modules is not None:
        cov = module_coverage_of(args.suite, table, args.modules or None)
    else:
        cov = coverage_of(args.suite, table)
    print(cov.report())
    for name, want, got in cov.misses[: args.misses]:
        print(f"  {name}: DWARF {want} / table {got}")
    print(f"coverage: {100.0 * cov.share:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
