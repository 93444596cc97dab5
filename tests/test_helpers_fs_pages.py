"""drgn's page-cache and file helpers of ``drgn.helpers.linux.fs``
(``inode_for_each_page``, ``address_space_for_each_page``, ``decode_file_type``,
``print_files``) against drgn 0.3.0 with Debian's DWARF on the same memory (see
tests/helpers_compare.py), and against the guest.

Every inode of every superblock (900 to 9,000) has its cached pages listed (a few hundred
pages of the initramfs' files) and its type decoded; every file type value and a few out-of-range
modes are decoded; every task's open files are printed. The guest's ``ps`` names the
tasks; each task with a console open prints it.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
import contextlib
import io
from drgn.helpers.linux.fs import address_space_for_each_page, decode_file_type, inode_for_each_page, print_files
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.pid import for_each_task

result["types"] = [decode_file_type(m) for m in list(range(0, 0o200000, 0o4000)) + [-1, 0o1777777, 0o100644]]
inodes = []
for sb in list_for_each_entry("struct super_block", prog["super_blocks"].address_of_(), "s_list"):
    for inode in list_for_each_entry("struct inode", sb.s_inodes.address_of_(), "i_sb_list"):
        inodes.append(inode)
result["inodes"] = len(inodes)
pages = {}
for inode in inodes:
    key = "%x" % inode.value_()
    got = probe(lambda: [[i, p.value_()] for i, p in inode_for_each_page(inode)])
    if got:
        pages[key] = got
    result["type:" + key] = decode_file_type(inode.i_mode)
result["pages"] = pages
result["mapping"] = [probe(lambda m=inode.i_mapping: [[i, p.value_()] for i, p in address_space_for_each_page(m)])
                     for inode in inodes[::25]]
for task in for_each_task():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        probe(print_files, task)
    result["files:%d" % task.pid.value_()] = out.getvalue()
'''


@pytest.mark.parametrize("suite", SUITES)
def test_fs_pages_as_drgn(suite: str) -> None:
    """Cached pages, file types and printed file tables equal drgn's."""
    theirs, differ = compare(suite, "fs_pages", SNIPPET)
    assert theirs["inodes"] > 100 and sum(len(v) for v in theirs["pages"].values()) > 100
    assert "REG" in theirs["types"] and "170000" in theirs["types"]
    assert "/dev/console" in theirs["files:1"]
    assert differ == {}
