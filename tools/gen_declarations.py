"""Generate kdbg's shipped declaration table from Debian's DWARF debug packages.

One command rebuilds ``kdbg/data/declarations.kdt``::

    python3 -m tools.gen_declarations            # the suites in SHIPPED_SUITES
    python3 -m tools.gen_declarations --suites trixie bullseye --out /tmp/t.kdt

For each suite it fetches ``linux-image-<release>-dbg`` of the reference (cloud) kernel
(:func:`vmcores.debian.debian_dbg_vmlinux`: about 300 MB once, cached under the kdbg cache,
never in the repo), reads every top-level variable with an address from its DWARF
(:mod:`tools.dwarf_globals`, pyelftools) and renders it as a C declaration with DWARF's
type names (``pid_t``, ``struct list_head``, ``atomic_t`` kept). The kernels are merged: a
name declared differently (another kernel's type, or same-named statics of one kernel)
keeps every declaration, most common first, then the newest kernel's first. A name no
file defines (a symbol of the linker script: ``jiffies``, ``_text``) takes its ``extern``
declarations;
:func:`kdbg.declarations.lookup_declared_type` takes the first that parses against the
target's BTF. A variable of an anonymous struct, union or enum type is declared with its
members (``union { struct bpf_raw_event_map event; btf_trace_x handler; } y;``), which the
parser matches to BTF's anonymous type of those members. Hand-written fixes go in
``kdbg/data/declarations-overrides.txt``, read at run time in front of this table.

The same packages carry every module's DWARF ``.ko``
(:func:`vmcores.debian.debian_dbg_modules`); each module's variables (those in sections a
loaded module keeps: :func:`tools.dwarf_modules.iter_module_variables`) are keyed
``module:name`` (``qemu_fw_cfg:fw_cfg_rev``) and merged per module across the kernels. The
machine-made names of modules (tracepoint and trace event boilerplate, ``__param_``,
``dev_attr_``...: :data:`MODULE_RULE_PREFIXES`) whose declaration is their prefix's
template become one module rule each, and a name many modules declare alike
(``__this_module``) one module-common line, both ``#`` lines of the index (read by
:class:`kdbg.declarations.DeclarationTable` without decompressing anything). At run time
a module's symbol is typed from its own module's entries only.

Next to the table it writes ``kdbg/data/zero-length-arrays.txt``
(:mod:`tools.zero_length_arrays`): per kernel build, the zero-length array members whose
DWARF declaration (``[0]`` or ``[]``) kdbg's rule over BTF gets wrong.

The output is deterministic for the same packages (text sorted by name, in the block format
of :func:`kdbg.declarations.encode_table`: zlib level 9 blocks of about 48 KB behind an
uncompressed index, so a lookup decompresses one block); its first line names the packages
it came from.

Bookworm (6.1) is kept out of the shipped table on purpose: it is the held-out kernel on
which ``python3 -m tools.declaration_coverage`` (and tests/test_declaration_coverage.py)
measures how well declarations from *other* kernels type a kernel's globals.
"""

from __future__ import annotations

import argparse
import lzma
import re
import sys
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from kdbg.declarations import MODULE_COMMON, MODULE_RULE, MODULE_SEPARATOR, encode_table
from tools.dwarf_globals import DwarfVariable
from tools.dwarf_modules import module_variables
from tools.vmlinux_dwarf import dwarf_variables
from tools.zero_length_arrays import kernel_exceptions, render
from vmcores.debian import debian_dbg_modules, debian_dbg_vmlinux, debian_kernel

__all__ = ["SHIPPED_SUITES", "SHIPPED_MODULES", "HELD_OUT_SUITE", "ZERO_LENGTH_SUITES", "suite_variables",
           "suite_module_variables", "merge", "merge_modules", "build_table", "build_zero_length", "main"]

