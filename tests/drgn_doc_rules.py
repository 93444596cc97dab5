"""Which of drgn's documentation examples apply to the guests' dumps and how each is changed
to run there (:data:`APPLIES`, :data:`GUEST_APPLIES`), which do not and why
(:data:`NOT_APPLICABLE`), and where kdbg's output may differ from drgn's (:data:`KERNEL_WINS`,
:data:`KNOWN_DIFFERENCES`): the classification ``tests/test_drgn_doc_examples.py`` holds
kdbg to (its docstring says the rules). Every example is classified by what it needs, never
by how kdbg fares.
"""


from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

from vmcores.debian import SUITES
from vmcores.disk import DISK_FORMS
from vmcores.doc_examples import (
    NAMESPACE_ID,
)
from vmcores.state import STATE_FORMS

#: The dump forms the examples run on: ``(form, tool)``.
FORMS: List[Tuple[str, str]] = [("elf-paging", "qemu"), ("kdump-zlib", "makedumpfile")]

_L = "drgn.helpers.linux."
_TASK1 = f"{_L}pid.find_task(prog, 1)"

#: Values of the dump some examples take instead of their author's, asked of drgn (with
#: DWARF) on each kernel's ``-p`` ELF dump (every form of a suite holds the same memory).
FACT_QUERIES: Dict[str, str] = {
    # PID 1's task_struct and mm_struct (slab objects).
    "task1": _TASK1,
    "task1_mm": f"{_TASK1}.mm",
    # A present user address of PID 1 (its argument strings), and the start of its lowest
    # VMA (the byte before it is unmapped).
    "user_vaddr": f"{_TASK1}.mm.arg_start",
    "first_vma": f"next({_L}mm.for_each_vma({_TASK1}.mm)).vm_start",
    # PID 1's kernel stack (vmalloc'ed) and a stack pointer in it.
    "stack": f"{_TASK1}.stack",
    "stack_sp": f"{_TASK1}.thread.sp",
    # init_task.comm ("swapper/0"), the author's examples read it at a literal address.
    "comm_addr": "prog['init_task'].comm.address_of_()",
    "jiffies_addr": "prog['jiffies'].address_of_()",
    # qemu_fw_cfg, a module every guest loads: its struct module, the start of its first
    # address region, and &__this_module.list of the last module loaded.
    "module": f"{_L}module.find_module(prog, 'qemu_fw_cfg')",
    "module_start": f"{_L}module.module_address_regions({_L}module.find_module(prog, 'qemu_fw_cfg'))[0][0]",
    "this_module_list": "prog['modules'].next",
    # An address in the kernel's text.
    "kernel_text": "prog.symbol('schedule').address",
    # The struct page of PID 1's task_struct.
    "task1_page": f"{_L}mm.virt_to_page({_TASK1})",
    # The inode of the guests' /init (a file of the initramfs, in the page cache).
    "init_inode": f"{_L}fs.path_lookup(prog, '/init').dentry.d_inode",
    # The wait queue `cat /tmp/kdbg-fifo` sleeps on (opening a FIFO with no writer).
    "fifo_wq": f"{_L}fs.path_lookup(prog, '/tmp/kdbg-fifo').dentry.d_inode.i_pipe.rd_wait.address_of_()",
    # Memory block 0, node 0's ZONE_DMA32 and memory section 0.
    "memory_block": f"cast('struct memory_block *', {_L}xarray.xa_load(prog['memory_blocks'].address_of_(), 0))",
    "zone": "prog['node_data'][0].node_zones[1].address_of_()",
    "section": f"{_L}mmzone.nr_to_section(prog, 0)",
}

#: A fact's value in an example's code: ``{name}`` is the value in hexadecimal.
Facts = Dict[str, str]


@dataclasses.dataclass(frozen=True)
class Applies:
    """An example that applies to the guests' vmcores, run as written unless ``why`` says
    what changed: ``subst`` replaces text in its code (``{fact}`` is a fact's value),
    ``given`` statements run first (names the author's session had defined, or a value of
    the dump for them), ``drop`` leaves statements out (by index)."""

    why: str = ""
    subst: Tuple[Tuple[str, str], ...] = ()
    given: Tuple[str, ...] = ()
    drop: Tuple[int, ...] = ()

    def __post_init__(self) -> None:
        assert bool(self.why) == bool(self.subst or self.given or self.drop), "say why, and only when changed"


_RUN = Applies()
_TASK1_GIVEN = ("task = find_task(1)",)
_INIT_INODE = ("inode = Object(prog, 'struct inode *', {init_inode})",)

