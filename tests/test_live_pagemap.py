"""User page translation on a live kernel against the kernel's own ``/proc/PID/pagemap``:
inside the session's bookworm live guest (:func:`vmcores.build.live_tests`), a ``sleep``
process is started; the guest's pagemap (read as root, so PFNs are shown) says, for the
first pages of each of its mappings, whether the page is present and its PFN. kdbg, on the
same guest's ``/proc/kcore``, walks that process's page tables with drgn's
``follow_pfn``: it gives the same PFN for every present page and faults on every page the
kernel reports as neither present nor swapped.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

import pytest

from vmcores.build import LiveResult

SCRIPT = r"""
sleep 1000 &
pid=$!
sleep 1
cat > "$TMPDIR/pagemap_truth.py" <<'PY'
import struct, sys
pid = int(sys.argv[1])
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
    for line in maps:
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo >= 1 << 47:  # [vsyscall]: not in the process's page tables
            continue
        for va in range(lo, min(hi, lo + 32 * 4096), 4096):
            pm.seek(va // 4096 * 8)
            (e,) = struct.unpack("<Q", pm.read(8))
            print(f"{va:x} {e:x}")
PY
cat > "$TMPDIR/pagemap_kdbg.py" <<'PY'
import sys
from drgn import FaultError
from drgn.helpers.linux.mm import follow_pfn
from drgn.helpers.linux.pid import find_task
mm = find_task(prog, int(sys.argv[1])).mm
for line in open(sys.argv[2]):
    va = int(line.split()[0], 16)
    try:
        print(f"{va:x} {follow_pfn(mm, va).value_():x}")
    except FaultError:
        print(f"{va:x} fault")
PY
echo '==TRUTH'; python3 "$TMPDIR/pagemap_truth.py" "$pid" > "$TMPDIR/truth"; cat "$TMPDIR/truth"
echo '==KDBG'; python3 -m kdbg -q "$TMPDIR/pagemap_kdbg.py" "$pid" "$TMPDIR/truth"; echo "rc=$?"
kill "$pid"
echo '==END'
"""

PRESENT = 1 << 63
SWAPPED = 1 << 62
PFN_MASK = (1 << 55) - 1


def _sections(text: str) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for m in re.finditer(r"^==(\w+)\n(.*?)(?=^==\w+\n)", text, re.S | re.M):
        out[m.group(1)] = m.group(2).splitlines()
    return out


def _pairs(lines: List[str]) -> List[Tuple[int, str]]:
    return [(int(a, 16), b) for a, b in (ln.split() for ln in lines)]


@pytest.mark.live(SCRIPT, suite="bookworm")
def test_user_pages_translate_to_the_pfns_pagemap_gives(live_result: LiveResult) -> None:
    res = live_result
    assert res.returncode == 0, res.output[-3000:]
    s = _sections(res.output.replace("\r\n", "\n"))
    assert s["KDBG"][-1] == "rc=0", s["KDBG"][-20:]
    truth = [(va, int(e, 16)) for va, e in _pairs(s["TRUTH"])]
    got = dict(_pairs(s["KDBG"][:-1]))
    assert [va for va, _e in truth] == list(got), "kdbg answered other addresses"
    present = [(va, e & PFN_MASK) for va, e in truth if e & PRESENT]
    absent = [va for va, e in truth if not e & (PRESENT | SWAPPED)]
    # a sleeping process has touched its text, data and stack: many present pages, and
    # the rest of its mappings untouched
    assert len(present) > 20 and len(absent) > 20, (len(present), len(absent))
    assert all(pfn for _va, pfn in present), "pagemap hid the PFNs (not read as root)"
    wrong = [(f"{va:x}", f"{pfn:x}", got[va]) for va, pfn in present if got[va] != f"{pfn:x}"]
    assert not wrong, wrong[:10]
    mapped = [f"{va:x}" for va in absent if got[va] != "fault"]
    assert not mapped, mapped[:10]