#: Suites whose DWARF builds the shipped table, newest first (the order candidates of
#: equal standing are tried in).
SHIPPED_SUITES: Tuple[str, ...] = ("forky", "trixie", "bullseye")
#: The reference kernel kept out of the table, to measure coverage on.
HELD_OUT_SUITE = "bookworm"
#: Suites whose DWARF makes the list of zero-length arrays: every reference kernel (the
#: list is per kernel build, known by its BTF's identity; a list made without the
#: held-out kernel is measured on it by tests/test_flexible_arrays.py).
ZERO_LENGTH_SUITES: Tuple[str, ...] = ("forky", "trixie", "bookworm", "bullseye")
#: Modules whose variables the shipped table declares (``None``: every module of the
#: ``-dbg`` packages).
SHIPPED_MODULES: Optional[Tuple[str, ...]] = None
#: Where the table goes.
TABLE_PATH = Path(__file__).resolve().parent.parent / "kdbg" / "data" / "declarations.kdt"
#: Where the list of zero-length arrays goes.
ZERO_LENGTH_PATH = TABLE_PATH.with_name("zero-length-arrays.txt")


def suite_variables(suite: str) -> Tuple[str, List[DwarfVariable]]:
    """``(package label, variables)`` of *suite*'s reference kernel DWARF."""

    vmlinux = debian_dbg_vmlinux(suite)
    kf = debian_kernel(suite, "cloud")
    return f"linux-image-{kf.release}-dbg={kf.version}", dwarf_variables(vmlinux)


def suite_module_variables(suite: str, modules: Optional[Sequence[str]] = None) -> Dict[str, List[DwarfVariable]]:
    """module name -> the variables its DWARF ``.ko`` (of *suite*'s reference kernel's
    ``-dbg`` package, :func:`vmcores.debian.debian_dbg_modules`) defines with an address;
    every module, or the ``modules`` named."""

    return module_variables(debian_dbg_modules(suite), modules)


#: Prefixes of the machine-made names of modules (the tracepoint and trace event
#: boilerplate ``TRACE_EVENT`` writes into every module that has events; the
#: ``__ADDRESSABLE()`` pointers to ``init_module``/``cleanup_module``, whose counter
#: differs between builds; ``module_param``'s ``__param_``; ``DEVICE_ATTR``'s and its
#: kin's attributes): each becomes one module rule where its names' declarations agree,
#: instead of an entry per variable.
MODULE_RULE_PREFIXES: Tuple[str, ...] = (
    "__SCK__tp_func_", "__tracepoint_", "__event_", "event_class_", "event_", "trace_event_type_funcs_",
    "TRACE_SYSTEM_", "__bpf_trace_tp_map_", "__tpstrtab_", "__UNIQUE_ID___addressable_", "__UNIQUE_ID_addressable_",
    "__param_", "dev_attr_", "driver_attr_", "format_attr_",
)  # fmt: skip
#: A name that at least this many modules declare alike (``__this_module``, the
#: ``_note_N`` ELF notes) is one module-common line instead of an entry per module.
MODULE_COMMON_AT_LEAST = 8


