"""The interactive examples of drgn's documentation, run unchanged under kdbg without
DWARF, print what they print under drgn with Debian's DWARF on the same dump.

The examples are drgn's (its user guide, tutorials, case studies, release notes, and the
docstrings its API reference and helper pages are rendered from), extracted at test time
from drgn's source distribution (:mod:`vmcores.doc_examples`; nothing of drgn's is copied
here). An example is named by its file and the line of its first ``>>>``.

Every example is classified here, by what it needs, never by how kdbg fares:

- :data:`APPLIES`: it runs on a vmcore of the reference kernels. Some run with changes, each
  said in the entry: a PID, address or name from the author's machine replaced by one of
  the dump (found by drgn with DWARF, :data:`FACT_QUERIES`), a name the author's session had
  defined given a value from the dump first, a statement that asks something else left out.
- :data:`GUEST_APPLIES`: it needs state only a scenario guest has (a block request in
  flight: ``vmcores.disk``; a SysV shm segment or swap: ``vmcores.state``), and runs on
  that guest's dumps, its changes said as in :data:`APPLIES`.
- :data:`NOT_APPLICABLE`: it needs a live kernel, a user-space program, hardware or a
  filesystem the guests lack, drgn's command syntax, or only DWARF can answer it (reasons
  starting with :data:`DWARF_ONLY`).

A test checks that these cover exactly the examples of the installed drgn's release, so a
new release's examples show up here.

The applicable examples run by one driver script (``vmcores/doc_driver.py``) under each
debugger, in drgn's interactive namespace, one session per document, on the three reference
kernels' QEMU ``-p`` ELF dump (where drgn has no NULL-page bug, see :mod:`vmcores.oracle`) and
makedumpfile's compressed kdump. Each example's output (every displayed value, print and
exception) must be identical, except:

- :data:`KERNEL_WINS`: drgn is wrong and kdbg prints what the guest kernel itself printed
  (checked against the guest's own file);
- :data:`KNOWN_DIFFERENCES`: kdbg differs, for the reason said (a drgn API or helper kdbg
  lacks yet, what only DWARF records, a presentation kdbg chooses otherwise). Each entry names
  the text kdbg's output shows for that reason, and must still differ: an entry that no
  longer differs, or differs without its symptom, fails.

A scenario guest's examples run the same way: drgn on the guest's ``-p`` ELF dump, kdbg on
every form of the same stopped guest (the fixtures ``disk_dump`` and ``state_dump``: both
ELF forms and QEMU's kdump files, which drgn cannot read), each output identical to drgn's
and held to what the guest's kernel itself recorded at the dump (:data:`GUEST_TRUTH`:
``/proc/sysvipc/shm``, ``/proc/swaps``, the disks' inflight counts).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Tuple

import pytest

from tests.conftest import resolve_dump
from tests.drgn_doc_rules import (
    APPLIES,
    FACT_QUERIES,
    FORMS,
    GUEST_APPLIES,
    GUEST_FACT_QUERIES,
    GUEST_FORMS,
    KERNEL_WINS,
    KNOWN_DIFFERENCES,
    NOT_APPLICABLE,
    Applies,
    Facts,
)
from vmcores.debian import SUITES
from vmcores.disk import read_inflight
from vmcores.doc_examples import (
    NAMESPACE_ID,
    Example,
    driver_input,
    extract_examples,
    interactive_names,
    run_examples,
    split_output,
)
from vmcores.drgn_source import drgn_source
from vmcores.dump_index import Dump, dump_from_json
from vmcores.oracle import ORACLE_FORM, Query, ask_drgn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


#: x86-64's page size in KiB (every guest is x86-64): /proc/swaps counts KiB.
PAGE_KIB = 4


def _only_entry(truth: Path, name: str) -> List[str]:
    """The fields of the one entry of the guest's ``/proc/<name>`` (a header line, then one
    line per entry)."""
    entries = [line.split() for line in (truth / name).read_text().splitlines()[1:] if line.strip()]
    assert len(entries) == 1, f"{truth / name}: the guest made one entry, the file lists {entries}"
    return entries[0]


def _shm_flags_truth(truth: Path, text: str) -> None:
    """/proc/sysvipc/shm's perms is the segment's ``shm_perm.mode`` in octal
    (sysvipc_shm_proc_show()); above the permission bits, SHM_DEST (0o1000) and SHM_LOCKED
    (0o2000) are ABI. The example prints their names, or '0' for none (drgn's decode_flags)."""
    mode = int(_only_entry(truth, "sysvipc/shm")[2], 8)
    assert mode & ~0o3777 == 0, f"{truth}: shm mode {mode:o} has bits the example cannot name"
    names = [name for name, bit in (("SHM_DEST", 0o1000), ("SHM_LOCKED", 0o2000)) if mode & bit]
    assert text == repr("|".join(names) or "0"), f"the guest's /proc/sysvipc/shm mode is {mode:o}"


def _swap_path_truth(truth: Path, text: str) -> None:
    """/proc/swaps names the swap device (its Filename column)."""
    assert text == repr(_only_entry(truth, "swaps")[0].encode()), "not /proc/swaps' Filename"


def _swap_usage_truth(truth: Path, text: str) -> None:
    """/proc/swaps' Used is the device's pages in use in KiB (swap_show(): inuse << (PAGE_SHIFT - 10))."""
    used_kib = int(_only_entry(truth, "swaps")[3])
    assert used_kib % PAGE_KIB == 0 and text == str(used_kib // PAGE_KIB), f"/proc/swaps' Used is {used_kib} KiB"


def _req_op_truth(truth: Path, text: str) -> None:
    """A request in flight on vdb is a read or a write (``enum req_opf`` before 6.1), and
    the guest's own ``/sys/block/vdb/inflight`` counted requests of that direction in every
    one of its last snapshots before the stop (``KDBG-INFLIGHT`` lines of its console)."""
    m = re.fullmatch(r"\(enum req_opf?\)REQ_OP_(READ|WRITE)", text)
    assert m, "not a read or write operation"
    lines = read_inflight((truth / "console.log").read_text(errors="replace"))
    assert len(lines) >= 5, f"{truth}: too few KDBG-INFLIGHT lines: {lines}"
    column = 0 if m.group(1) == "READ" else 1
    assert all(d["vdb"][column] >= 1 for _, d in lines), f"vdb had no {m.group(1)} in flight: {lines}"


#: What the guest kernel itself says an applicable guest example prints: a check of kdbg's
#: output against the guest's own file (``/proc/sysvipc/shm``, ``/proc/swaps``, the inflight
#: counts), raising AssertionError where it disagrees.
GUEST_TRUTH: Dict[str, Callable[[Path, str], None]] = {
    "drgn/helpers/linux/block.py:253": _req_op_truth,
    "drgn/helpers/linux/ipc.py:134": _shm_flags_truth,
    "drgn/helpers/linux/swap.py:49": _swap_path_truth,
    "drgn/helpers/linux/swap.py:70": _swap_usage_truth,
}


@functools.cache
def _examples() -> Tuple[Example, ...]:
    return tuple(extract_examples(drgn_source()))


def test_every_example_is_classified() -> None:
    """APPLIES + NOT_APPLICABLE are exactly the examples of the installed drgn's release,
    and every substitution still finds its text (an example drgn changed shows here)."""
    examples = {ex.id: ex for ex in _examples()}
    assert len(examples) == len(_examples()), "two examples with one id"
    on_guests = [key for rules in GUEST_APPLIES.values() for key in rules]
    assert len(set(on_guests)) == len(on_guests), "an example on two guests"
    assert not set(APPLIES) & set(NOT_APPLICABLE)
    assert not set(on_guests) & (set(APPLIES) | set(NOT_APPLICABLE))
    classified = set(APPLIES) | set(NOT_APPLICABLE) | set(on_guests)
    assert set(examples) == classified, (
        f"not classified: {sorted(set(examples) - classified)}; classified but absent: "
        f"{sorted(classified - set(examples))}"
    )
    assert set(GUEST_TRUTH) == set(on_guests), "every guest example is held to the guest's own file"
    assert set(GUEST_APPLIES) == set(GUEST_FACT_QUERIES) == set(GUEST_FORMS)
    for key, rule in [*APPLIES.items(), *((k, r) for rules in GUEST_APPLIES.values() for k, r in rules.items())]:
        code = "\n".join(st.source for st in examples[key].statements)
        for old, _ in rule.subst:
            assert old in code, f"{key}: {old!r} is not in its code"
        assert all(0 <= i < len(examples[key].statements) for i in rule.drop), key


def test_known_differences_are_applicable_examples() -> None:
    """KERNEL_WINS and KNOWN_DIFFERENCES name applicable examples (or the namespace), once."""
    runnable = {NAMESPACE_ID, *APPLIES}
    assert set(KNOWN_DIFFERENCES) <= runnable, sorted(set(KNOWN_DIFFERENCES) - runnable)
    assert set(KERNEL_WINS) <= runnable, sorted(set(KERNEL_WINS) - runnable)
    assert not set(KERNEL_WINS) & set(KNOWN_DIFFERENCES)
    for why, truth in KERNEL_WINS.values():
        assert why and truth


def _facts(suite: str, core: Path, queries: Mapping[str, str]) -> Facts:
    """drgn's answers (with DWARF) to ``queries`` on the ``-p`` ELF dump ``core`` of ``suite``."""
    answers = ask_drgn(suite, core, [Query(k, text) for k, text in queries.items()])
    facts: Facts = {}
    for key, text in queries.items():
        rec = answers.records[key]
        assert rec["kind"] in ("object", "python") and isinstance(rec.get("value"), int), (
            f"{suite}: drgn could not evaluate {text}: {rec}")
        facts[key] = hex(rec["value"])
    return facts


def statements(example: Example, rule: Applies, facts: Facts) -> List[str]:
    """The code of ``example`` as it runs here: ``rule``'s changes made, facts filled in."""
    code = [st.source for i, st in enumerate(example.statements) if i not in rule.drop]
    for old, new in rule.subst:
        code = [c.replace(old, new.format(**facts)) for c in code]
    return [g.format(**facts) for g in rule.given] + code


Outputs = Tuple[Dict[str, str], Dict[str, str], str]


def _run(suite: str, core: Path, kdbg_core: Path, rules: Mapping[str, Applies], facts: Facts) -> Outputs:
    """The examples ``rules`` names, changed as they say, run by drgn on ``core`` and by kdbg
    on ``kdbg_core``: each one's output under each, and what went wrong with either run as a
    whole."""
    chosen = [ex for ex in _examples() if ex.id in rules]
    sources = {ex.id: statements(ex, rules[ex.id], facts) for ex in chosen}
    payload = driver_input(chosen, interactive_names(drgn_source()), sources)
    drgn_run, kdbg_run = run_examples(core, suite, payload, kdbg_core=kdbg_core)
    problems = [f"{name} exited {run.returncode}: {run.last_error}"
                for name, run in (("drgn", drgn_run), ("kdbg", kdbg_run)) if run.returncode != 0]
    return split_output(drgn_run.stdout), split_output(kdbg_run.stdout), "; ".join(problems)


@functools.cache
def _outputs(suite: str, form: str, tool: str) -> Outputs:
    """Each applicable example's output under drgn and under kdbg on one reference dump."""
    dump = resolve_dump(suite, form, tool)
    facts = _facts(suite, resolve_dump(suite, "elf-paging", "qemu").path, FACT_QUERIES)
    return _run(suite, dump.path, dump.path, APPLIES, facts)


def _same_guest(dump: Dump, form: str) -> Path:
    """The ``form`` dump of the same stopped guest as ``dump`` (its build's ``dumps.json``,
    beside ``truth/``): the same memory in another file format."""
    records = json.loads((dump.truth.parent / "dumps.json").read_text())["dumps"]
    paths = [dump_from_json(Dump, rec, dump.truth.parent).path for rec in records if rec["form"] == form]
    assert len(paths) == 1 and paths[0].exists(), f"{dump.truth.parent}: no {form} dump beside {dump.path}"
    return paths[0]


@functools.cache
def _guest_outputs(guest: str, suite: str, core: Path, oracle: Path) -> Outputs:
    """A scenario guest's examples' output under drgn on its ``-p`` ELF dump ``oracle`` and
    under kdbg on ``core`` (a form of the same stopped guest)."""
    facts = _facts(suite, oracle, GUEST_FACT_QUERIES[guest])
    return _run(suite, oracle, core, GUEST_APPLIES[guest], facts)


def _diff(a: str, b: str) -> str:
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), "drgn", "kdbg", lineterm="", n=2))
    return "\n".join(lines[:80]) + ("\n..." if len(lines) > 80 else "")


