"""The drgn + DWARF oracle (``vmcores/oracle.py``) itself: it answers every expression of
``tests/oracle_exprs.py`` on every reference kernel and held-out build, and where the guest reported the
truth itself (``uname``, ``ps.json``, ``modules``) drgn agrees with it, so that kdbg can be
checked against the oracle (``tests/test_objects_vs_drgn.py``).

The answers are produced on demand by the ``oracle_answers`` fixture (cached as JSON under
``<cache>/oracle/``); collection only sees the static suite list.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from tests.dump_moment import drgn_view, unchanged_since_truth
from tests.helpers_support import comm_matches
from tests.oracle_exprs import EXPRESSIONS, answers_for, by_key, kernel_version, oracle_dump, queries_for
from tools.held_out import held_out_kernel
from vmcores.debian import SUITES, debian_dbg_vmlinux, debian_kernel
from vmcores.oracle import OracleAnswers, ask_drgn, drgn_eval, run_drgn

#: The kernels the oracle answers on: each suite's reference kernel and its held-out build
#: (:func:`tools.held_out.held_out_kernel`), which ``tests/test_objects_vs_drgn.py`` compares.
KERNELS: List[Tuple[str, str]] = [(suite, build) for suite in SUITES for build in ("reference", "held-out")]


def _name(kernel: Tuple[str, str]) -> str:
    suite, build = kernel
    return suite if build == "reference" else held_out_kernel(suite)


@pytest.fixture(scope="session", params=KERNELS, ids=lambda k: k[0] if k[1] == "reference" else f"{k[0]}-{k[1]}")
def oracle_answers(request: pytest.FixtureRequest) -> OracleAnswers:
    """drgn's answers on one kernel (parametrized over :data:`KERNELS`)."""
    return answers_for(_name(request.param))


def _truth(answers: OracleAnswers, name: str) -> Path:
    return oracle_dump(answers.suite).truth / name


# ---------------------------------------------------------------- the expression list


def test_expression_list_covers_every_area_and_kernel() -> None:
    """>= 60 expressions, unique keys, every area the issue names, a text for each kernel."""
    keys = [e.key for e in EXPRESSIONS]
    assert len(keys) >= 60
    assert len(set(keys)) == len(keys)
    areas = {e.area for e in EXPRESSIONS}
    for area in (
        "task",
        "mm",
        "files",
        "net",
        "printk",
        "per-CPU",
        "modules",
        "bitfield",
        "enum",
        "union",
        "function pointer",
        "array",
        "string",
        "pointer",
        "struct",
        "format",
    ):
        assert area in areas, area
    for kernel in KERNELS:  # the kernels at hand, whichever ABIs the archive serves
        assert len(queries_for(debian_kernel(_name(kernel), "cloud").release)) == len(keys)
    assert by_key()["task.state"].text_for(kernel_version("5.10.0")) == 'prog["init_task"].state'
    assert by_key()["task.state"].text_for(kernel_version("6.1.0")) == 'prog["init_task"].__state'


# ---------------------------------------------------------------- the oracle answers


def test_every_expression_answered(oracle_answers: OracleAnswers) -> None:
    """drgn evaluates every expression and prints every object, on every kernel."""
    failed = {k: (r.get("error"), r.get("message")) for k, r in oracle_answers.records.items() if r["kind"] == "error"}
    assert not failed
    for key, rec in oracle_answers.records.items():
        if rec["kind"] != "object":
            continue
        assert "str" in rec, (key, rec.get("str_error"))
        assert rec["type"], key
        if rec.get("format_options"):
            assert "format" in rec, (key, rec.get("format_error"))
    assert set(oracle_answers.records) == {e.key for e in EXPRESSIONS}


@pytest.fixture(scope="session", params=list(SUITES))
def reference_answers(request: pytest.FixtureRequest) -> OracleAnswers:
    """drgn's answers on one suite's reference kernel."""
    return answers_for(request.param)


def test_answers_are_cached(reference_answers: OracleAnswers) -> None:
    """Asking again reads the JSON cache (same records, drgn not run)."""
    dump = oracle_dump(reference_answers.suite)
    again = ask_drgn(reference_answers.suite, dump.path, queries_for(dump.release))
    assert again.cached
    assert again.path == reference_answers.path
    assert again.records == reference_answers.records
    assert json.loads(again.path.read_text())["ident"]["drgn"] == reference_answers.drgn