def _template(name: str, prefix: str, declaration: str) -> Optional[str]:
    """``declaration`` with ``@`` for ``name`` (which it must hold once), ``$`` for the
    rest of the name after ``prefix`` elsewhere (``btf_trace_$``) and ``#`` for that
    rest's length plus one in an array length, else ``None``."""

    spots = [m.start() for m in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", declaration)]
    if len(spots) != 1 or any(c in declaration for c in "@$#"):
        return None
    rest = name[len(prefix) :]
    tail = declaration[spots[0] + len(name) :]
    head = declaration[: spots[0]]
    if len(rest) >= 3:
        head, tail = head.replace(rest, "$"), tail.replace(rest, "$")
    tail = tail.replace(f"[{len(rest) + 1}]", "[#]")  # a string of the name: __tpstrtab_$
    return head + "@" + tail


def merge_modules(kernels: Sequence[Dict[str, List[DwarfVariable]]]) -> Tuple[Dict[str, List[str]], List[str]]:
    """``(module:name -> declarations, module rules)`` over ``kernels`` (newest first; each
    module name -> its variables), merged per module as :func:`merge` merges vmlinux's.
    A name that :data:`MODULE_COMMON_AT_LEAST` modules declare alike becomes one
    module-common line (:data:`kdbg.declarations.MODULE_COMMON`); a name of
    :data:`MODULE_RULE_PREFIXES` whose one declaration is its prefix's most common
    template is left to that prefix's rule (:data:`kdbg.declarations.MODULE_RULE`); those
    ``#`` lines are returned in order."""
    out: Dict[str, List[str]] = {}
    for module in sorted(set().union(*kernels)):
        for name, decls in merge([k.get(module, []) for k in kernels]).items():
            out[f"{module}{MODULE_SEPARATOR}{name}"] = decls
    prefixes = sorted(MODULE_RULE_PREFIXES, key=lambda p: (-len(p), p))
    by_prefix: Dict[str, Counter] = {}
    matched: Dict[str, Tuple[str, str]] = {}
    for key, decls in out.items():
        name = key.partition(MODULE_SEPARATOR)[2]
        prefix = next((p for p in prefixes if name.startswith(p) and len(name) > len(p)), None)
        if prefix is None or len(decls) != 1:
            continue
        t = _template(name, prefix, decls[0])
        if t is not None:
            by_prefix.setdefault(prefix, Counter())[t] += 1
            matched[key] = (prefix, t)
    rules: Dict[str, str] = {}
    for prefix, counts in by_prefix.items():
        rules[prefix] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    for key, (prefix, t) in matched.items():
        if rules.get(prefix) == t:
            del out[key]
    alike: Counter = Counter((key.partition(MODULE_SEPARATOR)[2], tuple(d)) for key, d in out.items())
    common: Dict[str, Tuple[str, ...]] = {}
    for (name, decls), n in sorted(alike.items(), key=lambda kv: (-kv[1], kv[0])):
        if n >= MODULE_COMMON_AT_LEAST and name not in common:
            common[name] = decls
    for key in [k for k, d in out.items() if common.get(k.partition(MODULE_SEPARATOR)[2]) == tuple(d)]:
        del out[key]
    lines = [f"# {MODULE_COMMON}\t{n}\t" + "\t".join(common[n]) for n in sorted(common)]
    lines += [f"# {MODULE_RULE}\t{p}\t{rules[p]}" for p in sorted(rules)]
    return out, lines


def merge(kernels: Sequence[List[DwarfVariable]]) -> Dict[str, List[str]]:
    """name -> declarations over ``kernels`` (newest first): ordered by how many kernels
    declare it so, then by the first kernel that does, then by how many DIEs of that
    kernel do."""
    score: Dict[str, Dict[str, Tuple[int, int, int]]] = {}
    for rank, variables in enumerate(kernels):
        per: Dict[str, Counter] = {}
        defined = {v.name for v in variables if v.address is not None}
        for v in variables:
            if v.address is None and v.name in defined:
                continue  # an extern declaration of a variable some file defines
            d = v.declaration
            if d is not None:
                per.setdefault(v.name, Counter())[d] += 1
        for name, counts in per.items():
            entry = score.setdefault(name, {})
            for d, n in counts.items():
                old = entry.get(d)
                entry[d] = (1, rank, n) if old is None else (old[0] + 1, old[1], old[2])
    out: Dict[str, List[str]] = {}
    for name in sorted(score):
        ranked = sorted(score[name].items(), key=lambda kv: (-kv[1][0], kv[1][1], -kv[1][2], kv[0]))
        out[name] = [d for d, _ in ranked]
    return out


def build_table(suites: Sequence[str], modules: Optional[Sequence[str]] = None) -> Tuple[str, Dict[str, int]]:
    """The table's text for *suites* and some counts (for the log): vmlinux's variables,
    then each module's (every module of the ``-dbg`` packages, or the ``modules`` named;
    none for an empty list) keyed ``module:name``."""
    labels: List[str] = []
    kernels: List[List[DwarfVariable]] = []
    stats: Dict[str, int] = {}
    if len(suites) > 1:
        # a kernel's DWARF takes a CPU for a minute or two (once: then it is cached)
        with ProcessPoolExecutor(max_workers=2) as pool:
            read = list(pool.map(suite_variables, suites))
    else:
        read = [suite_variables(s) for s in suites]
    for s, (label, variables) in zip(suites, read, strict=True):
        labels.append(label)
        kernels.append(variables)
        defined = [v for v in variables if v.address is not None]
        stats[f"{s} variables with an address"] = len(defined)
        stats[f"{s} not declarable (left out)"] = sum(1 for v in defined if v.declaration is None)
        stats[f"{s} extern declarations"] = len(variables) - len(defined)
    merged = merge(kernels)
    stats["names"] = len(merged)
    stats["names with several declarations"] = sum(1 for v in merged.values() if len(v) > 1)
    if modules is None or modules:
        per_module = [suite_module_variables(s, modules) for s in suites]
        for s, mods in zip(suites, per_module, strict=True):
            stats[f"{s} modules"] = len(mods)
            stats[f"{s} module variables"] = sum(len(v) for v in mods.values())
        module_entries, rules = merge_modules(per_module)
        stats["module names"] = len(module_entries)
        stats["module rules"] = len(rules)
        merged.update(module_entries)
    head = "# kdbg declaration table, generated by python3 -m tools.gen_declarations from " + ", ".join(labels)
    if modules is None:
        head += " (vmlinux and every module)"
    elif modules:
        head += " (vmlinux and modules " + " ".join(sorted(modules)) + ")"
    if modules is None or modules:
        head += "".join("\n" + r for r in rules)
    body = "".join(f"{name}\t{chr(9).join(merged[name])}\n" for name in sorted(merged))
    return head + "\n" + body, stats


def suite_zero_length(suite: str) -> Tuple[str, str, Dict[str, str], Dict[str, bool]]:
    """``(package label, BTF identity, exceptions, known)`` of *suite*'s reference kernel
    (:func:`tools.zero_length_arrays.kernel_exceptions`)."""

    kf = debian_kernel(suite, "cloud")
    identity, exceptions, known = kernel_exceptions(debian_dbg_vmlinux(suite))
    return f"linux-image-{kf.release}-dbg={kf.version}", identity, exceptions, known


def build_zero_length(suites: Sequence[str]) -> str:
    """The text of ``kdbg/data/zero-length-arrays.txt`` for *suites*
    (:func:`tools.zero_length_arrays.render`)."""

    if len(suites) > 1:
        with ProcessPoolExecutor(max_workers=2) as pool:
            kernels = list(pool.map(suite_zero_length, suites))
    else:
        kernels = [suite_zero_length(s) for s in suites]
    return render(kernels)


def write_table(text: str, out: Path) -> int:
    """Write ``text`` to ``out``: in the block format (:func:`kdbg.declarations.encode_table`)
    when ``out`` ends in ``.kdt``, xz when ``.xz``, plain when ``.txt``, else one zlib
    stream (level 9); return the size written."""
    if out.suffix == ".kdt":
        data = encode_table(text)
    elif out.suffix == ".xz":
        data = lzma.compress(text.encode(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9)
    elif out.suffix == ".txt":
        data = text.encode()
    else:
        data = zlib.compress(text.encode(), 9)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return len(data)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python3 -m tools.gen_declarations", description=__doc__.split("\n")[0])
    ap.add_argument("--suites", nargs="+", default=list(SHIPPED_SUITES), metavar="SUITE",
                    help="Debian suites whose DWARF to use, newest first (default: %(default)s)")  # fmt: skip
    ap.add_argument("--out", type=Path, default=TABLE_PATH, help="output file (default: %(default)s)")
    ap.add_argument("--modules", nargs="*", default=SHIPPED_MODULES, metavar="MODULE",
                    help="modules whose variables to add (default: %(default)s: all; no names: none)")  # fmt: skip
    ap.add_argument("--zero-length-out", type=Path, default=ZERO_LENGTH_PATH,
                    help="output file of the zero-length array list (default: %(default)s)")  # fmt: skip
    ap.add_argument("--zero-length-suites", nargs="+", default=list(ZERO_LENGTH_SUITES), metavar="SUITE",
                    help="Debian suites whose DWARF makes that list (default: %(default)s)")  # fmt: skip
    args = ap.parse_args(argv)
    modules = None if args.modules == ["all"] else args.modules
    text, stats = build_table(args.suites, modules)
    size = write_table(text, args.out)
    for k, v in stats.items():
        print(f"{k}: {v}")
    print(f"wrote {args.out} ({size} bytes, {len(text)} uncompressed)")
    zl = build_zero_length(args.zero_length_suites)
    size = write_table(zl, args.zero_length_out)
    print(f"wrote {args.zero_length_out} ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
