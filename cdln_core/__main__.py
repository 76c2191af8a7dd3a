"""``python -m cdln_core`` is the ``cdln`` command."""

from .cli import main

raise SystemExit(main())
