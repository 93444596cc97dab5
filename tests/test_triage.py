"""``kdbg triage`` (issue 17): many dumps reported and grouped by crash signature, locally
and on a Dask cluster, with a summary page a real browser renders.

Truth: which scenario crashed each guest (``vmcores.crash`` built them: sysrq panic, NULL
dereference in a module, unknown NMI) on three kernels, and a reference guest that did not
crash. Files that are not dumps, or dumps cut short, must be rows, never stop the batch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from tests.cli_support import clean_env, run_kdbg
from tests.conftest import resolve_crash_dump, resolve_dump
from vmcores.crash import SCENARIOS
from vmcores.debian import SUITES

EXPECTED_KIND = {"panic": "sysrq", "oops": "null-deref", "nmi": "nmi"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """A directory of the nine crash dumps (links), one uncrashed dump, a text file and a
    dump cut short; what each one is."""
    d = tmp_path_factory.mktemp("dumps")
    scenario_of: Dict[str, str] = {}
    for suite in SUITES:
        for scenario in SCENARIOS:
            link = d / f"{suite}-{scenario}.elf"
            link.symlink_to(resolve_crash_dump(suite, scenario, "elf-paging").path)
            scenario_of[str(link)] = scenario
    live = d / "bookworm-uncrashed.elf"
    live.symlink_to(resolve_dump("bookworm", "elf-paging", "qemu").path)
    (d / "notes.txt").write_text("not a dump\n")
    full = resolve_crash_dump("trixie", "oops", "kdump-zlib").path
    cut = d / "cut.kdump"
    with open(full, "rb") as src, open(cut, "wb") as dst:
        shutil.copyfileobj(src, dst)
        dst.truncate(full.stat().st_size * 9 // 10)
    return {"dir": d, "scenario_of": scenario_of, "uncrashed": str(live), "text": str(d / "notes.txt"),
            "cut": str(cut)}


def _triage(inputs: Dict[str, Any], out: Path, *extra: str) -> subprocess.CompletedProcess:
    r = run_kdbg("triage", str(inputs["dir"]), "-o", str(out), *extra, timeout=1500)
    assert r.returncode == 0, r.stderr
    return r


def _check_summary(summary: Dict[str, Any], inputs: Dict[str, Any]) -> None:
    rows = {row["path"]: row for row in summary["dumps"]}
    assert len(rows) == len(inputs["scenario_of"]) + 3
    # one group per scenario, holding that scenario's dumps of all three kernels
    for scenario in SCENARIOS:
        paths = sorted(p for p, s in inputs["scenario_of"].items() if s == scenario)
        digests = {rows[p]["signature"] for p in paths}
        assert len(digests) == 1, (scenario, digests)
        digest = digests.pop()
        g = next(g for g in summary["groups"] if g["signature"] == digest)
        assert g["dumps"] == paths and g["count"] == 3 and g["kind"] == EXPECTED_KIND[scenario]
        assert len(g["kernels"]) == 3
        assert g["first"] <= g["last"] and g["example"] in paths
    assert rows[inputs["uncrashed"]]["kind"] == "none"
    text = rows[inputs["text"]]
    assert text["status"] == "error" and "unknown dump format" in text["error"]
    assert summary["errors"] == [text]
    cut = rows[inputs["cut"]]
    assert cut["status"] == "ok" and any("truncated" in w for w in cut["warnings"])


@pytest.mark.timeout(1800)
def test_local_triage_groups_by_signature_and_reuses_reports(inputs: Dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _triage(inputs, out, "--jobs", "2", "--json-progress")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "kdbg-triage/1"
    _check_summary(summary, inputs)
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert [e["done"] for e in events] == list(range(1, len(summary["dumps"]) + 1))
    assert {e["total"] for e in events} == {len(summary["dumps"])}
    assert not any(row.get("reused") for row in summary["dumps"])
    # A rerun reuses every report; a changed dump is reported again.
    reports = {p: p.stat().st_mtime_ns for p in (out / "reports").iterdir()}
    changed = Path(inputs["cut"])
    os.utime(changed, ns=(time.time_ns(), time.time_ns()))
    _triage(inputs, out, "--jobs", "2")
    again = json.loads((out / "summary.json").read_text())
    for row in again["dumps"]:
        if row["status"] == "ok":
            assert row["reused"] == (row["path"] != str(changed)), row["path"]
    assert all(p.stat().st_mtime_ns == t for p, t in reports.items())
    assert again["groups"] == summary["groups"]


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A 2-worker Dask ``LocalCluster`` (processes), its scheduler's address."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.mark.timeout(1800)
def test_dask_cluster_gives_the_same_summary(inputs: Dict[str, Any], dask_scheduler: str, tmp_path: Path) -> None:
    local, remote = tmp_path / "local", tmp_path / "dask"
    _triage(inputs, local, "--jobs", "1")
    _triage(inputs, remote, "--dask", dask_scheduler)
    a = json.loads((local / "summary.json").read_text())
    b = json.loads((remote / "summary.json").read_text())
    _check_summary(b, inputs)
    assert a["groups"] == b["groups"]
    for x, y in zip(a["dumps"], b["dumps"], strict=True):
        assert {k: v for k, v in x.items() if k not in ("seconds",)} == \
               {k: v for k, v in y.items() if k not in ("seconds",)}


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is required (.ci/run installs it)"
    return path


@pytest.mark.timeout(1800)
def test_summary_page_renders_in_chromium(inputs: Dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    _triage(inputs, out, "--jobs", "2")
    summary = json.loads((out / "summary.json").read_text())
    page = (out / "summary.html").resolve()
    run = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=300, env=clean_env(),
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "<script" not in dom
    groups = re.search(r'<table id="groups">(.*?)</table>', dom, re.S)
    dumps = re.search(r'<table id="dumps">(.*?)</table>', dom, re.S)
    assert groups and dumps
    for g in summary["groups"]:
        if g["signature"]:
            assert g["signature"] in groups.group(1)
    rows = re.findall(r"<tr><td>(.*?)</td>", dumps.group(1))
    assert sorted(rows) == sorted(d["path"] for d in summary["dumps"])
    shot = tmp_path / "page.png"
    run = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                          "--window-size=1200,900", page.as_uri()], capture_output=True, text=True, timeout=300,
                         env=clean_env(), stdin=subprocess.DEVNULL)
    assert run.returncode == 0 and shot.stat().st_size > 10_000, run.stderr[-2000:]


@pytest.mark.timeout(300)
def test_bad_usage_is_one_line(tmp_path: Path) -> None:
    cases: List[List[str]] = [[str(tmp_path)], [str(tmp_path / "missing"), "-o", str(tmp_path / "o")],
                              [str(tmp_path), "-o", str(tmp_path / "o"), "--jobs", "0"]]
    for args in cases:
        r = run_kdbg("triage", *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
    assert not (tmp_path / "o").exists()
