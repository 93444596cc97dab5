"""Stack traces as the guest kernel printed them: parsers of a crash dump's ``console.log``.

The crash dumps of :mod:`vmcores.crash` come with the serial console of the guest, which
printed every task's stack with its own ORC unwinder (``echo t > /proc/sysrq-trigger``)
and then the report of the crash.  These pure functions turn that text into data the
stack-trace tests compare kdbg's unwinder with:

* :func:`parse_sysrq_t` -> ``{pid: SysrqTask}`` (``task:NAME state:S ... pid:N`` blocks),
* :func:`parse_panic` -> :class:`Oops` (the crash report: ``CPU: N PID: N Comm: X``, its
  ``RIP``, its ``Call Trace`` and the panic's own ``dump_stack`` trace),
* :func:`parse_hung_task` -> :class:`HungTask` (the hung-task detector's report).

Whether what the console printed still holds at the moment of the dump is
:mod:`tests.dump_moment`'s question.

Formats handled (seen on Debian's 5.10, 6.1 and 6.12): optional ``[   12.345678]``
timestamps; 6.x ``<TASK>``/``</TASK>``/``<IRQ>`` markers (5.10 has none); the 5.10 header
``stack:    0 pid:    2 ppid:     0`` and the 6.x ``stack:0 pid:2 [tgid:2] ppid:0``;
``state:R  running task``; frames ``func+0x1/0x20``, ``? func+...`` (unreliable: a
guess from scanning the stack, not part of the unwind), ``func+0x.. [module]`` (also
``[module buildid]``) and bare ``0xffff...``; register dumps (``RIP: 0010:func+..``,
``RIP: 0033:0x47b7a0`` for user mode, ``RSP:``/``RAX:``... lines).
"""


from __future__ import annotations

import dataclasses
import re
from typing import Dict, Iterable, List, Optional, Tuple

# the markers the crash guests write to /dev/kmsg: used when present, not required
from vmcores.crash import CRASHING, SYSRQ_T_BEGIN, SYSRQ_T_END

KERNEL_STACK_ENDS = frozenset(
    {
        "ret_from_fork",  # kernel threads (and a fork's child before it returns), <= 6.1
        "ret_from_fork_asm",  # the same from 6.3 on (ret_from_fork is called from it)
        "entry_SYSCALL_64_after_hwframe",  # a task in a system call
        "entry_SYSCALL_64",
        "asm_exc_page_fault",  # a user page fault
        "entry_INT80_compat",
        "entry_SYSCALL_compat_after_hwframe",
        "entry_SYSENTER_compat_after_hwframe",
    }
)
"""Functions a task's kernel stack ends in (the outermost reliable frame)."""

_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\](?:\[\s*[TC]\d+\])?\s?")
_FRAME = re.compile(
    r"^(?P<unrel>\?\s+)?(?P<func>[A-Za-z_.$][\w.$]*)\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)"
    r"(?:\s+\[(?P<mod>\w+)(?:\s+[0-9a-f]+)?\])?$"
)
_RAW_FRAME = re.compile(r"^(?P<unrel>\?\s+)?0x(?P<addr>[0-9a-f]+)$")
_HEADER = re.compile(
    r"^task:(?P<comm>.{1,15}?)\s+state:(?P<state>\S)(?P<running>\s+running task)?\s+"
    r"stack:\s*(?P<stack>\d+)\s+pid:\s*(?P<pid>\d+)(?:\s+tgid:\s*(?P<tgid>\d+))?\s+"
    r"ppid:\s*(?P<ppid>\d+)\s+flags:(?P<flags>0x[0-9a-f]+)"
)
CPU_LINE = re.compile(  # the oops header's "CPU: 1 [UID: 0] PID: 95 Comm: X Not tainted" line
    r"^CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.*?) (?:Not tainted|Tainted:)"
)
_RIP = re.compile(r"^RIP: (?P<cs>[0-9a-f]{4}):(?P<where>.*)$")
_REG_PAIR = re.compile(r"(?<![\w])([A-Z][A-Z0-9_]*|knlGS):\s*([0-9a-f]+)(?:\((?:[0-9a-f]+)\))?")
_REG_LINE = re.compile(r"^(?:RSP|RAX|RDX|RBP|R10|R13|FS|CS|CR2|DR0|DR3|PKRU):")
_MARKERS = frozenset({"<TASK>", "</TASK>", "<IRQ>", "</IRQ>", "<NMI>", "</NMI>", "<SOFTIRQ>", "</SOFTIRQ>"})
#: a stack section's open/close line: ``<NMI>``, ``</IRQ>``, ``<SOFTIRQ>``, ``<TASK>``, ``<#DF>``...
_MARKER = re.compile(r"^<(?P<close>/?)(?P<name>[A-Z][A-Z0-9_]*|#[A-Z0-9]+)>$")
NMI_LINES = ("Uhhuh. NMI received", "Do you have a strange power saving mode enabled?", "Dazed and confused")
_BLOCK_END = ("Sched Debug Version", "Showing busy workqueues", "Showing all locks held", SYSRQ_T_END)
_REPORT_START = re.compile(
    r"^(?:BUG: |Oops: |general protection fault|kernel BUG at|WARNING: |invalid opcode|"
    r"Kernel panic - not syncing)"
)


