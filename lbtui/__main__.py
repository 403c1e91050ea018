"""``python -m lbtui``: the same as the ``lbtui`` command."""

from lbtui.cli import main

raise SystemExit(main())
