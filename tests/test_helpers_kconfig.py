"""drgn's ``get_kconfig`` on the three reference kernels: Debian builds them without
``CONFIG_IKCONFIG`` (its ``config-*`` file says so), so there is no configuration in
memory and both drgn and kdbg raise ``LookupError``."""

from __future__ import annotations

import pytest

from kdbg.helpers.kconfig import get_kconfig
from tests.helpers_compare import drgn_answers, mismatches, oracle_program
from vmcores.debian import SUITES, debian_kernel

CASES = {"get_kconfig": "dict(H.get_kconfig(prog))"}


@pytest.mark.parametrize("suite", SUITES)
def test_kconfig_absent_as_drgn(suite: str) -> None:
    config = next(debian_kernel(suite).root.glob("boot/config-*")).read_text()
    assert "# CONFIG_IKCONFIG is not set" in config.splitlines()
    assert drgn_answers(suite, CASES)["get_kconfig"]["error"] == "LookupError"
    assert mismatches(suite, CASES) == {}
    with pytest.raises(LookupError, match="CONFIG_IKCONFIG"):
        get_kconfig(oracle_program(suite))
