"""Which kernel builds the shipped declaration table and zero-length-array list were made
from, and which build of each suite neither of them knows (the *held-out* build).

The table (``kdbg/data/declarations.kdt``) and the list (``kdbg/data/zero-length-arrays.txt``)
name their sources in their first line, as ``linux-image-<release>-dbg=<version>``. A drgn
comparison on a kernel among those sources is *in sample*: the table was made from that
very DWARF. A suite's held-out build is its reference kernel when that is no source (the
archive has moved on since the files were made), else the newest other kernel ABI the
suite still serves that is no source either (``trixie@6.12.107+deb13``): a kernel name
:func:`vmcores.debian.debian_kernel` and the vmcores builds take as they take a suite.

::

    python3 -m tools.held_out [SUITE ...]          # each suite: reference, held-out, the sources
    python3 -m tools.held_out --build              # and build the held-out dumps, fetch their DWARF
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import List, Optional, Sequence, Set

from kdbg.declarations import ZERO_LENGTH_FILE, DeclarationTable
from vmcores.build import reference_dumps
from vmcores.debian import FLAVOURS, SUITES, debian_dbg_vmlinux, debian_kernel, kernel_name, suite_kernel_abis
from vmcores.dump_index import vmcores_root

__all__ = ["table_labels", "zero_length_labels", "source_labels", "source_releases", "source_kernels", "in_sample",
           "held_out_kernel", "main"]

_LABEL = re.compile(r"\blinux-image-(\S+?)-dbg=([^\s,()]+)")


def _labels(head: str) -> List[str]:
    return [f"linux-image-{m.group(1)}-dbg={m.group(2)}" for m in _LABEL.finditer(head)]


def table_labels() -> List[str]:
    """``linux-image-<release>-dbg=<version>`` of each kernel whose DWARF made the shipped
    declaration table, in the order its first line names them."""
    heads = [c for c in DeclarationTable.shipped().comments if c.startswith("kdbg declaration table")]
    assert len(heads) == 1, heads
    return _labels(heads[0])


def zero_length_labels() -> List[str]:
    """The same for the shipped zero-length-array list."""
    return _labels(ZERO_LENGTH_FILE.read_text().split("\n", 1)[0])


def source_labels() -> List[str]:
    """Every kernel :func:`table_labels` or :func:`zero_length_labels` names, once each."""
    out: List[str] = []
    for label in table_labels() + zero_length_labels():
        if label not in out:
            out.append(label)
    assert out, "the shipped table and list name no source package"
    return out


def source_kernels(labels: Sequence[str], suites: Sequence[str]) -> List[str]:
    """The kernel names (``SUITE@ABI``) of *labels* made from *suites*, in the same
    order (the generator names its sources in the order of its suites): what
    :func:`tools.gen_declarations.build_table` takes to make a file again from the very
    packages it was made from, whichever kernels the suites serve now."""
    assert len(labels) == len(suites), (labels, suites)
    suffix = "-" + FLAVOURS["cloud"]
    out = []
    for i, label in enumerate(labels):
        release = label[len("linux-image-"):].split("-dbg=", 1)[0]
        assert release.endswith(suffix), label
        out.append(f"{suites[i]}@{release[: -len(suffix)]}")
    return out


def source_releases(labels: Optional[Sequence[str]] = None) -> Set[str]:
    """The ``uname -r`` of every kernel *labels* name (default: :func:`source_labels`)."""
    return {m.group(1) for label in (source_labels() if labels is None else labels) if (m := _LABEL.match(label))}


def in_sample(name: str, labels: Optional[Sequence[str]] = None) -> bool:
    """Whether the kernel named *name* (a suite or ``SUITE@ABI``) is a source of the
    shipped table or list (of the one file whose *labels* are given, e.g.
    :func:`zero_length_labels`)."""
    return debian_kernel(name, "cloud").release in source_releases(labels)


def held_out_kernel(suite: str) -> str:
    """The kernel name of *suite*'s held-out build (see the module docstring):
    *suite* itself when its reference kernel is no source, else ``SUITE@ABI`` of the
    newest ABI the suite serves that is none. ``AssertionError`` when the suite serves
    no such kernel."""
    if not in_sample(suite):
        return suite
    releases = source_releases()
    suffix = FLAVOURS["cloud"]
    abis = suite_kernel_abis(kernel_name(suite)[0])
    for abi in abis:
        if f"{abi}-{suffix}" not in releases:
            return f"{kernel_name(suite)[0]}@{abi}"
    raise AssertionError(f"{suite} serves no kernel the shipped table and list were not made from: {abis}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print each reference suite's kernel, whether it is in sample, and its held-out build;
    with ``--build``, also build each held-out build's dumps and fetch its DWARF (what the
    tests would on first use)."""
    ap = argparse.ArgumentParser(prog="python3 -m tools.held_out", description=__doc__.split("\n")[0])
    ap.add_argument("suites", nargs="*", default=list(SUITES), metavar="SUITE")
    ap.add_argument("--build", action="store_true", help="build the held-out dumps and fetch their -dbg vmlinux")
    args = ap.parse_args(argv)
    print("sources: " + ", ".join(source_labels()))
    for suite in args.suites:
        release = debian_kernel(suite, "cloud").release
        held = held_out_kernel(suite)
        state = "in sample" if in_sample(suite) else "held out"
        print(f"{suite}: reference {release} ({state}); held-out build {held} "
              f"({debian_kernel(held, 'cloud').release})", flush=True)
        if args.build:
            reference_dumps([held])
            print(f"  dumps: {vmcores_root() / held}; DWARF: {debian_dbg_vmlinux(held)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