#: The prefix of the reasons of examples only DWARF can answer.
DWARF_ONLY = "DWARF-only:"
_SOURCE = f"{DWARF_ONLY} source locations of code (DWARF's line tables)"
_TRACE = f"{DWARF_ONLY} prints stack frames with their source files and lines and inline frames"
_LOCALS = f"{DWARF_ONLY} reads a stack frame's parameters or local variables"
_LIVE = "changes the running kernel (drgn.helpers.experimental.kmodify): a live kernel only"
_COMMAND = "drgn's command syntax (%command), not Python: the documentation of drgn's own command line"
_DM_CRYPT = "needs a dm-crypt device (the case study reads its key): the guests have none"
_KYBER = "follows the case study's crash (kyber's stack frame locals): not these dumps, and DWARF-only locals"
_TUTORIAL = "the tutorial's crash: its crashed thread's frames and their locals (DWARF-only too)"
_FINDERS = ("lists the debugger's own object finders ('dwarf', 'linux'): names of drgn's implementation, "
            "not of anything in the dump")
_HELP = "prints the debugger's own documentation (pydoc of its classes), not anything in the dump"

#: Examples that run on these vmcores, with any change said.
APPLIES: Dict[str, Applies] = {
    "README.rst:29": _RUN,
    "README.rst:246": _RUN,
    "README.rst:253": Applies("the author's PID 115 (a findmnt) is PID 1 here", (("find_task(115)", "find_task(1)"),)),
    "docs/advanced_usage.rst:74": _RUN,
    "docs/advanced_usage.rst:365": _RUN,
    "docs/advanced_usage.rst:382": _RUN,
    "docs/api_reference.rst:223": _RUN,
    "docs/case_studies/kyber_stack_trace.rst:108": _RUN,
    "docs/release_highlights/0.0.22.rst:68": _RUN,
    "docs/release_highlights/0.0.22.rst:76": _RUN,
    "docs/release_highlights/0.0.22.rst:85": Applies(
        "the author's two slab objects are PID 1's task_struct and mm_struct here",
        (("0xffffa3b601178438", "{task1}"), ("0xffffa3b601176cc0", "{task1_mm}"))),
    "docs/release_highlights/0.0.22.rst:99": _RUN,
    "docs/release_highlights/0.0.23.rst:20": Applies(
        "the author's PID 115 and user address are PID 1 and its argument strings here",
        (("find_task(prog, 115)", "find_task(prog, 1)"), ("0x7f7fe46a4270", "{user_vaddr}"))),
    "docs/release_highlights/0.0.23.rst:28": _RUN,
    "docs/release_highlights/0.0.23.rst:36": _RUN,
    "docs/release_highlights/0.0.23.rst:42": Applies(
        "the author's module address is PID 1's (vmalloc'ed) kernel stack here", (("0xffffffffc0483000", "{stack}"),)),
    "docs/release_highlights/0.0.23.rst:51": Applies(
        "the author's module address is PID 1's (vmalloc'ed) kernel stack here", (("0xffffffffc0477000", "{stack}"),)),
    "docs/release_highlights/0.0.23.rst:59": Applies(
        "the author's module address is PID 1's (vmalloc'ed) kernel stack here", (("0xffffffffc0477000", "{stack}"),)),
    "docs/release_highlights/0.0.24.rst:16": _RUN,
    "docs/release_highlights/0.0.24.rst:28": Applies(
        "the author's wireless device is the loopback device here; the cast of its private data "
        "to mac80211's struct is left out (a wireless device's)", (("wlp0s20f3", "lo"),), drop=(2,)),
    "docs/release_highlights/0.0.25.rst:57": Applies(
        "task (the author's process) is PID 1 and the address its argument strings",
        (("0x55d65cfaa000", "{user_vaddr}"),), given=_TASK1_GIVEN),
    "docs/release_highlights/0.0.25.rst:62": _RUN,
    "docs/release_highlights/0.0.25.rst:78": Applies(
        "the author's VMA start is PID 1's lowest VMA's here",
        (("0x55d65cfaa000", "{first_vma}"), ("0x55d65cfa9fff", "{first_vma} - 1"))),
    "docs/release_highlights/0.0.25.rst:88": _RUN,
    "docs/release_highlights/0.0.25.rst:110": Applies(
        "wq (the author's wait queue) is the one `cat /tmp/kdbg-fifo` sleeps on",
        given=("wq = Object(prog, 'wait_queue_head_t *', {fifo_wq})",)),
    "docs/release_highlights/0.0.25.rst:136": _RUN,
    "docs/release_highlights/0.0.25.rst:153": _RUN,
    "docs/release_highlights/0.0.27.rst:16": _RUN,
    "docs/release_highlights/0.0.27.rst:50": Applies(
        "the author's slab object (a fuse inode) is PID 1's task_struct here", (("0xffff985163300698", "{task1}"),)),
    "docs/release_highlights/0.0.27.rst:69": Applies(
        "the author's module function and stack addresses are &__this_module.list of the last module "
        "loaded and PID 1's stack pointer here",
        (("0xffffffffc0536540", "{this_module_list}"), ("0xffffbb88e2283f58", "{stack_sp}"))),
    "docs/release_highlights/0.0.28.rst:75": _RUN,
    "docs/release_highlights/0.0.28.rst:85": _RUN,
    "docs/release_highlights/0.0.28.rst:100": _RUN,
    "docs/release_highlights/0.0.28.rst:110": Applies(
        "the author's overlay module is qemu_fw_cfg here (every guest loads it)", (("overlay", "qemu_fw_cfg"),)),
    "docs/release_highlights/0.0.28.rst:121": Applies(
        "the author's module address is qemu_fw_cfg's first region here", (("0xffffffffc23bf000", "{module_start}"),)),
    "docs/release_highlights/0.0.31.rst:30": Applies(
        "the author's kernel address is schedule's here", (("0xffffffff92811100", "{kernel_text}"),)),
    "docs/release_highlights/0.0.32.rst:34": _RUN,
    "docs/release_highlights/0.0.32.rst:45": _RUN,
    "docs/release_highlights/0.0.32.rst:56": _RUN,
    "docs/release_highlights/0.0.32.rst:70": _RUN,
    "docs/release_highlights/0.0.33.rst:111": Applies("the author's kernel thread PID 4 is kthreadd (PID 2) here",
                                                      (("find_task(4)", "find_task(2)"),)),
    "docs/release_highlights/0.0.33.rst:120": Applies("the author's kernel thread PID 4 is kthreadd (PID 2) here",
                                                      (("find_task(4)", "find_task(2)"),)),
    "docs/release_highlights/0.1.0.rst:259": _RUN,
    "docs/release_highlights/0.1.0.rst:273": Applies(
        "mem (the author's memory block) is memory block 0",
        given=("mem = Object(prog, 'struct memory_block *', {memory_block})",)),
    "docs/release_highlights/0.2.0.rst:28": _RUN,
    **{f"docs/release_highlights/0.2.0.rst:{line}": Applies(
        "the author's NVMe disk is CPU 0's device here (the guests have no disk)",
        (("/sys/block/nvme0n1", "/sys/devices/system/cpu/cpu0"),)) for line in (47, 53, 59, 65, 71)},
    "docs/release_highlights/0.2.0.rst:105": _RUN,
    "docs/release_highlights/0.2.0.rst:116": Applies(
        "page (the author's page) is the struct page of PID 1's task_struct",
        given=("page = Object(prog, 'struct page *', {task1_page})",)),
    "docs/release_highlights/0.2.0.rst:128": Applies("inode (the author's inode) is the guests' /init",
                                                     given=_INIT_INODE),
    "docs/tutorials/blk_rq_qos_crash.rst:57": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:88": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:372": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:380": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:791": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:811": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:829": _RUN,
    "docs/tutorials/blk_rq_qos_crash.rst:844": _RUN,
    "docs/user_guide.rst:30": Applies("the author's address of init_task.comm is this kernel's",
                                      (("0xffffffffbe411e10", "{comm_addr}"),)),
    "docs/user_guide.rst:47": _RUN,
    "docs/user_guide.rst:62": Applies("the author's module address is jiffies' here",
                                      (("0xffffffffc09031a0", "{jiffies_addr}"),)),
    "docs/user_guide.rst:66": _RUN,
    "docs/user_guide.rst:74": _RUN,
    "docs/user_guide.rst:120": _RUN,
    "docs/user_guide.rst:131": _RUN,
    "docs/user_guide.rst:143": _RUN,
    "docs/user_guide.rst:152": _RUN,
    "docs/user_guide.rst:171": _RUN,
    "docs/user_guide.rst:231": _RUN,
    "docs/user_guide.rst:301": _RUN,
    "docs/user_guide.rst:317": Applies("main_module().debug_file_path (the DWARF file drgn loaded; kdbg reads "
                                       "none) is left out", drop=(1,)),
    "docs/user_guide.rst:410": _RUN,
    "docs/user_guide.rst:419": _RUN,
    "docs/user_guide.rst:431": _RUN,
    "_drgn.pyi:140": _RUN,
    "_drgn.pyi:160": _RUN,
    "_drgn.pyi:182": _RUN,
    "_drgn.pyi:200": _RUN,
    "_drgn.pyi:356": _RUN,
    "_drgn.pyi:437": Applies("the author's address of init_task.comm is this kernel's",
                             (("0xffffffffbe012b40", "{comm_addr}"),)),
    "_drgn.pyi:462": Applies("the author's address of init_task.comm is this kernel's",
                             (("0xffffffffbe012b40", "{comm_addr}"),)),
    "_drgn.pyi:2412": _RUN,
    "_drgn.pyi:2418": _RUN,
    "_drgn.pyi:2424": _RUN,
    "_drgn.pyi:2457": _RUN,
    "_drgn.pyi:2464": _RUN,
    "_drgn.pyi:2600": _RUN,
    "_drgn.pyi:2614": _RUN,
    "_drgn.pyi:2620": Applies("ptr_to_ptr (the author's void **) is &init_task.stack",
                              given=("ptr_to_ptr = prog['init_task'].stack.address_of_()",)),
    "_drgn.pyi:2630": Applies("ptr (the author's pointer) is &init_task.comm[2]",
                              given=("ptr = prog['init_task'].comm[2].address_of_()",)),
    "_drgn.pyi:2655": _RUN,
    "_drgn.pyi:2686": _RUN,
    "_drgn.pyi:2701": _RUN,
    "_drgn.pyi:2789": _RUN,
    "_drgn.pyi:2846": _RUN,
    "_drgn.pyi:2886": _RUN,
    "_drgn.pyi:3009": _RUN,
    "_drgn.pyi:3034": _RUN,
    "_drgn.pyi:3060": _RUN,
    "_drgn.pyi:3148": _RUN,
    "_drgn.pyi:3522": _RUN,
    "_drgn.pyi:3528": _RUN,
    "_drgn.pyi:3641": _RUN,
    "_drgn.pyi:3685": _RUN,
    "_drgn.pyi:3808": _RUN,
    "_drgn.pyi:3985": _RUN,
    "_drgn.pyi:4175": Applies("the author's CPU 7 is CPU 1 here (the guests have two)", ((", 7)", ", 1)"),)),
    "drgn/helpers/common/__init__.py:13": _RUN,
    **{f"drgn/helpers/common/format.py:{line}": _RUN for line in (151, 156, 162, 167, 172, 177)},
    "drgn/helpers/common/format.py:217": Applies(
        "bits_enum (the docstring's made-up enum of bit numbers) is the kernel's enum pageflags",
        given=("bits_enum = prog.type('enum pageflags')",)),
    "drgn/helpers/common/format.py:228": Applies(
        "flags_enum (the docstring's made-up enum of flag values) is the kernel's enum "
        "perf_event_sample_format", given=("flags_enum = prog.type('enum perf_event_sample_format')",)),
    **{f"drgn/helpers/common/format.py:{line}": _RUN for line in (259, 264, 269, 274, 324, 332, 344)},
    "drgn/helpers/common/memory.py:159": Applies(
        "identity (the author's) is init_task's address identified",
        given=("identity = next(identify_address_all(prog['init_task'].address_))",)),
    "drgn/helpers/common/memory.py:195": Applies("the author's kernel data address is init_task's here",
                                                 (("0xffffffff963eb200", "{task1}"),)),
    **{f"drgn/helpers/common/type.py:{line}": _RUN for line in (62, 74, 92, 106, 111)},
    "drgn/helpers/linux/__init__.py:13": _RUN,
    "drgn/helpers/linux/block.py:271": _RUN,
    "drgn/helpers/linux/cpumask.py:163": Applies("mask (the author's) is the online CPUs' mask",
                                                 given=("mask = prog['__cpu_online_mask'].address_of_()",)),
    "drgn/helpers/linux/fs.py:349": Applies("inode (the author's inode) is the guests' /init", given=_INIT_INODE),
    "drgn/helpers/linux/hugetlb.py:32": _RUN,
    "drgn/helpers/linux/ipc.py:148": _RUN,
    "drgn/helpers/linux/irq.py:130": Applies("the author's IRQ 27 is IRQ 4 (the serial port ttyS0) here",
                                             (("irq_to_desc(27)", "irq_to_desc(4)"),)),
    "drgn/helpers/linux/irq.py:184": _RUN,
    "drgn/helpers/linux/kconfig.py:50": _RUN,
    "drgn/helpers/linux/kthread.py:25": Applies("the author's kernel thread PID 3 is kthreadd (PID 2) here",
                                                (("find_task(3)", "find_task(2)"),)),
    "drgn/helpers/linux/kthread.py:56": Applies("the author's kernel thread PID 3 is kthreadd (PID 2) here",
                                                (("find_task(3)", "find_task(2)"),)),
    "drgn/helpers/linux/list.py:209": Applies("the placeholder my_list is the kernel's module list",
                                              (("my_list", "modules"),)),
    "drgn/helpers/linux/mapletree.py:71": Applies(
        "task (the author's process) is PID 1 and the address its argument strings",
        (("0x55d65cfaa000", "{user_vaddr}"),), given=_TASK1_GIVEN),
    "drgn/helpers/linux/mapletree.py:119": Applies("task (the author's process) is PID 1", given=_TASK1_GIVEN),
    "drgn/helpers/linux/mm.py:923": Applies("page (the author's page) is the struct page of PID 1's task_struct",
                                            given=("page = Object(prog, 'struct page *', {task1_page})",)),
    "drgn/helpers/linux/mm.py:936": Applies("page (the author's page) is the struct page of PID 1's task_struct",
                                            given=("page = Object(prog, 'struct page *', {task1_page})",)),
    "drgn/helpers/linux/mm.py:1043": _RUN,
    **{f"drgn/helpers/linux/mm.py:{line}": Applies(
        "the author's PID 113 and user address are PID 1 and its argument strings here",
        (("find_task(113)", "find_task(1)"), ("0x7fffbbb6d4d0", "{user_vaddr}"))) for line in (1318, 1340, 1360)},
    **{f"drgn/helpers/linux/mm.py:{line}": Applies("the author's PID 113 is PID 1 here",
                                                   (("find_task(113)", "find_task(1)"),)) for line in (1381, 1398)},
    "drgn/helpers/linux/mm.py:1447": Applies("the author's vmalloc address is PID 1's kernel stack here",
                                             (("0xffffa2b680081000", "{stack}"),)),
    "drgn/helpers/linux/mm.py:1496": _RUN,
    **{f"drgn/helpers/linux/mm.py:{line}": Applies(
        "the author's PID and user address are PID 1 and its argument strings here",
        (("find_task(1490152)", "find_task(1)"), ("0x7f8a62b56da0", "{user_vaddr}"))) for line in (1535, 1556)},
    "drgn/helpers/linux/mm.py:1575": Applies("the author's PID is PID 1 here",
                                             (("find_task(1495216)", "find_task(1)"),)),
    "drgn/helpers/linux/mm.py:1610": Applies("the author's PID is PID 1 here",
                                             (("find_task(1497797)", "find_task(1)"),)),
    "drgn/helpers/linux/mm.py:1787": Applies("task (the author's process) is PID 1", given=_TASK1_GIVEN),
    **{f"drgn/helpers/linux/mm.py:{line}": Applies(
        "mem (the author's memory block) is memory block 0",
        given=("mem = Object(prog, 'struct memory_block *', {memory_block})",)) for line in (2002, 2035)},
    "drgn/helpers/linux/mmzone.py:109": Applies("zone (the author's) is node 0's ZONE_DMA32",
                                                given=("zone = Object(prog, 'struct zone *', {zone})",)),
    "drgn/helpers/linux/mmzone.py:394": Applies("section (the author's) is memory section 0",
                                                given=("section = Object(prog, 'struct mem_section *', {section})",)),
    **{f"drgn/helpers/linux/module.py:{line}": Applies(
        "module (the author's) is qemu_fw_cfg (every guest loads it)",
        given=("module = Object(prog, 'struct module *', {module})",)) for line in (233, 238)},
    "drgn/helpers/linux/net.py:161": Applies("dev (the author's) is the loopback device",
                                             given=("dev = prog['init_net'].loopback_dev",)),
    "drgn/helpers/linux/net.py:224": Applies(
        "the author's wireless device is the loopback device here; the cast of its private data "
        "to mac80211's struct is left out (a wireless device's)", (("wlp0s20f3", "lo"),), drop=(2,)),
    "drgn/helpers/linux/panic.py:79": _RUN,
    "drgn/helpers/linux/panic.py:104": _RUN,
    "drgn/helpers/linux/panic.py:109": _RUN,
    "drgn/helpers/linux/percpu.py:29": Applies("the author's CPU 6 is CPU 1 here (the guests have two)",
                                               ((", 6)", ", 1)"),)),
    "drgn/helpers/linux/printk.py:327": _RUN,
    "drgn/helpers/linux/resource.py:23": Applies(
        "os.getpid() (drgn's own process on a live kernel) is PID 1 here", (("os.getpid()", "1"),)),
    "drgn/helpers/linux/sched.py:59": Applies("the author's CPU 7 is CPU 1 here (the guests have two)",
                                              (("cpu_curr(7)", "cpu_curr(1)"),)),
    "drgn/helpers/linux/sched.py:73": _RUN,
    "drgn/helpers/linux/sched.py:175": _RUN,
    "drgn/helpers/linux/signal.py:50": _RUN,
    "drgn/helpers/linux/signal.py:69": _RUN,
    "drgn/helpers/linux/signal.py:111": _RUN,
    **{f"drgn/helpers/linux/signal.py:{line}": Applies("task (the author's process) is PID 1", given=_TASK1_GIVEN)
       for line in (127, 162, 188)},
    "drgn/helpers/linux/signal.py:202": _RUN,
    "drgn/helpers/linux/slab.py:138": Applies("slab_cache (the author's) is the task_struct cache",
                                              given=("slab_cache = prog['task_struct_cachep']",)),
    "drgn/helpers/linux/slab.py:208": _RUN,
    "drgn/helpers/linux/slab.py:927": _RUN,
    "drgn/helpers/linux/slab.py:959": _RUN,
    "drgn/helpers/linux/slab.py:968": _RUN,
    "drgn/helpers/linux/swap.py:98": _RUN,
    "drgn/helpers/linux/timekeeping.py:281": _RUN,
    "drgn/helpers/linux/timer.py:33": _RUN,
    "drgn/helpers/linux/vmstat.py:32": _RUN,
    "drgn/helpers/linux/vmstat.py:55": _RUN,
    "drgn/helpers/linux/xarray.py:57": Applies("inode (the author's inode) is the guests' /init", given=_INIT_INODE),
    "drgn/helpers/linux/xarray.py:88": Applies("inode (the author's inode) is the guests' /init", given=_INIT_INODE),
    **{f"drgn/helpers/linux/xarray.py:{line}": Applies(
        "xa (the author's XArray, with a value entry at 9 and a zero entry at 10) is the page cache of "
        "the guests' /init",
        given=("xa = Object(prog, 'struct inode *', {init_inode}).i_mapping.i_pages.address_of_()",))
       for line in (212, 234)},
}

