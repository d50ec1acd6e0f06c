"""`python3 -m kdiag`."""

from kdiag.cli.main import run

run()
