"""The BPF part of the state guest (:mod:`vmcores.state`): maps and programs the kernel
really loaded, and what the kernel itself says about them.

The guest runs ``kdbg-bpf`` (``vmcores/state_helper/kdbg_bpf.c``, built with ``gcc
-static`` like the state helper: hand-written BPF instructions through the bpf(2)
syscall, no clang, no libbpf): a hash map and an array map, a socket filter and a
tracepoint program that look them up and a socket filter without maps, their fds kept
open until the dump.  Truth (``truth/bpf/``): ``fds`` (``KIND NAME FD``), per object
``NAME.fdinfo`` (the guest's ``/proc/PID/fdinfo/FD``: ``prog_type``, ``prog_jited``,
``prog_tag``, ``memlock``, ``prog_id``; ``map_type``, ``key_size``, ``value_size``,
``max_entries``, ``map_flags``, ``map_id``, ...) and per program what
``BPF_OBJ_GET_INFO_BY_FD`` gave the helper: ``NAME.xlated`` (the translated
instructions, map addresses replaced by the kernel with map IDs), ``NAME.jited`` (the
JITed code), ``NAME.ksym`` (the JITed image's address, hex) and ``NAME.loaded`` (the
guest's ``CLOCK_REALTIME`` and ``CLOCK_BOOTTIME`` right after the load, seconds).  ``pids`` names the
helper ``kdbg-bpf``.

Putting it into the state guest costs one rebuild of the three state dumps (each about
15 s of guest and dump here) and nothing on an empty-cache CI run, which builds them
anyway; a scenario of its own would add a boot and four dumps per kernel to every such
run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

BPF_HELPER_SOURCE = Path(__file__).resolve().parent / "state_helper" / "kdbg_bpf.c"
"""The source of ``kdbg-bpf`` (part of the state recipe)."""

INIT_BPF_START = r"""
mkdir -p /tmp/kdbg-bpf
chmod 755 /bin/kdbg-bpf
/bin/kdbg-bpf /tmp/kdbg-bpf > /tmp/kdbg-bpf.log 2>&1 &
n=0
while [ ! -s /tmp/kdbg-bpf/pid ] && [ $n -lt 60 ]; do sleep 1; n=$((n+1)); done
echo "kdbg-bpf $(cat /tmp/kdbg-bpf/pid)" >> $P || { cat /tmp/kdbg-bpf.log; echo "kdbg-init: kdbg-bpf failed"; }
"""
"""Start ``kdbg-bpf`` and wait for its objects (after the state helper)."""

INIT_BPF_TRUTH = r"""
mkdir -p $T/bpf
cp /tmp/kdbg-bpf/* $T/bpf/
B=$(cat /tmp/kdbg-bpf/pid)
while read -r kind name fd; do cat /proc/$B/fdinfo/$fd > $T/bpf/$name.fdinfo; done < /tmp/kdbg-bpf/fds
"""
"""Record the kernel's own view of each BPF object at the dump moment."""


def read_fdinfo(path: Path) -> Dict[str, str]:
    """``/proc/PID/fdinfo/FD`` as a dict (``key: value`` lines, values stripped)."""
    out: Dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def bpf_objects(truth: Path) -> List[Tuple[str, str, Dict[str, str]]]:
    """``(kind, name, fdinfo)`` of each object the guest's ``kdbg-bpf`` made, in its order
    (``kind`` is ``map`` or ``prog``)."""
    out = []
    for line in (truth / "bpf" / "fds").read_text().splitlines():
        kind, name, _fd = line.split()
        out.append((kind, name, read_fdinfo(truth / "bpf" / f"{name}.fdinfo")))
    return out
