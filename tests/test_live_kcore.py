"""kdbg on a live kernel's /proc/kcore, for real: inside a QEMU guest running Debian's
bookworm kernel, with this checkout mounted from the host over 9p.

The guest's own /proc/kallsyms, /proc/version and /sys/kernel/btf/vmlinux, read in the
same boot by cat/grep, are the ground truth.
"""

from __future__ import annotations

import json
import re
from typing import Dict

import pytest

from vmcores.live import LiveResult

SCRIPT = r"""
echo '==KALLSYMS'; grep -E ' (init_task|_stext|linux_banner|__start_BTF)$' /proc/kallsyms
echo '==VERSION'; cat /proc/version
echo '==SYM'; python3 -m kdbg -q --json -x 'sym init_task' -x 'sym _stext' -x 'sym linux_banner'
echo '==RD'; python3 -m kdbg -q -x 'rd linux_banner 4'
echo '==PY'; python3 - <<'PY'
import kdbg.target as p
prog = p.open_live()
assert prog.memory is not None, prog.memory_unavailable
btf = open("/sys/kernel/btf/vmlinux", "rb").read()
start = prog.symbol("__start_BTF").address
print("btf-equal", prog.read(start, len(btf)) == btf, len(btf))
off = prog.type("struct task_struct").offsetof("comm")
print("comm", prog.read(prog.symbol("init_task").address + off, 16).split(b"\0")[0].decode())
PY
echo '==END'
"""


def _sections(text: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for m in re.finditer(r"^==(\w+)\n(.*?)(?=^==\w+\n)", text, re.S | re.M):
        out[m.group(1)] = m.group(2)
    return out


@pytest.mark.live(SCRIPT, suite="bookworm")
def test_live_kcore_in_guest(live_result: LiveResult) -> None:
    res = live_result
    assert res.returncode == 0, res.output[-3000:]
    s = _sections(res.output.replace("\r\n", "\n"))
    truth = {}
    for line in s["KALLSYMS"].splitlines():
        addr, letter, name = line.split()[:3]
        truth[name] = (int(addr, 16), letter)
    assert truth["init_task"][0] != 0, "guest kallsyms must show real addresses"
    rows = [json.loads(line) for line in s["SYM"].splitlines() if line.startswith("[")]
    got = {r[0]["name"]: (r[0]["address"], r[0]["type"]) for r in rows}
    for name in ("init_task", "_stext", "linux_banner"):
        assert got[name] == truth[name], name
    data = b""
    for line in s["RD"].splitlines():
        m = re.match(r"^[0-9a-f]{16}:  ((?:[0-9a-f]{16} ?)+)", line)
        if m:
            data += b"".join(int(w, 16).to_bytes(8, "little") for w in m.group(1).split())
    version = s["VERSION"].encode()
    assert data == version[: len(data)] and data.startswith(b"Linux version ")
    assert re.search(r"^btf-equal True \d+$", s["PY"], re.M), s["PY"]
    assert re.search(r"^comm swapper/0$", s["PY"], re.M), s["PY"]


NOBODY = r"""
cd "$PWD"
run_as_nobody() {
    python3 -c 'import os, sys; os.setgid(65534); os.setuid(65534); os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}
echo '==KALLSYMS'; run_as_nobody grep -E ' init_task$' /proc/kallsyms
echo '==PTYPE'; run_as_nobody env HOME=/tmp python3 -m kdbg -x 'ptype struct list_head' 2>&1; echo "rc=$?"
echo '==SYM'; run_as_nobody env HOME=/tmp python3 -m kdbg -q -x 'sym init_task' 2>&1; echo "rc=$?"
echo '==END'
"""


@pytest.mark.live(NOBODY, suite="bookworm")
def test_live_kernel_as_a_user_who_is_not_root(live_result: LiveResult) -> None:
    """Not root on a live host: types still work (the BTF file is world-readable), with one
    line saying why memory is missing; symbols work when the kernel shows a non-root reader
    its kallsyms addresses, and are refused in one line when it shows zeros."""
    res = live_result
    assert res.returncode == 0, res.output[-3000:]
    s = _sections(res.output.replace("\r\n", "\n"))
    ptype = s["PTYPE"].splitlines()
    assert ptype[-1] == "rc=0", s["PTYPE"]
    notices = [ln for ln in ptype if ln.startswith("kdbg: ")]
    assert len(notices) == 1 and "permission denied opening /proc/kcore" in notices[0], s["PTYPE"]
    assert "struct list_head {" in s["PTYPE"]
    shown = int(s["KALLSYMS"].split()[0], 16)
    sym = s["SYM"].splitlines()
    if shown == 0:  # the kernel hides addresses from this reader
        refused = "kdbg: /proc/kallsyms: every address is 0 (kptr_restrict hides them; read it as root)"
        assert sym == [refused, "rc=2"], sym
    else:
        assert sym[-1] == "rc=0" and sym[0].startswith(f"{shown:016x} (D) init_task"), sym
