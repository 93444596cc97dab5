"""``python -m kdbg``."""

from kdbg.ui.cli import main

raise SystemExit(main())
