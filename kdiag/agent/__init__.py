"""The probe agent: what a probe pod observes, with or without raw sockets.

The agent lives in one self-contained module, ``agent.py``, because kdiag ships its
source text into probe containers (``python3 -c '<source>' '<spec json>'``). It imports
nothing from kdiag; this package only exposes that source to the cluster layer.
"""

from importlib import resources


def agent_source() -> str:
    """The text of ``agent.py``, ready to pass to ``python3 -c``."""
    return resources.files(__name__).joinpath("agent.py").read_text(encoding="utf-8")
