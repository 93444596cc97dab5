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
import sys
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from kdbg.declarations import encode_table
from tools.dwarf_globals import DwarfVariable, dwarf_variables

__all__ = ["SHIPPED_SUITES", "HELD_OUT_SUITE", "suite_variables", "merge", "build_table", "main"]

#: Suites whose DWARF builds the shipped table, newest first (the order candidates of
#: equal standing are tried in).
SHIPPED_SUITES: Tuple[str, ...] = ("forky", "trixie", "bullseye")
#: The reference kernel kept out of the table, to measure coverage on.
HELD_OUT_SUITE = "bookworm"
#: Where the table goes.
TABLE_PATH = Path(__file__).resolve().parent.parent / "kdbg" / "data" / "declarations.kdt"


def suite_variables(suite: str) -> Tuple[str, List[DwarfVariable]]:
    """``(package label, variables)`` of *suite*'s reference kernel DWARF."""
    from vmcores.debian import debian_dbg_vmlinux, debian_kernel

    vmlinux = debian_dbg_vmlinux(suite)
    kf = debian_kernel(suite, "cloud")
    return f"linux-image-{kf.release}-dbg={kf.version}", dwarf_variables(vmlinux)


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


def build_table(suites: Sequence[str]) -> Tuple[str, Dict[str, int]]:
    """The table's text for *suites* and some counts (for the log)."""
    labels: List[str] = []
    kernels: List[List[DwarfVariable]] = []
    stats: Dict[str, int] = {}
    if len(suites) > 1:
        # a kernel's DWARF takes a CPU for a minute or two (once: then it is cached)
        with ProcessPoolExecutor(max_workers=2) as pool:
            read = list(pool.map(suite_variables, suites))
    else:
        read = [suite_variables(s) for s in suites]
    for s, (label, variables) in zip(suites, read):
        labels.append(label)
        kernels.append(variables)
        defined = [v for v in variables if v.address is not None]
        stats[f"{s} variables with an address"] = len(defined)
        stats[f"{s} not declarable (left out)"] = sum(1 for v in defined if v.declaration is None)
        stats[f"{s} extern declarations"] = len(variables) - len(defined)
    merged = merge(kernels)
    stats["names"] = len(merged)
    stats["names with several declarations"] = sum(1 for v in merged.values() if len(v) > 1)
    head = "# kdbg declaration table, generated by python3 -m tools.gen_declarations from " + ", ".join(labels)
    body = "".join(f"{name}\t{chr(9).join(decls)}\n" for name, decls in merged.items())
    return head + "\n" + body, stats


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
    args = ap.parse_args(argv)
    text, stats = build_table(args.suites)
    size = write_table(text, args.out)
    for k, v in stats.items():
        print(f"{k}: {v}")
    print(f"wrote {args.out} ({size} bytes, {len(text)} uncompressed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
