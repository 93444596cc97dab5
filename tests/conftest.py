"""Shared pytest fixtures for kdbg.

The repository root is put on ``sys.path`` so ``import kdbg`` and ``import vmcores`` work
without installing anything.

Fixtures that need real kernels or dumps never skip: when a Debian kernel or a reference
dump is missing it is fetched or built (see ``vmcores/README.md``), and when that fails the
test errors out with the reason.

* ``debian_kernel_factory`` (session): ``factory(suite, flavour="cloud") -> KernelFiles``
  (``.release``, ``.vmlinuz``, ``.modules_dir``, ``.root``), downloading when missing.
* ``reference_dumps_all`` (session): ``list[vmcores.dump_index.Dump]`` for bookworm (6.1),
  trixie (6.12) and bullseye (5.10): every form (``elf``, ``elf-paging``,
  ``kdump-zlib-flat``, ``kdump-zlib``, ...) with ``.suite``, ``.release``, ``.form``,
  ``.tool``, ``.path`` and ``.truth`` (directory of ground truth, see below).
* ``reference_dump`` (session, indirect): one dump named by a static ``(suite, form,
  tool)`` from ``REFERENCE_DUMP_IDS``; use ``@pytest.mark.parametrize("reference_dump",
  REFERENCE_DUMP_IDS, ids=dump_id, indirect=True)``.  Collection only sees the static
  list, so ``pytest --collect-only`` never downloads a kernel or boots a guest; the dump is
  resolved (built if missing) when the test runs.
* ``btf618_path`` / ``btf618_bytes`` (session): a Linux 6.18 kernel's raw BTF shipped as
  ``tests/data/vmlinux-6.18.btf.xz`` (ENUM64, DECL_TAG, TYPE_TAG, FLOAT), decompressed to a
  temporary file / as bytes.  Tests use it instead of the running kernel's BTF.
* ``resolve_dump(suite, form, tool)`` (a function, for tests that pick one dump): also
  reaches the extra suites (``vmcores.debian.EXTRA_SUITES``: forky, Linux 7.2, built on
  first use), which ``reference_dumps_all`` leaves out.
* ``sample_dump`` (session): the small dump committed under ``vmcores/sample/``:
  ``SampleDump(path, truth, release, form)``.
* ``live_result`` (function): the :class:`vmcores.live.LiveResult` (``.returncode``,
  ``.output``, ``.release``) of the shell script the test declares with
  ``@pytest.mark.live(SCRIPT, suite="bookworm")``: run in this checkout inside a guest
  booted from the suite's generic kernel, with the host's ``/`` mounted read-only over 9p,
  so e.g. ``python3 -m kdbg -e ...`` runs against the guest's own ``/proc/kcore``.  The
  session boots **one** guest per suite (``live_batch``, on first use), which runs the
  scripts of every selected test that declares one, each in its own subshell with a fresh
  ``HOME`` (:func:`vmcores.live.live_tests`); each test then checks its own script's
  output.  Declaring the script as a mark lets the session see every script before the
  first boot without importing anything at collection time.
* ``crash_dump`` (session, indirect): one vmcore of a *crashed* guest
  (``vmcores.crash.CrashDump``: ``.suite``, ``.release``, ``.scenario``, ``.form``, ``.tool``,
  ``.path``, ``.truth``) named by a static ``(suite, scenario, form)`` from
  ``CRASH_DUMP_IDS``: scenarios ``panic`` (sysrq ``c`` from PID 1), ``oops`` (a NULL
  write in the ``kdbg_oops`` module, reached by ``write(2)`` to ``/proc/kdbg_oops``) and
  ``nmi`` (an NMI injected by the host into the idle guest, ``unknown_nmi_panic``); forms
  ``elf``, ``elf-paging``, ``kdump-zlib-flat``, ``kdump-zlib``.  Built on first use
  (about 30 s each), never skipped.
* ``crash_truth`` (session, indirect): the truth directory of one ``(suite, scenario)``
  from ``CRASH_IDS`` (every form of it shares it).  Besides ``uname``, ``kallsyms``,
  ``modules``, ``proc-stat``, ``ps``/``ps.json``, ``console.log`` it has ``switches``
  (``pid tid vol_before nonvol_before vol_after nonvol_after comm`` per task, around the
  sysrq-t) and ``crash.json``; ``tests/stack_truth.py`` parses the console's sysrq-t dump
  and crash report.  ``resolve_crash_dump(suite, scenario, form)`` is the function form.
* ``disk_dump`` (session, indirect): one vmcore of ``vmcores.disk`` (a guest with two
  throttled virtio-blk disks and I/O in flight), named by ``(suite, form)`` from
  ``DISK_DUMP_IDS``; ``resolve_disk_dump(suite, form)`` is the function form.

* ``state_dump`` (session, indirect): one vmcore of the *state* guest
  (``vmcores.state.StateDump``) named by a static ``(suite, form)`` from ``STATE_DUMP_IDS``:
  a guest that made signals pending, sockets, an ARP entry, zram swap and SysV IPC objects
  and recorded ``/proc``'s view of them (``interrupts``, ``timer_list``, ``net/*``,
  ``sysvipc/*``, ``proc/PID/{maps,status}`` ...; moving counters again in ``after/``).
  ``resolve_state_dump(suite, form)`` is the function form.

A truth directory holds what the guest itself reported just before it was dumped:
``kallsyms`` (real addresses), ``btf/vmlinux`` and ``btf/<module>`` (raw BTF),
``ps.json`` / ``ps`` (pid, ppid, state, comm of every process), ``proc-stat`` (raw),
``mounts``, ``modules``, ``uname``, ``version``, ``cmdline``, ``iomem``, ``meminfo``,
``dmesg`` (``dmesg`` output in the guest) and ``console.log`` (the serial console).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import lzma
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple, TypeVar, Union

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.cli_support import use_private_dirs  # noqa: E402
from tests.fuzz_harness import REPORTS  # noqa: E402
from tests.oracle_report import AGREEMENT  # noqa: E402
from vmcores.build import reference_dumps  # noqa: E402
from vmcores.debian import SUITES, KernelFiles, cache_root, debian_kernel  # noqa: E402
from vmcores.dump_forms import MAKEDUMPFILE_FORMS  # noqa: E402
from vmcores.dump_index import BuildError, Dump  # noqa: E402
from vmcores.live import LiveResult, live_tests  # noqa: E402

SAMPLE_DIR = ROOT / "vmcores" / "sample"
DATA_DIR = ROOT / "tests" / "data"
BTF618_XZ = DATA_DIR / "vmlinux-6.18.btf.xz"

#: Compressions a makedumpfile build may lack (Debian's has neither): forms using them are
#: built when the tool can, but are not in the static list every machine must produce.
OPTIONAL_COMPRESSIONS = ("snappy", "zstd")

DumpId = Tuple[str, str, str]

#: Every dump ``vmcores.build`` makes on any machine with the tools ``.ci/run`` installs,
#: as static ``(suite, form, tool)`` triples (``tool`` is the first word of ``Dump.tool``).
REFERENCE_DUMP_IDS: List[DumpId] = [
    (suite, form, tool)
    for suite in SUITES
    for form, tool in [
        ("elf", "qemu"),
        ("elf-paging", "qemu"),
        ("kdump-zlib-flat", "qemu"),
        ("kdump-zlib", "qemu"),
        *[
            (f, "makedumpfile")
            for f, _opts in MAKEDUMPFILE_FORMS
            if not any(c in f for c in OPTIONAL_COMPRESSIONS)
        ],
        ("kdump-zlib-d31-flat", "makedumpfile"),
    ]
]


def dump_id(value: object) -> str:
    """pytest id of a ``(suite, form, tool)`` triple: ``bookworm-kdump-zlib-qemu``."""
    return "-".join(value) if isinstance(value, tuple) else str(value)


#: The kdbg cache the session's kernels and dumps live in, as the environment named it when
#: the session started. A test that points ``KDBG_CACHE`` elsewhere for kdbg's own cache
#: still gets the session's dumps from :func:`resolve_dump` and the fixtures (not a build of
#: its own into its temporary directory).
SESSION_CACHE = cache_root()


@contextlib.contextmanager
def session_cache() -> Iterator[None]:
    """Run the block with ``KDBG_CACHE`` naming :data:`SESSION_CACHE` (restored after)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDBG_CACHE", str(SESSION_CACHE))
        yield


