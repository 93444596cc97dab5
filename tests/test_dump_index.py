"""A dump cache can move: every dump index (each build's ``dumps.json`` and the manifests)
records its paths relative to its own directory (:func:`vmcores.dump_index.dump_json`), and
reads absolute ones as indexes recorded them before. Checked on a cache made in a
temporary directory, renamed, and read through ``KDBG_CACHE`` at its new place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vmcores import arm64, build, crash
from vmcores.crash import CrashDump
from vmcores.crash_module import crash_root
from vmcores.dump_index import Dump, dump_from_json, dump_json, finish_build, manifest_path

pytestmark = pytest.mark.timeout(60)


def _build(final: Path, dumps: list, extra: dict) -> None:
    """What a builder does at its end: the files in a fresh directory, its index, in place."""
    outdir = final.with_name(f".{final.name}.new")
    (outdir / "truth").mkdir(parents=True)
    (outdir / "truth" / "kallsyms").write_text("ffffffff81000000 T _stext\n")
    for d in dumps:
        (outdir / d.path.name).write_bytes(b"dump " + d.form.encode())
    info = {**extra, "dumps": [{**dump_json(d, final), "size": 9} for d in dumps]}
    finish_build(outdir, final, info)


def test_a_moved_cache_reads_at_its_new_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = tmp_path / "home-a" / "kdbg", tmp_path / "home-b" / "kdbg"
    monkeypatch.setenv("KDBG_CACHE", str(old))
    name = "bookworm-cloud"
    ref = arm64.arm64_dumps_root() / name
    dumps = [Dump(name, "6.1.0-1-cloud-arm64", f, "qemu", ref / f"qemu.{f}", ref / "truth")
             for f in ("elf", "kdump-zlib")]
    _build(ref, dumps, {"suite": name, "recipe": arm64.BUILD_RECIPE, "filter_recipe": arm64.FILTER_RECIPE,
                        "package": "linux-image-x=1"})
    (arm64.arm64_root() / name).mkdir(parents=True)
    (arm64.arm64_root() / name / "kernel.json").write_text(json.dumps({"package": "linux-image-x", "version": "1"}))
    x86 = build.vmcores_root() / "bookworm"
    _build(x86, [Dump("bookworm", "6.1.0-1-cloud-amd64", "elf", "qemu", x86 / "qemu.elf", x86 / "truth")],
           {"suite": "bookworm"})
    cdir = crash.crash_dir("bookworm", "panic")
    cdumps = [CrashDump("bookworm", "6.1.0-1-cloud-amd64", "elf", "qemu", cdir / "qemu.elf", cdir / "truth", "panic")]
    _build(cdir, cdumps, {"suite": "bookworm", "scenario": "panic"})
    build._write_manifest()
    crash._write_manifest()
    indexes = [ref / "dumps.json", x86 / "dumps.json", cdir / "dumps.json", manifest_path(),
               crash_root() / "manifest.json"]
    for index in indexes:
        text = index.read_text()
        assert str(old) not in text, index
    assert arm64._load(name) == dumps

    os.rename(tmp_path / "home-a", tmp_path / "home-b")
    monkeypatch.setenv("KDBG_CACHE", str(new))
    moved = [Dump(d.suite, d.release, d.form, d.tool, new / d.path.relative_to(old), new / d.truth.relative_to(old))
             for d in dumps]
    assert arm64._load(name) == moved and all(d.path.read_bytes() == b"dump " + d.form.encode() for d in moved)
    cnew = new / cdir.relative_to(old)
    (crec,) = json.loads((cnew / "dumps.json").read_text())["dumps"]
    assert dump_from_json(CrashDump, crec, cnew) == CrashDump("bookworm", "6.1.0-1-cloud-amd64", "elf", "qemu",
                                                              cnew / "qemu.elf", cnew / "truth", "panic")
    for index, home in ((manifest_path(), manifest_path().parent), (crash_root() / "manifest.json", crash_root())):
        records = json.loads(index.read_text())["dumps"]
        assert records and all(dump_from_json(Dump, r, home).path.is_file() for r in records), index


def test_absolute_records_are_read_as_they_are(tmp_path: Path) -> None:
    """An index written before (absolute paths) still reads; a new one is relative."""
    d = Dump("bookworm", "6.1.0-1-cloud-amd64", "elf", "qemu", tmp_path / "s" / "qemu.elf", tmp_path / "s" / "truth")
    rec = dump_json(d, tmp_path / "s")
    assert rec["path"] == "qemu.elf" and rec["truth"] == "truth"
    assert dump_from_json(Dump, rec, tmp_path / "s") == d
    absolute = {**rec, "path": str(d.path), "truth": str(d.truth)}
    assert dump_from_json(Dump, absolute, tmp_path / "elsewhere") == d