#: Examples that do not apply to these vmcores, and why.
NOT_APPLICABLE: Dict[str, str] = {
    "README.rst:264": _LOCALS,
    "docs/advanced_usage.rst:37": "loads the author's debugging-symbol files (./libfoo.so...)",
    "docs/advanced_usage.rst:47": "loads the author's build tree's vmlinux",
    "docs/advanced_usage.rst:62": "loads the author's debugging-symbol file ./my_extra_symbols.debug",
    "docs/advanced_usage.rst:210": "opens the running kernel (drgn.program_from_kernel): a live kernel only",
    **{f"docs/case_studies/dm_crypt_key.rst:{line}": _DM_CRYPT
       for line in (96, 109, 130, 148, 180, 209, 225, 231, 257, 314, 340, 366, 383, 404, 466, 560)},
    "docs/case_studies/kyber_stack_trace.rst:15": "needs the CPU that crashed (crashing_cpu): the reference dumps "
    "are QEMU's of a running guest, no kernel crash",
    "docs/case_studies/kyber_stack_trace.rst:19": _KYBER,
    "docs/case_studies/kyber_stack_trace.rst:90": _KYBER,
    "docs/case_studies/kyber_stack_trace.rst:103": _KYBER,
    "docs/case_studies/kyber_stack_trace.rst:114": _KYBER,
    "docs/commands.rst:26": _COMMAND,
    "docs/commands.rst:30": _COMMAND,
    "docs/commands.rst:37": _COMMAND,
    "docs/crash_compatibility.rst:14": _COMMAND,
    "docs/crash_compatibility.rst:27": _COMMAND,
    "docs/crash_compatibility.rst:37": _COMMAND,
    "docs/crash_compatibility.rst:52": "an empty prompt (drgn's, entered from its crash prompt): no code",
    "docs/man/drgn-crash.rst:30": "an empty prompt (drgn's, entered from its crash prompt): no code",
    "docs/release_highlights/0.0.22.rst:21": _LOCALS,
    "docs/release_highlights/0.0.22.rst:110": _TRACE,
    "docs/release_highlights/0.0.27.rst:33": "a fuse inode of the author's machine (struct fuse_inode): the guests "
    "mount no fuse filesystem",
    "docs/release_highlights/0.0.27.rst:88": _FINDERS,
    "docs/release_highlights/0.0.27.rst:94": _FINDERS,
    "docs/release_highlights/0.0.27.rst:100": _FINDERS,
    "docs/release_highlights/0.0.27.rst:122": _FINDERS,
    "docs/release_highlights/0.0.27.rst:158": _LOCALS,
    "docs/release_highlights/0.0.28.rst:48": _LIVE,
    "docs/release_highlights/0.0.28.rst:58": _LIVE,
    "docs/release_highlights/0.0.33.rst:132": _LOCALS,
    "docs/release_highlights/0.1.0.rst:74": _COMMAND,
    "docs/release_highlights/0.1.0.rst:86": _COMMAND,
    "docs/release_highlights/0.1.0.rst:90": _COMMAND,
    "docs/release_highlights/0.1.0.rst:150": _SOURCE,
    "docs/release_highlights/0.1.0.rst:291": "calls a private function of drgn's (kallsyms._load_builtin_kallsyms), "
    "not its API",
    "docs/release_highlights/0.2.0.rst:83": _LIVE,
    "docs/release_highlights/0.2.0.rst:95": _TRACE,
    **{f"docs/tutorials/blk_rq_qos_crash.rst:{line}": _TUTORIAL
       for line in (174, 181, 227, 286, 305, 319, 329, 363, 432, 456, 470, 481)},
    "docs/tutorials/blk_rq_qos_crash.rst:570": _TRACE,
    "docs/user_guide.rst:210": "pseudo-code: head and do_something_with are placeholders",
    "docs/user_guide.rst:249": _TRACE,
    "docs/user_guide.rst:269": _TRACE,
    "docs/user_guide.rst:276": _LOCALS,
    "docs/user_guide.rst:330": "a user-space program's modules (grep and its shared libraries)",
    "_drgn.pyi:328": _SOURCE,
    "_drgn.pyi:2661": _LOCALS,
    "_drgn.pyi:3273": _TRACE,
    "_drgn.pyi:3302": _TRACE,
    "_drgn.pyi:3312": _LOCALS,
    "_drgn.pyi:3448": _SOURCE,
    "_drgn.pyi:3454": _SOURCE,
    "_drgn.pyi:3458": _SOURCE,
    "_drgn.pyi:3486": _SOURCE,
    "_drgn.pyi:3500": _SOURCE,
    "_drgn.pyi:3696": "loffp_t is a typedef the docstring makes up (a C snippet), in no kernel",
    "drgn/__init__.py:16": _HELP,
    "drgn/__init__.py:20": _HELP,
    "drgn/__init__.py:27": _HELP,
    "drgn/__init__.py:31": _HELP,
    "drgn/__init__.py:35": _HELP,
    "drgn/__init__.py:256": "runs the author's script exe.py (shown as prose, not as an example) on a live "
    "system's processes",
    "drgn/__init__.py:341": _SOURCE,
    "drgn/cli.py:241": "about drgn's own command line's display hook (drgn.cli.display_str); the driver is the "
    "display hook here",
    "drgn/helpers/common/stack.py:35": _TRACE,
    "drgn/helpers/experimental/kmodify.py:1044": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1266": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1584": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1593": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1614": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1621": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1632": _LIVE,
    "drgn/helpers/experimental/kmodify.py:1740": _LIVE,
    "drgn/helpers/linux/fs.py:127": "opens a file of the running system between two lookups: a live kernel only",
}


