"""``kdbg -c VMCORE SCRIPT ARG...`` on the reference dumps of all three kernels (ELF and
kdump): the script gets ``prog`` and the helpers in its globals and ``sys.argv`` as given,
and what it reads equals what the guest itself listed (its ``ps.json``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Tuple

import pytest

from tests.cli_support import clean_env
from tests.conftest import ROOT, resolve_dump
from tests.helpers_support import comm_matches

DUMPS = [(suite, form, "qemu") for suite in ("bullseye", "bookworm", "trixie") for form in ("elf", "kdump-zlib")]

SCRIPT = """\
import json, sys
rows = [(t.pid.value_(), t.comm.string_().decode()) for t in for_each_task(prog)]
print(json.dumps({"argv": sys.argv, "release": prog["init_uts_ns"].name.release.string_().decode(),
                  "tasks": rows}))
"""


@pytest.mark.parametrize("dump", DUMPS, ids=lambda d: "-".join(d))
def test_script_with_arguments_reads_the_guest(dump: Tuple[str, str, str], tmp_path: Path) -> None:
    d = resolve_dump(*dump)
    script = tmp_path / "walk.py"
    script.write_text(SCRIPT)
    p = subprocess.run([sys.executable, "-m", "kdbg", "-q", "-c", str(d.path), str(script), "one", "two words"],
                       capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=600, env=clean_env())
    assert (p.returncode, p.stderr) == (0, ""), p.stderr
    out = json.loads(p.stdout)
    assert out["argv"] == [str(script), "one", "two words"]
    assert out["release"] == (d.truth / "uname").read_text().strip()
    got = dict(out["tasks"])
    listed = json.loads((d.truth / "ps.json").read_text())
    assert len(listed) > 10
    missing = [p for p in listed if p["pid"] not in got or not comm_matches(p["comm"], got[p["pid"]])]
    assert not missing, missing[:5]
