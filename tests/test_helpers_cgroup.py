"""drgn's cgroup helpers (``drgn.helpers.linux.cgroup``) against drgn 0.3.0 with Debian's
DWARF on the same memory (see tests/helpers_compare.py).

The reference guests mount no cgroup filesystem, so each hierarchy is its root cgroup:
the default hierarchy's and every controller's root ``css`` are walked (children and
pre-order descendants, step by step and whole), named, and looked up by path; every task's
default cgroup too. ``sock_cgroup_ptr`` (the guests have no socket) is compared on
``sock_cgroup_data`` laid over kernel code, which checks the member it reads: ``cgroup``
since 5.15 (6.1, 6.12), ``val`` on 5.10.
"""

from __future__ import annotations

import pytest

from tests.helpers_compare import compare
from vmcores.debian import SUITES

SNIPPET = r'''
from drgn.helpers.linux.cgroup import (cgroup_get_from_path, cgroup_name, cgroup_parent, cgroup_path,
                                       css_for_each_child, css_for_each_descendant_pre, css_next_child,
                                       css_next_descendant_pre, sock_cgroup_ptr)
from drgn.helpers.linux.pid import for_each_task

root = prog["cgrp_dfl_root"].cgrp
csses = [("dfl", root.self.address_of_())]
subsys = prog["init_css_set"].subsys
csses += [("subsys:%d" % i, subsys[i].read_()) for i in range(len(subsys)) if subsys[i]]
result["csses"] = [n for n, _ in csses]
for name, css in csses:
    cgrp = css.cgroup
    result[name + ":cgroup"] = [cgroup_name(cgrp), cgroup_path(cgrp), cgroup_parent(cgrp).value_()]
    result[name + ":children"] = probe(lambda css=css: list(css_for_each_child(css)))
    result[name + ":descendants"] = probe(lambda css=css: list(css_for_each_descendant_pre(css)))
    result[name + ":next_child"] = probe(css_next_child, NULL(prog, "struct cgroup_subsys_state *"), css)
    result[name + ":next_pre"] = probe(css_next_descendant_pre, NULL(prog, "struct cgroup_subsys_state *"), css)
    result[name + ":next_pre2"] = probe(css_next_descendant_pre, css, css)
for p in ("/", "", "no-such-group", "cgroup.procs", b"/"):
    result["get:%r" % (p,)] = probe(cgroup_get_from_path, p)
    result["get_prog:%r" % (p,)] = probe(cgroup_get_from_path, prog, p)
result["tasks"] = [[t.pid.value_(), cgroup_path(t.cgroups.dfl_cgrp), cgroup_name(t.cgroups.dfl_cgrp)]
                   for t in for_each_task(prog)]
result["skcd"] = probe(sock_cgroup_ptr, Object(prog, "struct sock_cgroup_data *", prog.symbol("schedule").address))
'''


@pytest.mark.parametrize("suite", SUITES)
def test_cgroups_as_drgn(suite: str) -> None:
    """Every root css's walks and names, the path lookups and every task's cgroup equal
    drgn's."""
    theirs, differ = compare(suite, "cgroup", SNIPPET)
    assert len(theirs["csses"]) >= 5 and len(theirs["tasks"]) >= 30
    assert theirs["dfl:descendants"] == [["struct cgroup_subsys_state *", theirs["get:'/'"][1]]]
    assert theirs["skcd"][1]
    assert differ == {}
