"""The kernel's own answer for a task's state letter: its ``task_state_to_char`` (and
``__task_state_index`` / ``task_state_index``, ``task_index_to_char``) with the ``TASK_*``
and ``EXIT_*`` definitions, cut out of the ``include/linux/sched.h`` of Debian's headers for
the very kernel a reference dump runs, and compiled with gcc into a small program that
answers ``state exit_state`` lines. ``IS_ENABLED(CONFIG_...)`` takes its value from that
kernel's ``.config``. Nothing of kdbg is involved.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from tests.cli_support import clean_env
from vmcores.crash_module import kernel_headers
from vmcores.debian import debian_kernel

_DEFINE = re.compile(r"^#define[ \t]+((?:__)?(?:TASK|EXIT)_\w+)(?![\w(])[ \t]*((?:.*\\\n)*.*)$", re.M)
_CONFIG = re.compile(r"IS_ENABLED\((CONFIG_\w+)\)")

_HARNESS = r"""
#include <stdio.h>
#define READ_ONCE(x) (x)
#define BUILD_BUG_ON(x) ((void)0)
#define BUILD_BUG_ON_NOT_POWER_OF_2(x) ((void)0)
#define ilog2(n) (31 - __builtin_clz(n))
#define IS_ENABLED(option) IS_ENABLED_##option
static inline int fls(unsigned int x) { return x ? 32 - __builtin_clz(x) : 0; }
struct task_struct { unsigned int __state; long state; int exit_state; };
CONFIGS
DEFINES
FUNCTIONS
int main(void)
{
	unsigned int s;
	int e;
	while (scanf("%u %d", &s, &e) == 2) {
		struct task_struct t = {0};
		t.__state = s;
		t.state = s;
		t.exit_state = e;
		printf("%c\n", task_state_to_char(&t));
	}
	return 0;
}
"""


def headers_of(suite: str, release: str) -> Tuple[Path, Path]:
    """``(sched.h, .config)`` of Debian's headers for the kernel ``release`` of ``suite``
    (downloaded and unpacked once, as the crash dumps' module build does)."""
    kernel = debian_kernel(suite)
    assert kernel.release == release, f"{suite}: the reference dump runs {release}, Debian serves {kernel.release}"
    tree = kernel_headers(kernel)
    (sched,) = sorted(tree.parent.glob("linux-headers-*-common/include/linux/sched.h"))
    return sched, tree / ".config"


def task_state_code(sched_h: str) -> Tuple[str, str]:
    """``(defines, functions)``: every object-like ``TASK_*``/``__TASK_*``/``EXIT_*``
    macro, and the code from ``[__]task_state_index`` to the end of
    ``task_state_to_char``."""
    defines = "\n".join(m.group(0) for m in _DEFINE.finditer(sched_h))
    starts = [sched_h.find(s) for s in ("static inline unsigned int __task_state_index",
                                         "static inline unsigned int task_state_index")]
    start = min(i for i in starts if i >= 0)
    last = sched_h.index("static inline char task_state_to_char(struct task_struct *tsk)", start)
    end = sched_h.index("\n}\n", last) + 3
    return defines, sched_h[start:end]


#: Macros of these names are no state bits.
_NOT_STATES = ("TASK_COMM_LEN", "TASK_REPORT_IDLE", "TASK_REPORT_MAX")


def state_bits(sched_h: str, config: Dict[str, bool]) -> List[int]:
    """Every single-bit value of a ``TASK_*``/``__TASK_*``/``EXIT_*`` state macro below
    ``TASK_STATE_MAX``, as the header (compiled, with the kernel's configuration) defines
    them, in order."""
    defines, _ = task_state_code(sched_h)
    names = [m.group(1) for m in _DEFINE.finditer(sched_h)]
    values = _evaluate(defines, names, config)
    limit = values["TASK_STATE_MAX"]
    return sorted({v for n, v in values.items() if n not in _NOT_STATES and 0 < v < limit and v & (v - 1) == 0})


def _configs(text: str, config: Dict[str, bool]) -> str:
    return "\n".join(f"#define IS_ENABLED_{c} {int(config.get(c, False))}" for c in sorted(set(_CONFIG.findall(text))))


def read_config(path: Path) -> Dict[str, bool]:
    """``CONFIG_X=y`` or ``=m`` of a kernel ``.config`` as True."""
    out: Dict[str, bool] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"(CONFIG_\w+)=([ym])$", line)
        if m:
            out[m.group(1)] = True
    return out


def _compile(source: str, workdir: Path) -> Path:
    c = workdir / "harness.c"
    c.write_text(source)
    exe = workdir / "harness"
    p = subprocess.run(["gcc", "-O0", "-w", "-o", str(exe), str(c)], capture_output=True, text=True, timeout=120,
                       env=clean_env())
    assert p.returncode == 0, p.stderr
    return exe


def _evaluate(defines: str, names: Sequence[str], config: Dict[str, bool]) -> Dict[str, int]:
    """The values of macros ``names`` (those that are integer constants) by compiling them."""
    body = "\n".join(f'\tprintf("%s %lld\\n", "{n}", (long long)({n}));' for n in names)
    source = ("#include <stdio.h>\n#define IS_ENABLED(option) IS_ENABLED_##option\n" + _configs(defines, config)
              + "\n" + defines + "\nint main(void)\n{\n" + body + "\n\treturn 0;\n}\n")
    with tempfile.TemporaryDirectory() as tmp:
        exe = _compile(source, Path(tmp))
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60, env=clean_env()).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


@functools.cache
def _answers(sched_path: str, config_path: str, pairs: Tuple[Tuple[int, int], ...]) -> Tuple[str, ...]:
    sched_h = Path(sched_path).read_text()
    config = read_config(Path(config_path))
    defines, functions = task_state_code(sched_h)
    source = (_HARNESS.replace("CONFIGS", _configs(defines + functions, config))
              .replace("DEFINES", defines).replace("FUNCTIONS", functions))
    with tempfile.TemporaryDirectory() as tmp:
        exe = _compile(source, Path(tmp))
        text = "".join(f"{s} {e}\n" for s, e in pairs)
        out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True, timeout=60,
                             env=clean_env()).stdout
    chars = out.split("\n")[:-1]
    assert len(chars) == len(pairs)
    return tuple(chars)


def kernel_chars(sched_h: Path, config: Path, pairs: Sequence[Tuple[int, int]]) -> List[str]:
    """The kernel's ``task_state_to_char`` for each ``(__state, exit_state)``."""
    return list(_answers(str(sched_h), str(config), tuple(pairs)))
