"""The crash oracle: what Debian's ``crash`` (bookworm's 8.0.2, the ``crash`` package),
given Debian's DWARF ``vmlinux`` (the ``-dbg`` package :func:`vmcores.debian.debian_dbg_vmlinux`
fetches for the drgn oracle too), prints for a list of commands on a dump.

crash runs in batch mode in a subprocess: ``crash -s VMLINUX DUMP`` with the commands on
its standard input, each redirected with crash's own ``CMD > FILE`` into a file of its own,
then ``q``.  Each command's output (its error line included: crash writes an error to the
redirected output as well as to the terminal) is recorded as crash printed it, with
crash's exit status, under ``<cache>/crash-oracle/``, keyed by the dump (path, size,
mtime), the ``vmlinux``, crash's version and the command list: a repeated test run does
not start crash again (crash's start-up on these dumps takes 10-25 s).

What crash 8.0.2 can and cannot do on the reference and crash dumps (found by hand,
2026-12-07, with the kernels ``vmcores.debian`` served that day):

* **bullseye 5.10** (5.10.223): opens every form (QEMU's ``elf`` and ``elf-paging``, the
  kdump-compressed ``kdump-zlib``, which crash marks ``[PARTIAL DUMP]``) and the crash
  dumps; ``sys``, ``ps``, ``bt``, ``log``, ``struct`` agree with the guest.
* **bookworm 6.1** (6.1.176): opens the ELF and kdump forms, but its task table is wrong:
  on the reference dumps it finds only the two idle tasks (``TASKS: 2``; ``ps`` lists the
  two ``swapper``), on the panic dump three (``WARNING: active task ... not found in PID
  hash``).  crash 8.0.2 predates 6.1.176's PID-hash layout (the IDR of ``struct pid``
  that 6.1's backports changed).  Its ``bt`` of the panic task shows stale frames after
  ``do_syscall_64`` (``filp_close``, ``do_dup2``, ``exit_to_user_mode_prepare`` ...)
  that the kernel's own trace on the console does not have.  Where crash is wrong the
  kernel's own answer wins; the tests say so where they compare.
* **trixie 6.12** (6.12.117): crash 8.0.2 does not open the dump: it exits with status 1
  after gdb's banner, printing nothing (with ``-d 3``: ``crash: seek error: kernel virtual
  address: ffffffff825645a8  type: "page_offset_base"``).  Tests on 6.12 compare with the
  guest's truth and drgn only, and say so (:data:`CRASH_CANNOT_OPEN`).
* Where crash differs from the kernel's own answer on the kernels it opens: ``ps``'s RSS
  and ``%MEM`` on 5.10 are low (``init`` 108 KiB where the guest's ``/proc/1/stat`` says
  416 pages: crash 8.0.2 misses counters of 5.10's ``mm->rss_stat``); ``UPTIME`` and ``log
  -T`` count jiffies/HZ, up to a second behind ``/proc/uptime``'s clock.  Format rules
  found in its output: ``PANIC:`` takes a fault's ``Oops:`` line before ``Kernel panic -``
  (``"Oops: 0002 [#1] SMP NOPTI" (check log for details)``); ``log`` prints a data-less
  record (5.10's empty line, ``text_blk_lpos`` bit 0) as a bare empty line but an empty
  data block (6.1) with its timestamp; ``ps -l`` right-aligns the timestamps to the
  widest.
* crash's answers depend on the order of the commands: ``set`` marks the panic task
  ``(PANIC)`` when it runs first and ``(SYSRQ)`` once a command has read the log and found
  sysrq's ``Trigger a crash`` (:func:`ask_crash` keys its cache by the whole command list,
  so a list always gets the same answers).
* On every kernel, ``bt -a`` of an idle CPU fails on QEMU's dumps (``bt: read of stack at
  fffffe000004f000 failed``: the NMI/exception stack of the CPU QEMU stopped in its idle
  loop is not where crash looks), and the panicked dumps show the CPU that did not panic
  as ``[OFFLINE: 1]`` (``sys``: ``CPUS: 2 [OFFLINE: 1]``: ``panic`` stopped it).

Usage::

    python -m vmcores.crash_oracle SUITE [--scenario panic|oops|nmi] [--form FORM] CMD ...
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from vmcores.build import reference_dumps
from vmcores.crash import crash_dumps
from vmcores.debian import cache_root, debian_dbg_vmlinux, file_lock, kernel_name

CRASH_FORMAT = 1
"""Version of the recorded answer layout; part of the cache key."""

CRASH_TIMEOUT = 600
"""Seconds one crash run may take."""

CRASH_CANNOT_OPEN = frozenset({"trixie"})
"""Suites whose kernel crash 8.0.2 cannot open (see the module docstring)."""

CRASH_WRONG_TASKS = frozenset({"bookworm"})
"""Suites whose task table crash 8.0.2 reads wrongly (it misses tasks in the PID hash)."""


CRASH_STRIPPED_SUFFIXES = (".isra.", ".part.", ".llvm.")
"""gcc's clone suffixes that crash cuts off a symbol's name (its ``strip_symbol_end()``)."""


def crash_symbol_name(name: str) -> str:
    """*name* (a symbol, or ``symbol+offset``) as crash prints it: crash cuts the symbol at
    the first of :data:`CRASH_STRIPPED_SUFFIXES` (``_get_random_bytes.part.0`` is its
    ``_get_random_bytes``). The kernel's kallsyms keeps the whole name, and so does kdbg: the
    kernel's spelling wins, and a comparison with crash maps kdbg's names through this."""
    symbol, plus, offset = name.partition("+")
    for suffix in CRASH_STRIPPED_SUFFIXES:
        cut = symbol.find(suffix)
        if cut > 0:
            symbol = symbol[:cut]
            break
    return symbol + plus + offset


class CrashOracleError(RuntimeError):
    """crash could not be run, or could not open the dump."""


def crash_binary() -> str:
    """The path of Debian's ``crash`` (``apt-get install crash``)."""
    path = shutil.which("crash")
    if path is None:
        raise CrashOracleError("crash is not installed: apt-get install crash")
    return path


