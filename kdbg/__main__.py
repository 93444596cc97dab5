"""``python -m kdbg``."""

from kdbg.cli import main

raise SystemExit(main())
