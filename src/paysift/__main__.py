"""``python -m paysift``: the command line."""

from .cli import main

raise SystemExit(main())