def crash_version() -> str:
    """``crash --version``'s first line (``crash 8.0.2``)."""
    proc = subprocess.run([crash_binary(), "--version"], capture_output=True, text=True, timeout=60)
    for line in proc.stdout.splitlines():
        if line.startswith("crash "):
            return line.strip()
    raise CrashOracleError(f"crash --version printed no version: {proc.stdout[:200]!r}")


def crash_can_open(suite: str) -> bool:
    """Whether crash 8.0.2 opens *suite*'s kernel (``SUITE@ABI`` counts as its suite)."""
    return kernel_name(suite)[0] not in CRASH_CANNOT_OPEN


def run_crash(core: Path, vmlinux: Path, commands: Sequence[str]) -> Dict[str, Any]:
    """Run crash afresh (no cache): ``{"crash", "returncode", "seconds", "stdout",
    "outputs"}``, ``outputs`` one string per command, in order."""
    with tempfile.TemporaryDirectory(prefix="kdbg-crash-") as tmp:
        script = "".join(f"{cmd} > {tmp}/{i}.out\n" for i, cmd in enumerate(commands)) + "q\n"
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [crash_binary(), "-s", str(vmlinux), str(core)],
                input=script, capture_output=True, text=True, errors="replace", timeout=CRASH_TIMEOUT,
                cwd=tmp, env={**os.environ, "PAGER": "cat", "TERM": "dumb", "TZ": "UTC"},
            )
        except subprocess.TimeoutExpired as e:
            raise CrashOracleError(f"crash on {core} timed out after {CRASH_TIMEOUT}s") from e
        seconds = time.perf_counter() - t0
        outputs = []
        for i in range(len(commands)):
            out = Path(tmp) / f"{i}.out"
            outputs.append(out.read_text(errors="replace") if out.exists() else None)
    if proc.returncode != 0 or any(o is None for o in outputs):
        raise CrashOracleError(f"crash did not open {core} (status {proc.returncode}): "
                               f"{(proc.stdout + proc.stderr).strip()[-1000:] or 'no output'}")
    return {"returncode": proc.returncode, "seconds": round(seconds, 3), "stdout": proc.stdout,
            "stderr": proc.stderr, "outputs": outputs}