def resolve_dump(suite: str, form: str, tool: str) -> Dump:
    """The reference dump *suite*/*form* made by *tool* (built if missing, never skipped)."""
    with session_cache():
        dumps = reference_dumps(suites=[suite])
    for d in dumps:
        if d.form == form and d.tool.split()[0] == tool:
            return d
    info = dumps[0].truth.parent / "dumps.json" if dumps else None
    failed = json.loads(info.read_text()).get("failed", {}) if info and info.exists() else {}
    raise AssertionError(f"{suite}: vmcores.build made no {form} dump with {tool}; build failures: {failed}")


@pytest.fixture(scope="session", autouse=True)
def subprocess_homes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where :func:`tests.cli_support.clean_env` makes the subprocesses' homes: a directory
    of pytest's own (removed with its old base temporary directories, so also after an
    xdist worker killed by a timeout), set before any test or other fixture runs."""
    top = tmp_path_factory.mktemp("subprocess-homes")
    use_private_dirs(top)
    return top


@pytest.fixture(scope="session")
def reference_dump(request: pytest.FixtureRequest) -> Dump:
    """The dump named by the indirect parameter ``(suite, form, tool)``."""
    suite, form, tool = request.param
    return resolve_dump(suite, form, tool)


@pytest.fixture(scope="session")
def btf618_bytes() -> bytes:
    """Raw BTF of Linux 6.18 (``tests/data/vmlinux-6.18.btf.xz``, see its README)."""
    return lzma.decompress(BTF618_XZ.read_bytes())


@pytest.fixture(scope="session")
def btf618_path(btf618_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``btf618_bytes`` written to a file, for kdbg --btf, bpftool and pahole."""
    path = tmp_path_factory.mktemp("btf618") / "vmlinux-6.18.btf"
    path.write_bytes(btf618_bytes)
    return path


