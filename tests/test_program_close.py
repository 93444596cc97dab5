"""A closed Program frees everything it held, at once: its BTF, the types it decoded, its
symbol table and its memory source are gone as soon as the caller drops the program and
its objects, without waiting for Python's cyclic garbage collector (which is off here)."""

from __future__ import annotations

import gc
import weakref
from typing import Dict, Iterator

import pytest

import kdbg
from kdbg.helpers import for_each_task
from tests.conftest import SampleDump

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _walk_and_close(path: str) -> Dict[str, weakref.ref[object]]:
    prog = kdbg.open_core(path)
    task = None
    for task in for_each_task(prog):
        task.comm.string_()
        if int(task.pid) == 1:
            str(prog.stack_trace(task))
    assert task is not None
    refs = {"Program": weakref.ref(prog), "BTF": weakref.ref(prog.btf), "memory": weakref.ref(prog.memory),
            "symbols": weakref.ref(prog.symbol_table)}  # a type it decoded refers to its BTF
    prog.close()
    return refs


def test_a_closed_program_is_freed_without_the_cyclic_collector(sample_dump: SampleDump, no_cyclic_gc: None) -> None:
    refs = _walk_and_close(str(sample_dump.path))
    alive = sorted(name for name, ref in refs.items() if ref() is not None)
    assert alive == []


def test_a_closed_program_says_so(sample_dump: SampleDump) -> None:
    prog = kdbg.open_core(str(sample_dump.path))
    prog.close()
    with pytest.raises(kdbg.KdbgError, match="^the program is closed$"):
        prog.type("struct task_struct")
