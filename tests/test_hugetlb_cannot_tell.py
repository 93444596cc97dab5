"""HugeTLB on kernels whose ``hstates`` kallsyms does not list: found, it is the guest's
``/proc/meminfo`` (``HugePages_Total``, ``HugePages_Free``, ``Hugetlb``); not found, the
helpers and ``kmem -i`` say they cannot tell, naming the global and why, never 0 pages.

Three dumps: bookworm's arm64 ``cloud-arm64`` (no ``CONFIG_KALLSYMS_ALL``: ``hstates`` is
found in its code), where ``hstates`` is then left out of the globals searched in the code
(``REFERRERS``, monkeypatched in this process); trixie's x86-64 6.12 with its kallsyms cut
to the text symbols as test_x86_data_symbols cuts it, and ``hstates`` left out the same
way; and forky's x86-64 7.2 cut so, whose code does not single ``hstates`` out (its
``UNRESOLVED``; there only the helpers are asked: ``kmem -i``'s other rows need exported
globals 7.2's tables do not yet give, test_x86_data_symbols's ``KSYMTAB_LEAST``).
"""

from __future__ import annotations

import io
import json
import re
from typing import Dict

import pytest

from kdbg import open_core as open_program
from kdbg import target
from kdbg.errors import ObjectNotFoundError
from kdbg.helpers.hugetlb import for_each_hstate, hugetlb_total_pages, hugetlb_total_usage
from kdbg.symbols import coderefs, ksymtab
from kdbg.target import recovered
from kdbg.ui.commands import CommandContext, run_command
from tests.conftest import resolve_dump
from tests.kallsyms_truth import text_only
from vmcores.arm64 import arm64_dumps
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM

pytestmark = pytest.mark.timeout(1800)


def _meminfo(dump: Dump) -> Dict[str, int]:
    text = (dump.truth / "meminfo").read_text()
    return {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+)", text, re.M)}


def _kmem_i(prog: object) -> str:
    out = io.StringIO()
    run_command(prog, "kmem -i", CommandContext(out=out))  # type: ignore[arg-type]
    return out.getvalue()


@pytest.fixture(scope="module")
def arm64_dump() -> Dump:
    return next(d for d in arm64_dumps(["bookworm-cloud"]) if d.form == ORACLE_FORM)


def _assert_the_guests(dump: Dump) -> None:
    """The dump's HugeTLB totals and ``kmem -i``'s rows are the guest's ``/proc/meminfo``."""
    info = _meminfo(dump)
    with open_program(str(dump.path)) as prog:
        usage = hugetlb_total_usage(prog)
        sizes = {int(h.order) for h in for_each_hstate(prog)}
        text = _kmem_i(prog)
    assert sizes, "a Debian kernel has HugeTLB page sizes"
    assert usage.pages * 4 == info["Hugetlb"] and usage.free_pages <= usage.pages
    rows = {ln[:13].strip(): ln[13:].split() for ln in text.splitlines()[1:] if ln.strip()}
    assert int(rows["TOTAL HUGE"][0]) == info["HugePages_Total"] and int(rows["HUGE FREE"][0]) == info["HugePages_Free"]
    assert "cannot tell" not in text


def _assert_helpers_cannot_tell(prog: object, why: str) -> None:
    """The helpers raise one line naming ``hstates`` and ``why``."""
    assert prog.symbol_table.get("hstates") is None  # type: ignore[attr-defined]
    for helper in (for_each_hstate, hugetlb_total_pages, hugetlb_total_usage):
        with pytest.raises(ObjectNotFoundError) as e:
            helper(prog)
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith("cannot tell the HugeTLB pages: no symbol 'hstates'"), msg
        assert why in msg, msg


def _assert_cannot_tell(dump: Dump, why: str) -> None:
    """The helpers cannot tell; ``kmem -i`` prints its other rows, ``?`` for the HugeTLB
    ones and the commit limit (which subtracts HugeTLB's pages), and the reason after the
    table; its JSON has ``null`` and ``cannot_tell``."""
    with open_program(str(dump.path)) as prog:
        assert prog.symbol_table.get("init_task") is not None
        _assert_helpers_cannot_tell(prog, why)
        text = _kmem_i(prog)
        out = io.StringIO()
        run_command(prog, "kmem -i --json", CommandContext(out=out))
        js = json.loads(out.getvalue())
    info = _meminfo(dump)
    lines = text.splitlines()
    rows = {ln[:13].strip(): ln[13:].split() for ln in lines[1:] if ln.strip() and not ln.startswith("kmem:")}
    assert rows["TOTAL HUGE"][:2] == ["?", "?"] and rows["HUGE FREE"][:3] == ["?", "?", "?"]
    assert rows["COMMIT LIMIT"][:2] == ["?", "?"]
    assert int(rows["TOTAL MEM"][0]) * 4 == info["MemTotal"]
    huge = [ln for ln in lines if ln.startswith("kmem: cannot tell the HugeTLB pages: no symbol 'hstates'")]
    assert len(huge) == 1 and why in huge[0] and lines[-1].startswith("kmem: cannot tell ")
    assert js["huge_total"] is None and js["huge_free"] is None and js["commit_limit"] is None
    assert js["total"] * 4 == info["MemTotal"] and {"huge_total", "huge_free", "commit_limit"} <= set(js["cannot_tell"])
    # what else this kernel's kallsyms cut hides (6.12's blockdev_superblock, nr_swap_pages) is said so too
    assert set(js["cannot_tell"]) <= {"huge_total", "huge_free", "commit_limit", "buffers", "cached",
                                      "swap_total", "swap_used", "swap_free"}


def _without_hstates(monkeypatch: pytest.MonkeyPatch) -> None:
    fewer = {k: v for k, v in coderefs.REFERRERS.items() if k != "hstates"}
    monkeypatch.setattr(coderefs, "REFERRERS", fewer)
    monkeypatch.setattr(ksymtab, "REFERRERS", fewer)
    # the recovered-symbols cache's key holds the rules' fingerprint: another key, a search
    monkeypatch.setattr(recovered, "REFERRERS", fewer)


def _text_only(monkeypatch: pytest.MonkeyPatch) -> None:
    load = target.load_kallsyms_from_memory
    monkeypatch.setattr(target, "load_kallsyms_from_memory", lambda *a, **k: text_only(load(*a, **k)))


NOT_GIVEN = "neither VMCOREINFO, the exported symbols nor code give it"


def test_arm64_hstates_found_is_the_guests(arm64_dump: Dump) -> None:
    _assert_the_guests(arm64_dump)


def test_arm64_hstates_not_searched_cannot_tell(arm64_dump: Dump, monkeypatch: pytest.MonkeyPatch) -> None:
    _without_hstates(monkeypatch)
    _assert_cannot_tell(arm64_dump, NOT_GIVEN)


@pytest.mark.parametrize("suite", ["trixie", "forky"])
def test_x86_hstates_found_is_the_guests(suite: str) -> None:
    _assert_the_guests(resolve_dump(suite, ORACLE_FORM, "qemu"))


def test_x86_hstates_not_searched_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    _text_only(monkeypatch)
    _without_hstates(monkeypatch)
    _assert_cannot_tell(resolve_dump("trixie", ORACLE_FORM, "qemu"), NOT_GIVEN)


def test_x86_7_2_hstates_not_singled_out_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    _text_only(monkeypatch)
    with open_program(str(resolve_dump("forky", ORACLE_FORM, "qemu").path)) as prog:
        _assert_helpers_cannot_tell(prog, "addresses common to size_to_hstate, newseg, hugetlbfs_init_fs_context")
