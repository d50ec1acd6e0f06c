"""``python3 -m kdiag.observer '<spec json>'``: run the node observer locally."""

from .observer import main

raise SystemExit(main())