@dataclasses.dataclass(frozen=True)
class Frame:
    """One line of a kernel stack trace: ``function+0xoffset/0xsize [module]``.

    ``reliable`` is False for ``?`` lines (an address found on the stack that the unwind
    did not go through).  A frame the kernel could not symbolize has ``function``
    ``"0xffff..."`` (its address) and offset and size 0.  ``context`` is the stack section
    the kernel printed it in: ``"NMI"``, ``"IRQ"``, ``"SOFTIRQ"``, ``"#DF"``... between
    ``<NAME>`` and ``</NAME>``, else ``"TASK"`` (the task's own stack: inside ``<TASK>`` on
    6.x, unmarked on 5.10).
    """

    function: str
    offset: int
    size: int
    module: Optional[str]
    reliable: bool
    context: str = "TASK"

    def __str__(self) -> str:
        """The frame as the kernel printed it (``? `` before an unreliable one)."""
        text = self.function if not self.size else f"{self.function}+{self.offset:#x}/{self.size:#x}"
        if self.module:
            text += f" [{self.module}]"
        return text if self.reliable else f"? {text}"


@dataclasses.dataclass
class SysrqTask:
    """One task of the sysrq-t dump.

    ``running`` is the ``running task`` mark (on a CPU at that moment, so its trace is
    live: the writer of sysrq-trigger, or a task on another CPU); ``user_regs`` the
    ``pt_regs`` printed after the last frame of a task in a system call (``rip``, ``cs``,
    ``rsp``, ``ss``, ``eflags``, ``orig_rax``, ``rax`` ... lower-case); ``tgid`` only on
    6.x.
    """

    pid: int
    comm: str
    state: str
    frames: List[Frame]
    ppid: int = 0
    tgid: Optional[int] = None
    flags: int = 0
    running: bool = False
    workqueue: Optional[str] = None
    user_regs: Dict[str, int] = dataclasses.field(default_factory=dict)
    text: str = ""

    @property
    def reliable_frames(self) -> List[Frame]:
        """The frames of the unwind itself (no ``?`` lines)."""
        return [f for f in self.frames if f.reliable]