CASES = [
    pytest.param(suite, form, tool, key, id=f"{suite}-{form}-{key}")
    for suite in SUITES
    for form, tool in FORMS
    for key in [NAMESPACE_ID, *APPLIES]
]


@pytest.mark.parametrize("suite,form,tool,key", CASES)
def test_doc_example_output_is_drgns(suite: str, form: str, tool: str, key: str) -> None:
    """One example (or ``(namespace)``: drgn's interactive names) prints under kdbg what it
    prints under drgn, on one dump."""
    drgn_out, kdbg_out, problems = _outputs(suite, form, tool)
    assert not problems, f"{suite} {form}: {problems}"
    assert key in drgn_out, f"{key}: drgn's run printed nothing for it"
    assert key in kdbg_out, f"{key}: kdbg's run printed nothing for it"
    drgn_text, kdbg_text = drgn_out[key], kdbg_out[key]
    where = f"{suite} {form} {key}"
    if key in KERNEL_WINS:
        _why, truth_name = KERNEL_WINS[key]
        truth = (resolve_dump(suite, form, tool).truth / truth_name).read_text().splitlines()
        assert truth, f"{where}: the guest's {truth_name} is empty"
        assert kdbg_text.splitlines()[:len(truth)] == truth, (
            f"{where}: kdbg's output does not start with the guest's own {truth_name}:\n"
            f"{_diff(chr(10).join(truth), kdbg_text)}")
        if drgn_text != kdbg_text:
            # drgn's only difference: lines of a multi-line record without the time prefix
            unprefixed = [line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line
                          for line in kdbg_text.splitlines()]
            assert [d for d in drgn_text.splitlines() if d not in kdbg_text.splitlines()] and all(
                d in unprefixed for d in drgn_text.splitlines() if d not in kdbg_text.splitlines()), (
                f"{where}: drgn differs other than by the time prefix:\n{_diff(drgn_text, kdbg_text)}")
        return
    known = KNOWN_DIFFERENCES.get(key)
    if known is not None and suite in known.suites and form in known.forms:
        assert drgn_text != kdbg_text, f"{where}: kdbg now prints drgn's output: drop it from KNOWN_DIFFERENCES"
        absent = [text for text in known.shows if text not in kdbg_text]
        assert not absent, (f"{where}: kdbg's output differs, but not as KNOWN_DIFFERENCES says ({known.why}): "
                            f"{absent} not in it:\n{_diff(drgn_text, kdbg_text)}")
        return
    assert drgn_text == kdbg_text, f"{where}:\n{_diff(drgn_text, kdbg_text)}"