#: Values of a scenario guest's dump some examples take, asked of drgn (with DWARF) on its
#: ``-p`` ELF dump as :data:`FACT_QUERIES` are. Each is the guest's only one of its kind
#: (the guest's own file, which the example's truth check reads, lists exactly one).
GUEST_FACT_QUERIES: Dict[str, Dict[str, str]] = {
    # The first request drgn finds in flight on vdb (no scheduler: driver tags only).
    "disk": {"rq": f"next({_L}block.request_queue_busy_iter(next(d for d in {_L}block.for_each_disk(prog) "
                   f"if {_L}block.disk_name(d) == b'vdb').queue))"},
    # The SysV shm segment of kdbg-state and the zram swap device.
    "state": {"shm": f"next({_L}ipc.for_each_sysv_shm(prog))",
              "si": f"next({_L}swap.for_each_swap_info(prog))"},
}

_SI_GIVEN = ("si = Object(prog, 'struct swap_info_struct *', {si})",)
_SI_WHY = "si (the author's swap device) is the state guest's zram swap (its only one)"

#: Examples that apply to a scenario guest only (``vmcores.disk``: virtio-blk requests in
#: flight; ``vmcores.state``: a SysV shm segment and zram swap), with their changes said.
GUEST_APPLIES: Dict[str, Dict[str, Applies]] = {
    "disk": {
        "drgn/helpers/linux/block.py:253": Applies(
            "rq (the author's request) is the first request in flight on the disk guest's vdb",
            given=("rq = Object(prog, 'struct request *', {rq})",)),
    },
    "state": {
        "drgn/helpers/linux/ipc.py:134": Applies(
            "shm (the author's segment) is the state guest's SysV shm segment (its only one)",
            given=("shm = Object(prog, 'struct shmid_kernel *', {shm})",)),
        "drgn/helpers/linux/swap.py:49": Applies(_SI_WHY, given=_SI_GIVEN),
        "drgn/helpers/linux/swap.py:70": Applies(_SI_WHY, given=_SI_GIVEN),
    },
}