@dataclasses.dataclass
class Oops:
    """The crash report on the console.

    ``kind`` is ``"oops"`` (a fault: ``BUG:``/``Oops:`` then registers and a Call Trace,
    then ``Kernel panic - not syncing: Fatal exception``) or ``"panic"`` (a direct
    ``panic()``, as sysrq ``c`` is on these kernels: only the panic's ``dump_stack``).
    ``pid``/``comm``/``cpu`` come from the report's ``CPU: N PID: N Comm: X`` line; ``rip``
    is the faulting ``RIP: 0010:`` (None for a plain panic) with ``regs`` the kernel
    registers printed with it; ``frames`` the report's Call Trace (for a panic, the
    ``dump_stack`` one), each with the ``context`` (stack section) it was printed in;
    ``panic_frames`` the panic's own ``dump_stack`` trace when it printed one (not after
    an oops: the kernel skips it then); ``user_regs`` the user-mode registers at the end
    of the trace; ``message`` the panic message; ``bug`` the first line of an oops report
    (for a panic in NMI context, the ``Uhhuh. NMI received ... on CPU N.`` line of the
    panicking CPU); ``text`` the whole report.

    A panic in NMI context (``unknown_nmi_panic``: ``message`` ``"NMI: Not continuing"``)
    prints its trace in two parts: the ``<NMI>`` one (``dump_stack_lvl``, ``panic``, ...,
    ``exc_nmi``, ``end_repeat_nmi``), then the registers of the interrupted context, then
    that context's own frames (``<TASK>``, or ``<IRQ>`` first).  ``rip``/``regs`` are then
    those interrupted registers (``rip.context`` the part they belong to) and
    ``rip_index`` the index in ``frames`` of the first frame after the register dump.
    """

    pid: int
    comm: str
    cpu: int
    rip: Optional[Frame]
    frames: List[Frame]
    text: str
    kind: str = "oops"
    message: str = ""
    bug: str = ""
    regs: Dict[str, int] = dataclasses.field(default_factory=dict)
    user_regs: Dict[str, int] = dataclasses.field(default_factory=dict)
    panic_frames: List[Frame] = dataclasses.field(default_factory=list)
    rip_index: Optional[int] = None
    interrupted: List[Tuple[int, Frame]] = dataclasses.field(default_factory=list)

    def stack(self) -> List[Frame]:
        """The crashed stack as the console shows it, innermost first: the report's own
        ``RIP:`` (an oops's), then the trace's frames with the ``RIP:`` of each register
        dump printed inside the trace (the code an interrupt or exception stopped) in its
        place, where the frame after it does not already name it."""
        out = list(self.frames)
        for at, rip in sorted(self.interrupted, key=lambda x: x[0], reverse=True):
            if at >= len(out) or not out[at].reliable or out[at].function != rip.function:
                out.insert(at, rip)
        if self.kind == "oops" and self.rip is not None and not (out and out[0].reliable
                                                                  and out[0].function == self.rip.function):
            out.insert(0, self.rip)
        return out

    @property
    def nmi(self) -> bool:
        """Whether the report's trace runs through the NMI stack (a panic in NMI context)."""
        return any(f.context == "NMI" for f in self.frames)


# --------------------------------------------------------------------------- lines


def console_lines(text: str) -> List[str]:
    """The console's lines without ``\\r`` and without the ``[  12.345678]`` timestamps,
    each stripped of surrounding blanks."""
    return [_TIMESTAMP.sub("", line.rstrip("\r")).strip() for line in text.splitlines()]


def parse_frame(line: str) -> Optional[Frame]:
    """A :class:`Frame` from one trace line (timestamp already removed), else None."""
    line = line.strip()
    m = _FRAME.match(line)
    if m:
        return Frame(m["func"], int(m["off"], 16), int(m["size"], 16), m["mod"], not m["unrel"])
    m = _RAW_FRAME.match(line)
    if m:
        return Frame(f"0x{m['addr']}", 0, 0, None, not m["unrel"])
    return None


def parse_regs(lines: Iterable[str]) -> Dict[str, int]:
    """Registers from the lines of a register dump (``RIP: 0033:0x47b7a0``,
    ``RSP: 002b:00007ffc... EFLAGS: 00000202 ORIG_RAX: ...``, ``RAX: ... RBX: ...``,
    ``FS:  ...(0000) GS:...``, ``CS:  0010 DS: ...``, ``CR2: ...``): lower-case names.
    ``cs``/``ss`` come from the ``RIP:``/``RSP:`` selectors; a symbolized kernel RIP is not
    a number and is left out (see :func:`parse_rip`)."""
    regs: Dict[str, int] = {}
    for line in lines:
        m = _RIP.match(line)
        if m:
            regs["cs"] = int(m["cs"], 16)
            where = m["where"].strip()
            if re.fullmatch(r"0x[0-9a-f]+", where):
                regs["rip"] = int(where, 16)
            continue
        m = re.match(r"^RSP: ([0-9a-f]{4}):([0-9a-f]+)(.*)$", line)
        if m:
            regs["ss"] = int(m[1], 16)
            regs["rsp"] = int(m[2], 16)
            line = m[3]
        for name, value in _REG_PAIR.findall(line):
            if name in ("CS", "SS") and name.lower() in regs:
                continue  # the CPU's current selector, not the one the RIP:/RSP: lines saved
            regs[name.lower()] = int(value, 16)
    return regs


