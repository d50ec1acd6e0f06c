"""``python3 -m kdiag.agent '<spec json>'``: run the probe agent locally."""

from .agent import main

raise SystemExit(main())
