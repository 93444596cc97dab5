"""Build the reference vmcores and the crash dumps (the command line of
:mod:`vmcores.build` and :mod:`vmcores.crash`, which sits above both).

Usage::

    python -m vmcores [--suite S ...] [--force] [--memory 128M]
    python -m vmcores --crash-only [--suite S ...] [--force]
    python -m vmcores --sample
    python -m vmcores --live-test [--suite S] -- COMMAND ...
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

from vmcores.build import SAMPLE_MEMORY, build_sample, reference_dumps
from vmcores.crash import print_crash_dumps
from vmcores.crash_module import crash_root
from vmcores.debian import EXTRA_SUITES, SUITES, kernel_name
from vmcores.dump_index import BuildError, manifest_path
from vmcores.live import live_test
from vmcores.qemu import DEFAULT_MEMORY


def _suite_argument(text: str) -> str:
    """``--suite``: a reference or extra suite, optionally ``@ABI``."""
    suite = kernel_name(text)[0]
    if suite not in SUITES + EXTRA_SUITES:
        raise argparse.ArgumentTypeError(f"unknown suite {suite!r}; choose from {', '.join(SUITES + EXTRA_SUITES)}")
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores``."""
    ap = argparse.ArgumentParser(prog="python -m vmcores", description=__doc__.split("\n")[0])
    ap.add_argument("--suite", action="append", type=_suite_argument, metavar="SUITE[@ABI]",
                    help=f"repeatable; default {', '.join(SUITES)} (extra, on request: {', '.join(EXTRA_SUITES)}); "
                         "SUITE@ABI: that kernel ABI of the suite")
    ap.add_argument("--force", action="store_true", help="rebuild even if the dumps exist")
    ap.add_argument("--memory", default=None, help=f"guest RAM (default {DEFAULT_MEMORY})")
    ap.add_argument("--live-test", action="store_true", help="run COMMAND in a live guest")
    ap.add_argument("--sample", action="store_true", help="rebuild vmcores/sample/")
    ap.add_argument(
        "--crash-only",
        action="store_true",
        help="build only the crash dumps (vmcores.crash: panic, oops and nmi scenarios), not the reference dumps",
    )
    ap.add_argument("command", nargs="*", help="with --live-test: the shell command")
    args = ap.parse_args(argv)
    try:
        if args.live_test:
            if not args.command:
                ap.error("--live-test needs a command")
            res = live_test(
                " ".join(args.command),
                suite=(args.suite or ["bookworm"])[0],
                memory=args.memory or "512M",
            )
            sys.stdout.write(res.output)
            return res.returncode
        if args.sample:
            print(build_sample(memory=args.memory or SAMPLE_MEMORY))
            return 0
        t0 = time.monotonic()
        suites = args.suite or SUITES
        if not args.crash_only:
            for suite in suites:
                for d in reference_dumps([suite], force=args.force, memory=args.memory or DEFAULT_MEMORY):
                    print(f"{d.suite}\t{d.release}\t{d.form:22}\t{d.path}\t[{d.tool}]")
            print(f"manifest: {manifest_path()} ({time.monotonic() - t0:.0f}s)")
        t1 = time.monotonic()
        # crash dumps (a crashed guest per scenario) of the reference suites
        crash_suites = [s for s in suites if s in SUITES]
        if crash_suites:
            print_crash_dumps(crash_suites, force=args.force, memory=args.memory or DEFAULT_MEMORY)
            print(f"crash manifest: {crash_root() / 'manifest.json'} ({time.monotonic() - t1:.0f}s)")
    except BuildError as e:
        print(f"vmcores: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
