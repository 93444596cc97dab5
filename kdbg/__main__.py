"""``python -m kdbg``: the command line; a part of kdbg that fails to import (a broken
installation) is one line, unless ``--traceback`` asks for the whole story."""

import sys

try:
    from kdbg.ui.cli import main

    code = main()
except ImportError as e:
    if "--traceback" in sys.argv:
        raise
    print(f"kdbg: {type(e).__name__}: {e} (--traceback shows where)", file=sys.stderr)
    code = 1
raise SystemExit(code)