def _without_timing(records: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {k: {f: v for f, v in r.items() if f != "seconds"} for k, r in records.items()}


def test_answers_are_reproducible(reference_answers: OracleAnswers) -> None:
    """drgn run afresh twice more gives the same answers (an expression whose answer drgn
    picks at random, like ``linux_banner``'s type, cannot be an oracle), on each reference
    kernel (the expressions and the drgn are the held-out builds' too)."""
    dump = oracle_dump(reference_answers.suite)
    queries = queries_for(dump.release)
    for _ in range(2):
        fresh = run_drgn(dump.path, reference_answers.vmlinux, queries)
        assert _without_timing({r["key"]: r for r in fresh["records"]}) == _without_timing(reference_answers.records)


def test_vmlinux_is_the_dumped_kernel(oracle_answers: OracleAnswers) -> None:
    """The DWARF vmlinux is the reference kernel's (its linux_banner is the guest's
    /proc/version), and drgn reads the guest's release from the dump."""
    vmlinux = debian_dbg_vmlinux(oracle_answers.suite)
    assert vmlinux == oracle_answers.vmlinux
    version = _truth(oracle_answers, "version").read_text().strip()
    with open(vmlinux, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert m.find(version.encode()) >= 0
    uname = _truth(oracle_answers, "uname").read_text().strip()
    rec = oracle_answers.records["string.uts_release"]
    assert rec["str"] == f'(char [65])"{uname}"'
    assert bytes(rec["value"]).rstrip(b"\0").decode() == uname
    assert oracle_answers.records["struct.init_uts_ns"]["value"]["name"]["machine"][:6] == list(b"x86_64")


def test_values_the_guest_reported(oracle_answers: OracleAnswers) -> None:
    """Answers that the guest's own truth (modules, cmdline) or plain facts pin down."""
    rec = oracle_answers.records
    assert rec["task.comm"]["str"] == '(char [16])"swapper/0"'
    assert rec["task.comm.string"]["repr"] == "b'swapper/0'"
    assert rec["task.pid1.pid"]["value"] == 1
    assert rec["percpu.rq1.cpu"]["value"] == 1
    assert rec["percpu.cpu_number1"]["value"] == 1
    assert rec["percpu.rq1.idle.comm"]["str"] == '(char [16])"swapper/1"'
    assert rec["percpu.this_cpu_off1"]["value"] == rec["percpu.offset1"]["value"]
    assert rec["net.lo.name"]["str"] == '(char [16])"lo"'
    assert rec["net.lo.ifindex"]["value"] == 1
    assert rec["enum.system_state"]["str"] == "(enum system_states)SYSTEM_RUNNING"
    assert rec["bitfield.lo.kobj.state_in_sysfs"]["value"] == 1
    first_module = _truth(oracle_answers, "modules").read_text().split()[0]
    assert rec["modules.first.name"]["str"] == f'(char [56])"{first_module}"'
    assert rec["modules.first.state"]["str"] == "(enum module_state)MODULE_STATE_LIVE"
    cmdline = _truth(oracle_answers, "cmdline").read_text().strip()
    assert rec["string.saved_command_line"]["str"].endswith(f' = "{cmdline}"')
    assert rec["task.mm"]["str"] == "(struct mm_struct *)0x0"
    assert "init_task+0x0 = " in rec["pointer.address_of"]["format"]


def test_task_walk_matches_ps(oracle_answers: OracleAnswers) -> None:
    """drgn's walk of init_task.tasks (its own list helper) lists every process the guest
    listed, with the same comm and parent, and the same state where the task stayed asleep from
    the guest's reading until the dump (``dump_moment.unchanged_since_truth``: X2's fresh
    trixie build caught ``kcompactd0`` asleep in ``/proc`` and woken at the dump)."""
    dump = oracle_dump(oracle_answers.suite)
    walk: List[List[Any]] = drgn_eval(
        oracle_answers.suite,
        dump.path,
        "[(t.pid.value_(), t.comm.string_().decode(), t.real_parent.pid.value_(),"
        " drgn.helpers.linux.sched.task_state_to_char(t))"
        ' for t in drgn.helpers.linux.list.list_for_each_entry("struct task_struct",'
        ' prog["init_task"].tasks.address_of_(), "tasks")]',
    )
    tasks = {pid: (comm, ppid, state) for pid, comm, ppid, state in walk}
    ps = json.loads(_truth(oracle_answers, "ps.json").read_text())
    assert len(ps) > 20
    asleep = unchanged_since_truth(dump.truth, drgn_view(oracle_answers.suite, dump.path))
    assert len(asleep & {p["pid"] for p in ps}) > 10
    for p in ps:
        assert p["pid"] in tasks, p
        comm, ppid, state = tasks[p["pid"]]
        assert comm_matches(p["comm"], comm), (p, comm)
        assert ppid == p["ppid"], (p, ppid)
        if p["pid"] in asleep:
            assert state == p["state"], (p, state)
