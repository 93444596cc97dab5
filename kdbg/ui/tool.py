"""What the tools beside the debugger (``kdbg shrink``, ``kdbg report``, ``kdbg triage``)
share: an argument parser whose errors are one line naming the tool and its usage."""

from __future__ import annotations

import argparse
from typing import NoReturn

from kdbg.errors import KdbgError

__all__ = ["ToolParser"]


class ToolParser(argparse.ArgumentParser):
    """``argparse`` for a tool (``prog="kdbg report"``): a bad line raises
    :class:`~kdbg.errors.KdbgError` ``"report: MESSAGE (usage: USAGE)"`` instead of exiting
    (``-h`` still prints the help and exits 0)."""

    def error(self, message: str) -> NoReturn:
        raise KdbgError(f"{self.prog.split()[-1]}: {message} (usage: {self.usage})")
