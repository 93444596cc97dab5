"""drgn's ``identify_address``/``identify_address_all``/``print_annotated_memory``
(``drgn.helpers.common.memory``) and ``print_annotated_stack`` (``drgn.helpers.common.stack``)
against drgn with Debian's DWARF on the three reference kernels.

The addresses asked about are the ones the kernel at hand has: every task's
``task_struct`` (start and inside), its stack, its ``mm`` and ``files``, ``init_task`` and
``init_stack``, symbols (a function, a variable), ``struct page``s, every vmap area (start
and inside: stacks, vmalloc, module memory), and addresses nothing holds. The annotated
memory and stacks are compared as printed, except ``print_annotated_stack``'s frame lines
(``[stack frame #0 at ...]``): drgn names frames from DWARF (source lines, inline frames),
kdbg from kallsyms, so only the annotated words of the stacks are compared.

Where an address is a symbol, the kernel's own name for it wins over drgn's: drgn names it
from the ELF symbol table of Debian's ``vmlinux``, where labels such as
``entry_SYSCALL_64_after_hwframe`` and linker-script symbols such as ``jiffies`` and
``init_stack`` have no size or type (drgn then names the enclosing sized symbol,
``entry_SYSCALL_64+0xa6``, or the sized alias, ``jiffies_64``, or says ``symbol:``); the
kernel (``%pS``, ``/proc/kallsyms``, which the guest recorded) names the last symbol at or
below the address, the first of its aliases, and its kallsyms type says function
(``t``/``T``) or object. So every symbol drgn identifies is expected with the guest's
kallsyms name and kind, at the same address.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.helpers_compare import drgn_answers, kdbg_answer, oracle_program, same
from tests.kernel_names import KernelNames, kernel_names
from vmcores.debian import SUITES

MEM = "(H if hasattr(H, 'identify_address_all') else __import__('drgn.helpers.common.memory', fromlist=['_']))"
STACK = "(H if hasattr(H, 'print_annotated_stack') else __import__('drgn.helpers.common.stack', fromlist=['_']))"
TASKS = "list(H.for_each_task(prog))"
ADDRS = (
    "(lambda ts, vs: [a for t in ts for a in (t.value_(), t.value_() + 0x10, t.stack.value_() + 0x100, "
    "t.mm.value_(), t.files.value_())] "
    "+ [a for v in vs for a in (v.va_start.value_(), v.va_start.value_() + 8)] "
    "+ [prog['init_task'].address_, prog['init_task'].address_ + 8, prog['init_task'].stack.value_() + 8, "
    "prog.symbol('schedule').address + 5, prog.symbol('jiffies').address, prog.symbol('max_pfn').address + 4, "
    "H.pfn_to_page(prog, 100).value_(), H.pfn_to_page(prog, 100).value_() + 8, "
    "H.pfn_to_page(prog, 4000).value_() + 0x30, 0, 8, 2**64 - 1])"
    f"({TASKS}, list(H.for_each_vmap_area(prog)))"
)


def _printed(call: str, each_task: bool = False) -> str:
    """What ``call`` prints on standard output, as a string (an error in ``call`` is the
    answer, standard output restored); with ``each_task``, ``call`` runs with ``t`` each
    task that has a kernel stack in turn (an exited task's ``stack`` is NULL: kdbg's
    ``stack_trace`` says so, drgn's reads freed memory), each task's output ended by a
    line ``@@``, after the class of the error that ended it (``!! FaultError``), if one did."""
    body = (f"for t in [t for t in H.for_each_task(prog) if t.stack]:\n        try:\n            {call}\n"
            f"        except Exception as e:\n            print('!!', type(e).__name__)\n"
            f"        print('@@')") if each_task else call
    code = repr(f"with __import__('contextlib').redirect_stdout(f):\n    {body}\n")
    return (f"(lambda f: [exec({code}, {{'prog': prog, 'H': H, 'f': f}}), f.getvalue()][1])"
            "(__import__('io').StringIO())")


def _stack_words() -> str:
    """Each task's annotated stack, its word lines only (see the module documentation)."""
    return (f"(lambda s: [[l for l in part.splitlines() if not l.startswith('[stack frame')] "
            f"for part in s.split('@@\\n')[:-1]])"
            f"({_printed(STACK + '.print_annotated_stack(prog.stack_trace(t))', each_task=True)})")


CASES = {
    "identify_address": f"(lambda c: [[a, {MEM}.identify_address(prog, a, cache=c)] for a in {ADDRS}])({{}})",
    "identify_address.nocache": f"[[a, {MEM}.identify_address(prog, a)] for a in {ADDRS}[:12]]",
    "identify_address_all": f"(lambda c: [[[type(x).__name__, str(x), x.address] "
                            f"for x in {MEM}.identify_address_all(prog, a, cache=c)] for a in {ADDRS}])({{}})",
    "identify_address.object": f"[0, {MEM}.identify_address(prog, H.find_task(prog, 1))]",
    "print_annotated_memory.init_task": _printed(
        f"{MEM}.print_annotated_memory(prog, prog['init_task'].address_, 512)"),
    "print_annotated_memory.task": _printed(f"{MEM}.print_annotated_memory(prog, H.find_task(prog, 1), 1024)"),
    "print_annotated_memory.stack": _printed(
        f"{MEM}.print_annotated_memory(prog, H.find_task(prog, 1).stack.value_() + 0x3c00, 0x400)"),
    "print_annotated_memory.physical": _printed(
        f"{MEM}.print_annotated_memory(prog, H.virt_to_phys(prog, H.find_task(prog, 1)).value_(), 256, True)"),
    "print_annotated_memory.unaligned": _printed(
        f"{MEM}.print_annotated_memory(prog, prog['init_task'].address_ + 3, 61)"),
    "print_annotated_stack": _stack_words(),
}


#: drgn's view of where the modules' memory is: ``[name, start, size]``.

_SYMBOL = re.compile(r"(?:function |object )?symbol: \S+\+0x[0-9a-f]+")
_WORD = re.compile(r"^([0-9a-f]{16}): ([0-9a-f]{16})(?: \[(.*)\])?$")


def _expected(key: str, value: Any, names: KernelNames) -> Any:
    """drgn's answer to case ``key`` with each symbol named as the kernel names it, and
    an address in a module's memory that drgn finds no symbol for named as the kernel does."""
    if key.startswith("identify_address_all"):
        return [_all_renamed(found, names) for found in value]
    if key.startswith("identify_address"):
        if key.endswith(".object"):
            return value
        return [[a, _one_renamed(a, what, names)] for a, what in value]
    if key == "print_annotated_stack":
        return [[_renamed(line, names) for line in lines] for lines in value]
    return "".join(_renamed(line, names) + "\n" for line in value.splitlines())


def _one_renamed(value: int, what: Optional[str], names: KernelNames) -> Optional[str]:
    if what is not None and _SYMBOL.fullmatch(what):
        return names(value)
    if names.module_of(value) is not None:
        return names(value) or what
    return what


def _all_renamed(found: List[List[Any]], names: KernelNames) -> List[List[Any]]:
    out = [[cls, names(addr) if cls == "IdentifiedSymbol" else text, addr] for cls, text, addr in found]
    if found and all(cls != "IdentifiedSymbol" for cls, _, _ in found):
        kernel = names(found[0][2]) if names.module_of(found[0][2]) is not None else None
        if kernel is not None:
            out.insert(0, ["IdentifiedSymbol", kernel, found[0][2]])
    return out


def _renamed(line: str, names: KernelNames) -> str:
    m = _WORD.match(line)
    if m is None:
        return line
    what = _one_renamed(int(m.group(2), 16), m.group(3), names)
    return f"{m.group(1)}: {m.group(2)}" + ("" if what is None else f" [{what}]")


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_identify_and_annotate_as_drgn(suite: str) -> None:
    theirs = drgn_answers(suite, CASES)
    names = kernel_names(suite)
    prog = oracle_program(suite)
    bad: Dict[str, Tuple[Any, Any]] = {}
    for key, text in CASES.items():
        want = theirs[key]
        assert "error" not in want, f"{suite}: drgn could not answer {key}: {want}"
        want = {**want, "value": _expected(key, want["value"], names)}
        ours = kdbg_answer(prog, text)
        if not same(ours, want):
            bad[key] = (ours, want)
    assert bad == {}
