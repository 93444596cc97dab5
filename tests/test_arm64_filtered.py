"""makedumpfile-filtered arm64 dumps (``-d 31``; zlib, lzo and zstd), written by Debian's
own arm64 makedumpfile under ``qemu-aarch64-static`` from
QEMU's dump of the bookworm ``cloud-arm64`` guest (:func:`vmcores.arm64.add_filtered_dumps`).

Ground truth: QEMU's unfiltered ELF dump of the same stopped guest (every page), the
guest's own ``/proc`` snapshot and ``uname``, and the kdump header makedumpfile wrote.
The forms also run every test of ``test_arm64_dumps`` (kallsyms and BTF from memory,
translation against drgn), whose fixture takes every arm64 form.
"""

from __future__ import annotations

import json
import struct
from typing import Dict

import pytest

from kdbg import open_core as open_program
from kdbg.compat.drgn import Object
from kdbg.core.platform import Architecture
from tests.cli_support import run_kdbg
from tests.helpers_support import comm_matches
from tests.test_excluded_pages import assert_filtered_dump_pages
from vmcores.arm64 import ARM64_FILTERED_FORMS, ARM64_MAKEDUMPFILE_FORMS, arm64_dumps, arm64_dumps_root
from vmcores.dump_forms import KDUMP_COMPRESSION_FLAGS
from vmcores.dump_index import Dump

pytestmark = pytest.mark.timeout(2400)

KERNEL = "bookworm-cloud"

#: makedumpfile's compression options -> the compression they ask for.
OPTION_COMPRESSION = {"-c": "zlib", "-l": "lzo", "-z": "zstd", "-p": "snappy"}


@pytest.fixture(scope="module")
def dumps() -> Dict[str, Dump]:
    """Every arm64 dump of the bookworm cloud guest by form (built when missing)."""
    return {d.form: d for d in arm64_dumps([KERNEL])}


def test_every_filtered_form_is_made_by_debians_arm64_makedumpfile(dumps: Dict[str, Dump]) -> None:
    """Each filtered form is there, made by trixie's arm64 makedumpfile (its own ``-v``),
    and each kdump header has the compression its option asked for: a makedumpfile
    without zstd would silently write none."""
    info = json.loads((arm64_dumps_root() / KERNEL / "dumps.json").read_text())
    assert info["filter_failed"] == {}, info["filter_failed"]
    assert info["makedumpfile"].startswith("makedumpfile: version "), info["makedumpfile"]
    assert set(ARM64_FILTERED_FORMS) <= set(dumps), sorted(dumps)
    for form, opts in ARM64_MAKEDUMPFILE_FORMS:
        d = dumps[form]
        assert "arm64" in d.tool and "-d 31" in d.tool, d.tool
        head = d.path.read_bytes()[:4096]
        assert head[:8] == b"KDUMP   "
        (status,) = struct.unpack_from("<i", head, 424)
        want = sum(KDUMP_COMPRESSION_FLAGS[OPTION_COMPRESSION[o]] for o in opts if o in OPTION_COMPRESSION)
        assert want and status & sum(KDUMP_COMPRESSION_FLAGS.values()) == want, (form, hex(status))


@pytest.mark.parametrize("form", ARM64_FILTERED_FORMS)
def test_filtered_pages_are_the_guests_or_excluded(dumps: Dict[str, Dump], form: str) -> None:
    """Every fifth RAM page: byte for byte QEMU's unfiltered ELF dump, or a FaultError
    saying it was excluded; many pages of each kind."""
    full = dumps["elf"]
    assert_filtered_dump_pages(full.path, dumps[form].path, full.truth)


def test_filtered_forms_open_as_arm64_and_list_the_guests_processes(dumps: Dict[str, Dump]) -> None:
    """Each filtered form opens as arm64 with 4 KiB pages and the guest's release, and
    ``ps`` lists every process the guest listed with its comm and parent (task structs
    are kernel pages: -d 31 keeps them)."""
    listed = json.loads((dumps["elf"].truth / "ps.json").read_text())
    release = (dumps["elf"].truth / "uname").read_text().strip()
    assert listed
    for form in ARM64_FILTERED_FORMS:
        d = dumps[form]
        with open_program(str(d.path)) as prog:
            assert prog.platform.arch == Architecture.AARCH64, form
            assert prog.memory is not None and prog.memory.page_size == 4096, form
            assert prog.memory.vmcoreinfo is not None
            uts = Object(prog, "struct uts_namespace", address=prog.memory.vmcoreinfo.symbol("init_uts_ns"))
            assert uts.name.release.string_().decode() == release, form
        p = run_kdbg("-q", "-c", str(d.path), "--json", "-x", "ps")
        assert p.returncode == 0, (form, p.stderr)
        rows = json.loads(p.stdout)
        ours = {r["pid"]: r for r in rows if r["pid"] > 0}
        assert not [q for q in listed if q["pid"] not in ours], form
        wrong = [(q, ours[q["pid"]]) for q in listed
                 if not comm_matches(q["comm"], ours[q["pid"]]["comm"]) or q["ppid"] != ours[q["pid"]]["ppid"]]
        assert not wrong, form