def _file_id(path: Path) -> Dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@dataclasses.dataclass(frozen=True)
class CrashAnswers:
    """crash's outputs for one dump: ``outputs`` maps each command to what crash printed;
    ``stderr`` is crash's own warnings at start (``WARNING: active task ... not found in
    PID hash``); ``seconds`` how long crash took when the answers were made; ``cached``
    whether this call ran crash."""

    suite: str
    core: Path
    vmlinux: Path
    crash: str
    outputs: Dict[str, str]
    stdout: str
    stderr: str
    seconds: float
    cached: bool
    path: Path

    def __getitem__(self, command: str) -> str:
        return self.outputs[command]


def ask_crash(suite: str, core: Path, commands: Sequence[str], vmlinux: Optional[Path] = None) -> CrashAnswers:
    """crash's output for each of *commands* on *core* (a dump of *suite*'s reference kernel).

    *vmlinux* defaults to :func:`vmcores.debian.debian_dbg_vmlinux` of *suite*.  Cached
    under ``<cache>/crash-oracle/`` (see the module docstring).  Raises
    :class:`CrashOracleError` where crash cannot open the dump (:data:`CRASH_CANNOT_OPEN`; that
    answer is cached too).
    """
    if len(set(commands)) != len(commands):
        raise ValueError(f"duplicate commands: {sorted({c for c in commands if list(commands).count(c) > 1})}")
    core = Path(core)
    vmlinux = Path(vmlinux) if vmlinux is not None else debian_dbg_vmlinux(suite)
    ident: Dict[str, Any] = {"format": CRASH_FORMAT, "crash": crash_version(), "core": _file_id(core),
                             "vmlinux": _file_id(vmlinux), "commands": list(commands)}
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    top = cache_root() / "crash-oracle"
    top.mkdir(parents=True, exist_ok=True)
    stem = f"{suite}-{core.parent.name}-{core.name}"
    path = top / f"{stem}-{digest}.json"
    with file_lock(top / f".{stem}.lock"):
        cached = path.exists()
        if cached:
            data = json.loads(path.read_text())
        else:
            try:
                data = run_crash(core, vmlinux, commands)
            except CrashOracleError as e:  # not opened: cached too (a timeout is not)
                if "did not open" not in str(e):
                    raise
                data = {"error": str(e)}
            data["ident"] = ident
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(tmp, path)
    if "error" in data:
        raise CrashOracleError(data["error"])
    return CrashAnswers(
        suite=suite, core=core, vmlinux=vmlinux, crash=ident["crash"],
        outputs=dict(zip(commands, data["outputs"], strict=True)), stdout=data["stdout"], stderr=data["stderr"],
        seconds=data["seconds"], cached=cached, path=path,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: print crash's output of each command on a dump of *SUITE*."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.crash_oracle", description=__doc__.split("\n")[0])
    ap.add_argument("suite")
    ap.add_argument("commands", nargs="+")
    ap.add_argument("--scenario", help="a crash dump (panic, oops, nmi) instead of the reference dump")
    ap.add_argument("--form", default="kdump-zlib")
    args = ap.parse_args(argv)
    if args.scenario:
        core = next(d.path for d in crash_dumps([args.suite], [args.scenario]) if d.form == args.form)
    else:
        core = next(d.path for d in reference_dumps(suites=[args.suite]) if d.form == args.form and d.tool == "qemu")
    answers = ask_crash(args.suite, core, args.commands)
    for cmd in args.commands:
        print(f"crash> {cmd}")
        print(answers[cmd], end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
