"""The command line's behaviour: plugins, Ctrl-C in the REPL, exit status of target errors
found lazily, import errors, memory warnings.

Every case runs the real CLI as a subprocess (``python3 -m kdbg ...``, or a small wrapper
around ``kdbg.ui.cli.main`` where a broken installation must be simulated) on the committed
sample dump or a reference dump, and checks exit status and the exact stderr lines. The
REPL is driven through a real terminal (tmux).
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from tests.cli_support import Terminal, clean_env, run_kdbg
from tests.kallsyms_truth import truth_vmlinux

ROOT = Path(__file__).resolve().parent.parent


def kdbg(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run_kdbg(*args, cwd=cwd)


def wrapped(script: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m kdbg ARGS`` after ``script``'s set-up code (a broken install...)."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=ROOT, env=clean_env(),
    )


def wrapper(path: Path, setup: str) -> Path:
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        + textwrap.dedent(setup)
        + "\nimport runpy\nsys.argv[0] = 'kdbg'\nrunpy.run_module('kdbg', run_name='__main__')\n"
    )
    return path


def truth_address(truth: Path, name: str) -> int:
    """The address of vmlinux symbol ``name`` in the guest's own /proc/kallsyms."""
    for addr, _type, sym in truth_vmlinux(truth):
        if sym == name:
            return addr
    raise AssertionError(f"{name} not in {truth}/kallsyms")


# ---------------------------------------------------------------------------- plugins