def parse_rip(line: str) -> Optional[Frame]:
    """The kernel-mode ``RIP: 0010:func+0x1d/0x28 [mod]`` line as a (reliable) Frame;
    None for user mode (``RIP: 0033:0x...``) or another line."""
    m = _RIP.match(line.strip())
    if not m or int(m["cs"], 16) & 3:
        return None
    return parse_frame(m["where"].strip())


def _is_reg_line(line: str) -> bool:
    return bool(_RIP.match(line) or _REG_LINE.match(line) or line.startswith("Code: "))


# --------------------------------------------------------------------------- sysrq-t


def sysrq_t_block(console_text: str) -> List[str]:
    """The console lines of the (first) sysrq-t dump: between the guest's
    ``KDBG-SYSRQ-T-BEGIN``/``-END`` markers when present, else from ``sysrq: Show State``
    on; the scheduler and workqueue state the kernel appends after the tasks cut it off."""
    lines = console_lines(console_text)
    start = next((i for i, ln in enumerate(lines) if ln.startswith(SYSRQ_T_BEGIN)), None)
    if start is None:
        start = next((i for i, ln in enumerate(lines) if "sysrq: Show State" in ln or "SysRq : Show State" in ln), None)
    if start is None:
        return []
    out = []
    for ln in lines[start + 1 :]:
        if ln.startswith(_BLOCK_END):
            break
        out.append(ln)
    return out


def parse_sysrq_t(console_text: str) -> Dict[int, SysrqTask]:
    """Every task of the sysrq-t dump in *console_text*, by pid (= tid: each thread is
    its own entry).  Tasks without a stack (zombies: the kernel prints nothing for them)
    are absent.  Lines of other messages interleaved with the dump are ignored."""
    tasks: Dict[int, SysrqTask] = {}
    cur: Optional[SysrqTask] = None
    raw: List[str] = []
    regs_lines: List[str] = []

    def close() -> None:
        if cur is not None:
            cur.text = "\n".join(raw)
            if regs_lines:
                regs = parse_regs(regs_lines)
                if regs.get("cs", 0) & 3:
                    cur.user_regs = regs
            tasks[cur.pid] = cur

    context = "TASK"
    for line in sysrq_t_block(console_text):
        m = _HEADER.match(line)
        if m:
            close()
            raw, regs_lines, context = [line], [], "TASK"
            cur = SysrqTask(
                pid=int(m["pid"]),
                comm=m["comm"].rstrip(),
                state=m["state"],
                frames=[],
                ppid=int(m["ppid"]),
                tgid=int(m["tgid"]) if m["tgid"] else None,
                flags=int(m["flags"], 16),
                running=bool(m["running"]),
            )
            continue
        if cur is None:
            continue
        frame = parse_frame(line)
        marker = _MARKER.match(line)
        if frame is not None:
            cur.frames.append(frame if context == "TASK" else dataclasses.replace(frame, context=context))
        elif marker:
            context = "TASK" if marker["close"] else marker["name"]
        elif line.startswith("Workqueue:"):
            cur.workqueue = line.split(":", 1)[1].strip()
        elif _is_reg_line(line):
            regs_lines.append(line)
        elif line != "Call Trace:":
            continue  # an interleaved message, not part of this task
        raw.append(line)
    close()
    return tasks


# --------------------------------------------------------------------------- panic


@dataclasses.dataclass
class _Trace:
    frames: List[Frame]
    user_regs: Dict[str, int]
    #: the first kernel-mode register dump inside the trace (an NMI's interrupted context)
    kernel_regs: Dict[str, int]
    kernel_rip: Optional[Frame]
    kernel_rip_index: Optional[int]
    end: int
    #: every kernel-mode register dump inside the trace, as (frames before it, its RIP:
    #: with ``context`` the section it interrupted), outermost last
    interrupted: List[Tuple[int, Frame]] = dataclasses.field(default_factory=list)