#: The dump forms of each scenario guest kdbg reads (drgn reads its ``-p`` ELF dump:
#: :data:`vmcores.oracle.ORACLE_FORM`; it cannot read QEMU's kdump files).
GUEST_FORMS: Dict[str, Tuple[str, ...]] = {"disk": DISK_FORMS, "state": STATE_FORMS}


@dataclasses.dataclass(frozen=True)
class Differs:
    """An applicable example whose output under kdbg is not drgn's on ``suites`` (in the dump
    ``forms``), for the reason ``why``; kdbg's output there holds each text of ``shows`` (the symptom of that
    reason, so that another difference is not taken for it)."""

    why: str
    shows: Tuple[str, ...]
    suites: Tuple[str, ...] = SUITES
    forms: Tuple[str, ...] = tuple(form for form, _tool in FORMS)

    def __post_init__(self) -> None:
        assert self.why and self.shows and set(self.suites) <= set(SUITES), self
        assert self.forms and set(self.forms) <= {form for form, _tool in FORMS}, self


_NO_EXTRA_MODULE = ("kdbg does not implement Program.extra_module: the module docs/api_reference.rst:223 creates in "
                    "drgn's session (extra_module('foo', 0x4d2)) is not in kdbg's list")
_LISTED_WITHOUT_EXTRA = "prog.main_module(name='kernel')\nprog.relocatable_module(name="