# A broken plugin is one warning line naming file:line and kdbg still starts (issue 8; it
# was exit 2 before).
def test_plugin_with_a_syntax_error_is_one_line_naming_file_and_line(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.py").write_text("x = 1\ndef broken(:\n    pass\n")
    p = kdbg("-q", "--plugin-path", str(tmp_path), "-c", str(sample_dump.path), "-x", "help")
    assert p.returncode == 0
    assert "ptype" in p.stdout
    bad = re.escape(str(tmp_path / "bad.py"))
    assert re.fullmatch(rf"kdbg: warning: plugin {bad}:2: SyntaxError: [^\n]+\n", p.stderr), p.stderr


def test_plugin_raising_at_import_is_one_line_naming_file_and_line(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "boom.py").write_text("import os\n\n\ndef f():\n    raise RuntimeError('boom')\n\n\nf()\n")
    p = kdbg("-q", "--plugin-path", str(tmp_path), "-c", str(sample_dump.path), "-x", "help")
    assert p.returncode == 0
    assert p.stderr == f"kdbg: warning: plugin {tmp_path / 'boom.py'}:5: RuntimeError: boom\n"


PLUGIN_SYM = """\
import importlib

import kdbg.ui.commands.memory
from kdbg.ui.commands import command


@command("sym", "the plugin's sym", "sym ANYTHING")
def sym(prog, args, ctx):
    ctx.out.write(f"plugin sym {args}\\n")


# A built-in module executed again after the plugin registered must not take the name back.
importlib.reload(kdbg.ui.commands.memory)
"""


def test_plugin_replaces_a_builtin_command(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mysym.py").write_text(PLUGIN_SYM)
    p = kdbg(
        "-q", "--plugin-path", str(tmp_path), "-c", str(sample_dump.path),
        "-x", "sym init_task", "-x", "help", "-x", "help sym",
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0] == "plugin sym init_task"
    listed = [line.split(None, 1) for line in lines[1:-2] if line.split()[:1] == ["sym"]]
    assert listed == [["sym", "the plugin's sym"]]
    assert lines[-2:] == ["sym ANYTHING", "    the plugin's sym"]
    # the other built-ins are still there
    assert any(line.startswith("ptype ") for line in lines)


# ---------------------------------------------------------------------------- exit status


@pytest.fixture(scope="session")
def corrupt_btf_dumps(reference_dumps_all, tmp_path_factory) -> Dict[str, Path]:  # type: ignore[no-untyped-def]
    """Copies of bookworm's ELF (-d 31) dump whose in-memory vmlinux BTF is corrupt:
    ``magic`` (the header's magic zeroed) and ``kind`` (type 1 given an unknown kind).
    The BTF is found in the file by the guest's own /sys/kernel/btf/vmlinux bytes."""
    (dump,) = [d for d in reference_dumps_all if d.suite == "bookworm" and d.form == "elf-d31"]
    btf = (dump.truth / "btf" / "vmlinux").read_bytes()
    hdr_len, type_off = struct.unpack_from("<II", btf, 4)
    data = dump.path.read_bytes()
    where = [m.start() for m in re.finditer(re.escape(btf[:4096]), data)]
    assert where, "the guest's BTF is not in the dump"
    out = {}
    base = tmp_path_factory.mktemp("corrupt-btf")
    for variant in ("magic", "kind"):
        buf = bytearray(data)
        for at in where:
            if variant == "magic":
                buf[at : at + 4] = b"\0\0\0\0"
            else:
                info_at = at + hdr_len + type_off + 4
                (info,) = struct.unpack_from("<I", buf, info_at)
                struct.pack_into("<I", buf, info_at, (info & ~(0x1F << 24)) | (0x1E << 24))
        path = base / f"{variant}.elf"
        path.write_bytes(bytes(buf))
        out[variant] = path
    out["truth"] = dump.truth
    return out


@pytest.mark.parametrize("variant", ["magic", "kind"])
def test_corrupt_btf_found_lazily_is_exit_2(corrupt_btf_dumps, variant: str) -> None:  # type: ignore[no-untyped-def]
    """Symbols work (the first command succeeds); the BTF fails only when ptype loads it:
    still an unusable target, exit 2, one line."""
    path = corrupt_btf_dumps[variant]
    p = kdbg("-q", "-c", str(path), "-x", "sym init_task", "-x", "ptype struct list_head")
    assert p.returncode == 2, p.stderr
    assert int(p.stdout.split()[0], 16) == truth_address(corrupt_btf_dumps["truth"], "init_task")
    assert re.fullmatch(r"kdbg: [^\n]*BTF[^\n]*\n", p.stderr), p.stderr
    p = kdbg("-q", "-c", str(path), "-e", "prog.type('struct list_head')")
    assert p.returncode == 2, p.stderr
    assert re.fullmatch(r"kdbg: [^\n]*BTF[^\n]*\n", p.stderr), p.stderr


def test_missing_layers_are_exit_2(sample_dump) -> None:  # type: ignore[no-untyped-def]
    btf = str(sample_dump.truth / "btf" / "vmlinux")
    p = kdbg("-q", "--btf", btf, "-x", "ptype struct list_head", "-x", "sym init_task")
    assert p.returncode == 2
    assert p.stdout.startswith("struct list_head {")
    assert p.stderr == "kdbg: no symbols: give --kallsyms FILE, a vmcore, or run on a live kernel\n"
    p = kdbg("-q", "--btf", btf, "-x", "rd 0xffffffff81000000")
    assert p.returncode == 2
    assert p.stderr == "kdbg: memory is unavailable: only files were given (no vmcore or live kernel)\n"
    p = kdbg("-q", "--kallsyms", str(sample_dump.truth / "kallsyms"), "-e", "prog.type('int')")
    assert p.returncode == 2
    assert p.stderr == "kdbg: no BTF: give --btf FILE, a vmcore, or run on a live kernel\n"


def test_unreadable_kallsyms_is_exit_2(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = kdbg("-q", "-c", str(sample_dump.path), "--kallsyms", str(tmp_path), "-x", "sym init_task")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("kdbg: ") and str(tmp_path) in p.stderr, p.stderr


def test_a_failing_command_is_still_exit_1(sample_dump) -> None:  # type: ignore[no-untyped-def]
    p = kdbg("-q", "-c", str(sample_dump.path), "-x", "sym no_such_symbol_in_any_kernel")
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("kdbg: "), p.stderr


# ---------------------------------------------------------------------------- imports


def test_import_error_inside_kdbg_helpers_is_not_swallowed(sample_dump, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A kdbg.helpers that exists but fails to import (a dependency missing) is reported
    in one line (the targets' modules are read with the helpers, so kdbg cannot start
    without them); ``--traceback`` shows where."""
    script = wrapper(tmp_path / "run.py", """
        import importlib.abc, importlib.util

        class BrokenHelpers(importlib.abc.MetaPathFinder, importlib.abc.Loader):
            def find_spec(self, name, path, target=None):
                if name == "kdbg.helpers":
                    return importlib.util.spec_from_loader(name, self)
                return None

            def create_module(self, spec):
                return None

            def exec_module(self, module):
                import kdbg_test_missing_dependency  # noqa: F401

        sys.meta_path.insert(0, BrokenHelpers())
    """)
    p = wrapped(script, "-q", "-c", str(sample_dump.path), "-e", "1 + 1")
    assert p.returncode == 1
    assert p.stdout == ""
    # the command line imports the helpers before it loads a plugin: one line, and no more
    assert p.stderr.splitlines() == [
        "kdbg: ModuleNotFoundError: No module named 'kdbg_test_missing_dependency' (--traceback shows where)"]
    p = wrapped(script, "-q", "--traceback", "-c", str(sample_dump.path), "-e", "1 + 1")
    assert p.returncode == 1 and "Traceback" in p.stderr and "kdbg_test_missing_dependency" in p.stderr


def test_no_kdbg_helpers_module_is_fine(sample_dump) -> None:  # type: ignore[no-untyped-def]
    p = kdbg("-q", "-c", str(sample_dump.path), "-e", "hex(prog.symbol('init_task').address)")
    assert p.returncode == 0, p.stderr
    assert int(eval(p.stdout), 16) == truth_address(sample_dump.truth, "init_task")


def test_repl_does_not_import_cli() -> None:
    """evaluate lives in kdbg/ui/evaluate.py: the REPL needs nothing from the CLI (which
    starts the REPL: one direction only)."""
    for path in ("repl.py", "evaluate.py"):
        src = (ROOT / "kdbg" / "ui" / path).read_text()
        cli_import = r"^\s*(import kdbg\.ui\.cli\b|from kdbg\.ui\.cli\b|from kdbg\.ui import cli\b)"
        assert not re.search(cli_import, src, re.M), path


# ---------------------------------------------------------------------------- warnings


@pytest.mark.parametrize("quiet", [True, False])
def test_memory_warnings_print_once_even_with_q(sample_dump, tmp_path: Path, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    script = wrapper(tmp_path / "run.py", """
        import kdbg.target

        _open = kdbg.target.open_memory

        def open_core(*args, **kw):
            memory = _open(*args, **kw)
            cut = "dump cut short: 12 MiB of 96 MiB missing"
            memory.warnings = [cut, cut, "second"]
            return memory

        kdbg.target.open_memory = open_core
    """)
    p = wrapped(script, *(["-q"] if quiet else []), "-c", str(sample_dump.path), "-x", "sym init_task")
    assert p.returncode == 0, p.stderr
    assert p.stderr == "kdbg: warning: dump cut short: 12 MiB of 96 MiB missing\nkdbg: warning: second\n"


@pytest.mark.parametrize("quiet", [True, False])
def test_truncated_dump_warns_once_even_with_q(sample_dump, tmp_path: Path, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    """A copy of the sample cut to 70%: the answer that is there is served, and stderr has
    exactly one warning line naming the file."""
    data = sample_dump.path.read_bytes()
    cut = tmp_path / "cut.kdump"
    cut.write_bytes(data[: len(data) * 7 // 10])
    p = kdbg(*(["-q"] if quiet else []), "-c", str(cut), "-x", "sym init_task")
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[0], 16) == truth_address(sample_dump.truth, "init_task")
    assert re.fullmatch(rf"kdbg: warning: [^\n]*{re.escape(str(cut))}[^\n]*\n", p.stderr), p.stderr


# ---------------------------------------------------------------------------- REPL, Ctrl-C

SLOW_PLUGIN = """\
import time

from kdbg.ui.commands import command


@command("slow", "sleep for ten minutes")
def slow(prog, args, ctx):
    ctx.out.write("slow started\\n")
    ctx.out.flush()
    time.sleep(600)
"""


@pytest.fixture()
def terminal() -> Iterator[List[Terminal]]:
    made: List[Terminal] = []
    yield made
    for t in made:
        t.close()


def _prompts(lines: List[str]) -> int:
    return sum(1 for line in lines if line.startswith(">>>"))


def _ends_at_prompt(lines: List[str]) -> bool:
    content = [line for line in lines if line]
    return bool(content) and content[-1] == ">>>"


def test_ctrl_c_aborts_only_the_running_repl_line(sample_dump, terminal, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "slow.py").write_text(SLOW_PLUGIN)
    cmd = (
        f"{sys.executable} -m kdbg --plugin-path {tmp_path} -c {sample_dump.path}; "
        "echo KDBG-EXITED=$?; sleep 600"
    )
    t = Terminal(cmd, ROOT)
    terminal.append(t)
    t.wait(_ends_at_prompt, "the first prompt")

    # A Python line that runs for ten minutes
    t.send('print("python started"); import time; time.sleep(600)', "Enter")
    t.wait(lambda lines: "python started" in lines, "the Python line start")
    t.send("C-c")
    lines = t.wait(lambda lines: _ends_at_prompt(lines) and _prompts(lines) == 2, "the prompt after Ctrl-C")
    assert lines[lines.index("python started") + 1].endswith("kdbg: interrupted"), lines

    # A command that runs for ten minutes
    t.send("slow", "Enter")
    t.wait(lambda lines: "slow started" in lines, "the slow command start")
    t.send("C-c")
    lines = t.wait(lambda lines: _ends_at_prompt(lines) and _prompts(lines) == 3, "the prompt after Ctrl-C")
    assert lines[lines.index("slow started") + 1].endswith("kdbg: interrupted"), lines

    # Later lines still work, and the session is the same process
    address = truth_address(sample_dump.truth, "init_task")
    t.send("sym init_task", "Enter")
    lines = t.wait(lambda lines: any(line.startswith(f"{address:016x} ") for line in lines), "sym's answer")
    t.wait(lambda lines: _ends_at_prompt(lines) and _prompts(lines) == 4, "the prompt after sym")
    t.send("C-d")
    lines = t.wait(lambda lines: any(line.startswith("KDBG-EXITED=") for line in lines), "the REPL to end")
    assert "KDBG-EXITED=0" in lines, lines