def _guest_cases(guest: str) -> List[object]:
    return [pytest.param((suite, form), key, id=f"{suite}-{form}-{key}")
            for suite in SUITES for form in GUEST_FORMS[guest] for key in GUEST_APPLIES[guest]]


def _check_guest_example(guest: str, dump: Dump, key: str) -> None:
    """One example on a scenario guest's dump: kdbg's output (on ``dump``, any form) is
    drgn's on the ``-p`` ELF dump of the same stopped guest, and it is what the guest's own
    file says (:data:`GUEST_TRUTH`)."""
    drgn_out, kdbg_out, problems = _guest_outputs(guest, dump.suite, dump.path, _same_guest(dump, ORACLE_FORM))
    where = f"{guest} guest {dump.suite} {dump.form} {key}"
    assert not problems, f"{where}: {problems}"
    assert key in drgn_out, f"{where}: drgn's run printed nothing for it"
    assert key in kdbg_out, f"{where}: kdbg's run printed nothing for it"
    GUEST_TRUTH[key](dump.truth, kdbg_out[key])
    assert drgn_out[key] == kdbg_out[key], f"{where}:\n{_diff(drgn_out[key], kdbg_out[key])}"


@pytest.mark.parametrize("disk_dump,key", _guest_cases("disk"), indirect=["disk_dump"])
def test_disk_guest_example_output_is_drgns(disk_dump: Dump, key: str) -> None:
    """An example that needs a block request prints under kdbg what it prints under drgn,
    on the disk guest's dumps, and what the guest's inflight counts allow."""
    _check_guest_example("disk", disk_dump, key)


@pytest.mark.parametrize("state_dump,key", _guest_cases("state"), indirect=["state_dump"])
def test_state_guest_example_output_is_drgns(state_dump: Dump, key: str) -> None:
    """An example that needs a SysV shm segment or swap prints under kdbg what it prints
    under drgn, on the state guest's dumps, and what the guest's /proc says."""
    _check_guest_example("state", state_dump, key)