def _trace_after(lines: List[str], start: int) -> _Trace:
    """The ``Call Trace:`` at or after *start*: its frames (each with its stack section),
    the user regs at its end, the first kernel register dump inside it, the index after
    it.  The trace ends at ``</TASK>`` (6.x: other lines before it are messages of other
    CPUs printed in between, skipped) or the first line that is neither a frame, a marker,
    a register dump nor an NMI handler's message (5.10)."""
    i = start
    while i < len(lines) and lines[i] != "Call Trace:":
        i += 1
    task_end = None
    for j in range(i + 1, len(lines)):
        if lines[j] == "</TASK>":
            task_end = j
            break
        if lines[j] == "Call Trace:" or lines[j].startswith("---[ end") or CPU_LINE.match(lines[j]):
            break
    frames: List[Frame] = []
    blocks: List[Tuple[int, str, List[str]]] = []  # (frames before it, section, lines)
    context = "TASK"
    i += 1
    while i < len(lines):
        line = lines[i]
        frame = parse_frame(line)
        marker = _MARKER.match(line)
        if frame is not None:
            frames.append(frame if context == "TASK" else dataclasses.replace(frame, context=context))
        elif line == "</TASK>":
            i += 1
            break
        elif marker:
            context = "TASK" if marker["close"] else marker["name"]
        elif _is_reg_line(line):
            if not blocks or blocks[-1][0] != len(frames):
                blocks.append((len(frames), context, []))
            blocks[-1][2].append(line)
        elif task_end is None and not line.startswith(NMI_LINES):
            break
        i += 1
    trace = _Trace(frames, {}, {}, None, None, i)
    if blocks:
        regs = parse_regs(blocks[-1][2])
        if regs.get("cs", 0) & 3 and blocks[-1][0] == len(frames):
            trace.user_regs = regs
    for at, section, block in blocks:
        regs = parse_regs(block)
        rip_line = next((ln for ln in block if parse_rip(ln)), None)
        if rip_line is None or regs.get("cs", 0) & 3:
            continue
        rip = parse_rip(rip_line)
        assert rip is not None
        # the interrupted context is the section after the one the registers were printed in
        after = next((f.context for f in frames[at:] if f.context != section), "TASK")
        trace.interrupted.append((at, dataclasses.replace(rip, context=after)))
        if trace.kernel_rip is None:
            trace.kernel_regs, trace.kernel_rip = regs, dataclasses.replace(rip, context=after)
            trace.kernel_rip_index = at
    return trace