@dataclasses.dataclass(frozen=True)
class SampleDump:
    """The committed sample vmcore: ``path`` to the dump, ``truth`` directory, ``release``."""

    path: Path
    truth: Path
    release: str
    form: str


@pytest.fixture(scope="session")
def debian_kernel_factory() -> Callable[..., KernelFiles]:
    """Return ``factory(suite, flavour="cloud") -> KernelFiles``; fetches when missing."""

    def factory(suite: str, flavour: str = "cloud") -> KernelFiles:
        with session_cache():
            return debian_kernel(suite, flavour)

    return factory


@pytest.fixture(scope="session")
def reference_dumps_all() -> List[Dump]:
    """Every reference dump of every suite, building missing ones (errors, never skips)."""
    with session_cache():
        dumps = reference_dumps()
    assert dumps, "vmcores.build produced no dumps"
    return dumps


@pytest.fixture(scope="session")
def sample_dump() -> SampleDump:
    """The small committed sample dump and its truth (``vmcores/sample/``)."""
    info = json.loads((SAMPLE_DIR / "sample.json").read_text())
    return SampleDump(
        path=SAMPLE_DIR / info["file"],
        truth=SAMPLE_DIR / "truth",
        release=info["release"],
        form=info["form"],
    )


#: Seconds a test that declares a live script may take: the first one of a suite boots
#: the guest that runs every script (:func:`vmcores.live.live_tests`).
LIVE_TEST_TIMEOUT = 1800


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``live`` mark."""
    config.addinivalue_line(
        "markers",
        "live(script, suite='bookworm'): the shell script this test runs in the session's live guest of that "
        "suite; its result is the live_result fixture",
    )


def xdist_group_of(item: pytest.Item) -> str:
    """The pytest-xdist group an item runs in (``--dist loadgroup``, the suite's default).

    A test file is one group, so its module- and session-level fixtures are set up on one
    worker and its tests run in file order. Every test that declares a live script of a
    suite joins that suite's group wherever its file is: :class:`LiveBatch` boots one guest
    per suite for all of them, and on two workers it would boot two."""
    if item.get_closest_marker("live"):
        return "live-" + _live_mark(item)[1]
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    """A test that declares a live script gets :data:`LIVE_TEST_TIMEOUT` (pytest-timeout's
    mark) unless it sets its own: it may be the one that boots the session's guest. Every
    item gets its :func:`xdist_group_of` (before pytest-xdist reads the marks)."""
    for item in items:
        if item.get_closest_marker("live") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(LIVE_TEST_TIMEOUT))
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(xdist_group_of(item)))


def _live_mark(item: pytest.Item) -> Tuple[str, str]:
    """``(script, suite)`` of an item's ``live`` mark."""
    mark = item.get_closest_marker("live")
    assert mark is not None and len(mark.args) == 1 and set(mark.kwargs) <= {"suite"}, \
        f"{item.nodeid}: declare the live script as @pytest.mark.live(SCRIPT, suite='bookworm')"
    return mark.args[0], mark.kwargs.get("suite", "bookworm")


class LiveBatch:
    """The live scripts of a session's selected tests, run in one guest per suite.

    The first :meth:`result` for a suite boots that suite's guest once, running the
    script of every item that declares one for the suite (in collection order, each once);
    a failed boot fails every live test of the suite with its reason."""

    def __init__(self, items: Sequence[pytest.Item]) -> None:
        self._items = items
        self._done: Dict[str, Union[Dict[str, LiveResult], BuildError]] = {}

    def scripts(self, suite: str) -> List[str]:
        """Every script declared for *suite*, once each, in collection order."""
        out: List[str] = []
        for item in self._items:
            if item.get_closest_marker("live"):
                script, its_suite = _live_mark(item)
                if its_suite == suite and script not in out:
                    out.append(script)
        return out

    def result(self, script: str, suite: str = "bookworm") -> LiveResult:
        """What *script* printed and returned in the session's *suite* guest."""
        if suite not in self._done:
            scripts = self.scripts(suite)
            if script not in scripts:
                scripts.append(script)
            try:
                with session_cache():
                    results = live_tests(scripts, suite=suite)
            except BuildError as e:
                self._done[suite] = e
            else:
                assert len(results) == len(scripts), (len(results), len(scripts))
                self._done[suite] = {scripts[i]: results[i] for i in range(len(scripts))}
        done = self._done[suite]
        if isinstance(done, BuildError):
            raise AssertionError(f"the live {suite} guest failed: {done}")
        assert script in done, f"{suite}: this script was not declared before the guest booted"
        return done[script]


@pytest.fixture(scope="session")
def live_batch(request: pytest.FixtureRequest) -> LiveBatch:
    """The session's :class:`LiveBatch` (every selected test's ``live`` script)."""
    return LiveBatch(request.session.items)


@pytest.fixture
def live_result(request: pytest.FixtureRequest, live_batch: LiveBatch) -> LiveResult:
    """The result of the script this test declares with ``@pytest.mark.live(SCRIPT)``."""
    script, suite = _live_mark(request.node)
    return live_batch.result(script, suite)


#: The summary lines pytest-xdist's workers sent back (``fuzz`` and ``agreement``), on the
#: controller; a serial session prints its own lists instead.
WORKER_SUMMARIES: Dict[str, List[str]] = {"fuzz": [], "agreement": []}


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker, hand the session's summary lines to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["kdbg_summaries"] = {"fuzz": list(REPORTS), "agreement": list(AGREEMENT)}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On the pytest-xdist controller, keep what a finished worker sent."""
    sent = getattr(node, "workeroutput", {}).get("kdbg_summaries", {})
    for key, lines in sent.items():
        WORKER_SUMMARIES[key].extend(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the run: how far the fuzz cases got (``tests/fuzz_harness.py``), and how
    often kdbg agreed with the drgn oracle, on kernels the shipped declaration table and
    zero-length-array list were made from (in sample) and on kernels they were not (held
    out) apart (``tests/oracle_exprs.py``)."""
    fuzz = REPORTS + WORKER_SUMMARIES["fuzz"]
    agreement = AGREEMENT + WORKER_SUMMARIES["agreement"]
    if fuzz:
        terminalreporter.write_sep("-", "fuzz reach")
        for line in fuzz:
            terminalreporter.write_line(line)
    if agreement:
        terminalreporter.write_sep("-", "drgn oracle agreement: in sample, then held out")
        for line in sorted(agreement, key=lambda line: (line.startswith("held"), line)):
            terminalreporter.write_line(line)


# --------------------------------------------------------------------------- vmcores' other families

from vmcores.crash import CRASH_FORMS, SCENARIOS, CrashDump, crash_dumps, crash_failures  # noqa: E402
from vmcores.disk import DISK_FORMS, disk_dir, disk_dumps  # noqa: E402
from vmcores.state import STATE_FORMS, StateDump, state_dumps, state_root  # noqa: E402

D = TypeVar("D", bound=Dump)


def dump_resolver(family: str, dumps: Callable[..., Sequence[D]],
                  failures: Callable[..., object]) -> Callable[..., D]:
    """``resolve(*key, form)`` of one family of dumps (``vmcores.crash``, ``.disk``,
    ``.state``): the dump of that *form* among ``dumps(*key)`` (built if missing, never
    skipped), got in :data:`SESSION_CACHE`; when there is none, an AssertionError names
    the key, the form and ``failures(*key)`` (what the build recorded)."""

    def resolve(*args: str) -> D:
        *key, form = args
        with session_cache():
            found = dumps(*key)
            for d in found:
                if d.form == form:
                    return d
            why = failures(*key)
        raise AssertionError(f"{'-'.join(key)}: {family} made no {form} dump; made {[d.form for d in found]}, "
                             f"failures: {why}")

    return resolve


def dump_fixture(name: str, resolve: Callable[..., D], doc: str) -> Any:
    """A session fixture *name* (documented by *doc*): the dump ``resolve(*param)`` gives
    for the test's indirect parameter, a static tuple of the key and the form."""

    def fixture(request: pytest.FixtureRequest) -> D:
        return resolve(*request.param)

    fixture.__doc__ = doc
    return pytest.fixture(scope="session", name=name)(fixture)


def _dumps_json_failures(root: Callable[[str], Path]) -> Callable[[str], object]:
    """What ``<root(suite)>/dumps.json`` records as ``failed`` (``{}`` when there is none)."""

    def failures(suite: str) -> object:
        f = root(suite) / "dumps.json"
        return json.loads(f.read_text()).get("failed", {}) if f.exists() else {}

    return failures


CrashId = Tuple[str, str]
CrashDumpId = Tuple[str, str, str]
StateDumpId = Tuple[str, str]

#: Every ``(suite, scenario)`` ``vmcores.crash`` builds (the oops module builds for all
#: three kernels; where it cannot, the test errors with the reason from ``dumps.json``).
CRASH_IDS: List[CrashId] = [(suite, scenario) for suite in SUITES for scenario in SCENARIOS]

#: Every crash dump as a static ``(suite, scenario, form)``.
CRASH_DUMP_IDS: List[CrashDumpId] = [(suite, scenario, form) for suite, scenario in CRASH_IDS for form in CRASH_FORMS]

#: Every disk dump (``vmcores.disk``: virtio-blk I/O in flight) as a static ``(suite, form)``.
DISK_DUMP_IDS: List[Tuple[str, str]] = [(suite, form) for suite in SUITES for form in DISK_FORMS]

#: Every state dump (``vmcores.state``: a guest with signals, sockets, swap, SysV IPC ...)
#: as a static ``(suite, form)``.
STATE_DUMP_IDS: List[StateDumpId] = [(suite, form) for suite in SUITES for form in STATE_FORMS]

#: ``resolve_crash_dump(suite, scenario, form)``: the crash dump (built if missing, never skipped).
resolve_crash_dump: Callable[[str, str, str], CrashDump] = dump_resolver(
    "vmcores.crash", lambda suite, scenario: crash_dumps(suites=[suite], scenarios=[scenario]), crash_failures)

#: ``resolve_disk_dump(suite, form)``: the disk dump of :mod:`vmcores.disk` (built if missing, never skipped).
resolve_disk_dump: Callable[[str, str], Dump] = dump_resolver(
    "vmcores.disk", lambda suite: disk_dumps(suites=[suite]),
    _dumps_json_failures(disk_dir))

#: ``resolve_state_dump(suite, form)``: the state dump (built if missing, never skipped).
resolve_state_dump: Callable[[str, str], StateDump] = dump_resolver(
    "vmcores.state", lambda suite: state_dumps(suites=[suite]),
    _dumps_json_failures(lambda suite: state_root() / suite))

crash_dump = dump_fixture(
    "crash_dump", resolve_crash_dump,
    """The crash dump named by the indirect parameter ``(suite, scenario, form)``.""")

disk_dump = dump_fixture(
    "disk_dump", resolve_disk_dump,
    """The disk dump named by the indirect parameter ``(suite, form)``: two throttled
    virtio-blk disks with requests in flight; ``.truth`` holds the guest's own counts.""")

state_dump = dump_fixture(
    "state_dump", resolve_state_dump,
    """The state dump named by the indirect parameter ``(suite, form)``.""")


@pytest.fixture(scope="session")
def crash_truth(request: pytest.FixtureRequest) -> Path:
    """The truth directory of the indirect parameter ``(suite, scenario)``."""
    suite, scenario = request.param
    return resolve_crash_dump(suite, scenario, CRASH_FORMS[0]).truth