#: The guest kernel's own answer, where drgn's differs: ``(why, truth file, suites)``;
#: kdbg's output starts with the guest's file on every suite (the guest recorded it before
#: the dump was taken: later messages follow), and drgn's differs from kdbg's on ``suites``
#: (6.12's log has no printk record of several lines).
KERNEL_WINS: Dict[str, Tuple[str, str]] = {
    key: ("a printk record of several lines: the kernel prefixes every line with the record's time "
          "(record_print_text(), as the guest's own dmesg shows), drgn only the first. Whether a build's "
          "log has such a record depends on its boot (a slow one prints calibrate_delay_direct()'s two-line "
          "warning), so kdbg is held to the guest's dmesg whether or not drgn differs",
          "dmesg")
    for key in ("drgn/helpers/linux/printk.py:327", "docs/tutorials/blk_rq_qos_crash.rst:88")
}

#: Applicable examples whose output under kdbg is not drgn's, and why.
KNOWN_DIFFERENCES: Dict[str, Differs] = {
    NAMESPACE_ID: Differs("kdbg has no drgn.source_location (DWARF-only: DWARF's line tables)",
                          ("missing default global: drgn.source_location",)),
    "docs/advanced_usage.rst:74": Differs("kdbg does not implement drgn's module loading API "
                                          "(Program.loaded_modules: kdbg finds the kernel's modules itself)",
                                          ("drgn.Program.loaded_modules is not supported by kdbg",)),
    "docs/api_reference.rst:223": Differs("kdbg does not implement Program.extra_module (drgn's module API for "
                                          "files the program does not know)",
                                          ("drgn.Program.extra_module is not supported by kdbg",)),
    "docs/release_highlights/0.0.28.rst:110": Differs(
        "kdbg names an address in a module by the nearest kallsyms symbol below it, as the kernel's %pS "
        "does (kallsyms records no sizes); drgn, with the module's ELF symbol table, names only addresses "
        "inside a symbol's size (here: pointers into qemu_fw_cfg's data named after its fw_cfg_rev*)",
        (" *)fw_cfg_rev",)),
    "docs/release_highlights/0.0.31.rst:30": Differs(_NO_EXTRA_MODULE, (_LISTED_WITHOUT_EXTRA,)),
    "docs/release_highlights/0.1.0.rst:259": Differs(
        f"{DWARF_ONLY} alignof('struct page'): the struct's __aligned(2 * sizeof(long)) is DWARF's "
        "DW_AT_alignment; BTF records no alignment, and kdbg's is its members' (8)", ("\n8\n",)),
    "docs/user_guide.rst:231": Differs(
        "kdbg's crashed_thread() error on a dump with no panic is drgn's LookupError, in words that say why "
        "(bt and report print them too)",
        ("LookupError: panic_cpu is not set: the kernel did not panic before this dump",)),
    "docs/user_guide.rst:317": Differs(_NO_EXTRA_MODULE, (_LISTED_WITHOUT_EXTRA,)),
    "_drgn.pyi:2620": Differs(
        "6.12: the address has several kallsyms names (init_stack, __end_rodata_aligned...): kdbg names it as "
        "the kernel's %pS does, by the first in kallsyms order (the variable init_stack), drgn by an ELF "
        "symbol (as tests/test_objects_vs_drgn.py explains)", ("init_stack+0x0",), ("trixie",)),
    "drgn/helpers/common/format.py:228": Differs(
        f"{DWARF_ONLY} 5.10's BTF records enumerator values in 32 bits (BTF_KIND_ENUM64 came in 6.0): "
        "__PERF_SAMPLE_CALLCHAIN_EARLY = 1 << 63 is only in DWARF", ("__PERF_SAMPLE_CALLCHAIN_EARLY = 0,",),
        ("bullseye",)),
    "drgn/helpers/linux/kthread.py:56": Differs(
        "5.10: kthread_data() of a task whose kthread pointer is NULL reads address 0x18; on a kdump drgn "
        "translates through libkdumpfile and words its error ('could not read memory from kdump: Cannot get page "
        "I/O address: Page table not present: pmd[0] = 0x0: 0x18'); kdbg says drgn's own words of a page-table "
        "walk on every form (as drgn does on the ELF dump)",
        ("FaultError: address is not mapped: 0x18",), ("bullseye",), ("kdump-zlib",)),
}