def parse_panic(console_text: str) -> Oops:
    """The crash report in *console_text* (after the guest's ``KDBG-CRASHING`` marker
    when present, else the last report before the last ``Kernel panic``).

    Raises ValueError when there is no ``CPU: N PID: N Comm: X`` report line.
    """
    lines = console_lines(console_text)
    start = max((i for i, ln in enumerate(lines) if ln.startswith(CRASHING)), default=-1) + 1
    if start == 0:
        panics = [i for i, ln in enumerate(lines) if ln.startswith("Kernel panic - not syncing")]
        if panics:
            last = panics[-1]
            # the report's CPU: line: right after a direct panic's line, or before the panic
            # in an oops report (whose panic prints no second one)
            cpus = [i for i in range(min(last + 4, len(lines))) if CPU_LINE.match(lines[i])]
            if cpus and cpus[-1] > last:
                start = last
                # a panic in NMI context: the NMI handler's lines just before it
                for i in range(last - 1, max(last - 8, 0) - 1, -1):
                    if not lines[i].startswith(NMI_LINES):
                        break
                    start = i
            elif cpus:
                # an oops report starts a few lines before its CPU: line (BUG:, #PF:, Oops:)
                start = cpu = cpus[-1]
                for i in range(cpu - 1, max(cpu - 12, 0) - 1, -1):
                    if lines[i].startswith("---[ end"):
                        break
                    if _REPORT_START.match(lines[i]) and not lines[i].startswith("Kernel panic"):
                        start = i
    region = lines[start:]
    end = next((i for i, ln in enumerate(region) if ln.startswith("---[ end Kernel panic")), len(region) - 1)
    region = region[: end + 1]
    cpu_at = next((i for i, ln in enumerate(region) if CPU_LINE.match(ln)), None)
    if cpu_at is None:
        raise ValueError("no 'CPU: N PID: N Comm: X' line of a crash report on the console")
    m = CPU_LINE.match(region[cpu_at])
    assert m is not None
    panic_at = next((i for i, ln in enumerate(region) if ln.startswith("Kernel panic - not syncing")), None)
    message = region[panic_at].split(":", 1)[1].strip() if panic_at is not None else ""
    bug = next((ln for ln in region[:cpu_at] if _REPORT_START.match(ln) and "Kernel panic" not in ln), "")
    if not bug:
        mine = f" on CPU {m['cpu']}."
        bug = next((ln for ln in region[:cpu_at] if ln.startswith(NMI_LINES[0]) and ln.endswith(mine)), "")
    oops = Oops(
        pid=int(m["pid"]),
        comm=m["comm"],
        cpu=int(m["cpu"]),
        rip=None,
        frames=[],
        text="\n".join(region),
        kind="panic" if panic_at is not None and panic_at < cpu_at else "oops",
        message=message,
        bug=bug,
    )
    trace_at = next((i for i in range(cpu_at, len(region)) if region[i] == "Call Trace:"), None)
    if oops.kind == "oops":
        rip_at = next((i for i in range(cpu_at, trace_at or len(region)) if parse_rip(region[i])), None)
        if rip_at is not None:
            oops.rip = parse_rip(region[rip_at])
            reg_lines = []
            for ln in region[rip_at : trace_at or len(region)]:
                if _is_reg_line(ln):
                    reg_lines.append(ln)
            oops.regs = parse_regs(reg_lines)
    if trace_at is not None:
        trace = _trace_after(region, trace_at)
        oops.frames, oops.user_regs, oops.interrupted = trace.frames, trace.user_regs, trace.interrupted
        if oops.kind == "panic":
            oops.panic_frames = list(oops.frames)
            if oops.nmi and trace.kernel_rip is not None:
                oops.rip, oops.regs, oops.rip_index = trace.kernel_rip, trace.kernel_regs, trace.kernel_rip_index
        elif panic_at is not None:
            # a panic after the oops prints its own CPU: line and trace unless TAINT_DIE
            again = next((i for i in range(panic_at, len(region)) if CPU_LINE.match(region[i])), None)
            if again is not None:
                oops.panic_frames = _trace_after(region, again).frames
    return oops


_HUNG = re.compile(r"^INFO: task (?P<comm>.*):(?P<pid>\d+) blocked for more than (?P<secs>\d+) seconds\.")


@dataclasses.dataclass(frozen=True)
class HungTask:
    """The hung-task detector's report on the console: ``INFO: task COMM:PID blocked for
    more than SECONDS seconds.`` and the Call Trace it printed of that task."""

    pid: int
    comm: str
    seconds: int
    frames: List[Frame]


def parse_hung_task(console_text: str) -> HungTask:
    """The first hung-task report in *console_text*; ValueError when there is none."""
    lines = console_lines(console_text)
    at = next((i for i, ln in enumerate(lines) if _HUNG.match(ln)), None)
    if at is None:
        raise ValueError("no 'INFO: task ... blocked for more than' line on the console")
    m = _HUNG.match(lines[at])
    assert m is not None
    return HungTask(int(m["pid"]), m["comm"], int(m["secs"]), _trace_after(lines, at).frames)


def console_seconds(console_text: str, prefix: str) -> float:
    """The timestamp of the first console line whose text starts with *prefix*."""
    for line in console_text.splitlines():
        m = _TIMESTAMP.match(line)
        if m and line[m.end():].strip().startswith(prefix):
            return float(m.group(0).strip().lstrip("[").split("]")[0])
    raise ValueError(f"no console line starts with {prefix!r}")


