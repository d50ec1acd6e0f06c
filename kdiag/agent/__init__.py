"""The probe agent: what a probe pod observes, with or without raw sockets.

The agent is a small package of standard-library modules that imports nothing from kdiag.
kdiag ships it into probe containers as ONE source text (``python3 -c '<source>' '<spec>'``),
which :func:`agent_source` builds from the package files at call time.
"""

from pathlib import Path

# Dependency order: each module only imports modules listed before it.
MODULES = ("spec", "packets", "transports", "local", "probes", "ports", "dns", "waypoints", "agent")
PACKAGE = "kdiag_agent"  # the in-memory package's name in the container; not "kdiag", which may exist

# Runs in the probe container under `python3 -c` (Python 3.8+, maybe `-I -S`), where there are
# no files to import from. It registers an empty package in sys.modules, then runs each module's
# source as `<package>.<name>` in dependency order; with __package__ set, the modules' relative
# imports (`from .spec import ...`) resolve straight from sys.modules, no finder or file needed.
BOOTSTRAP = '''\
# kdiag probe agent, shipped as one source: the modules of kdiag/agent/, run in memory.
import sys
import types

SOURCES = %(sources)s
package = types.ModuleType(%(package)r)
package.__path__ = []
sys.modules[%(package)r] = package
for name, text in SOURCES:
    module = types.ModuleType(%(package)r + "." + name)
    module.__package__ = %(package)r
    sys.modules[module.__name__] = module
    setattr(package, name, module)
    exec(compile(text, "<kdiag-agent/%%s.py>" %% name, "exec"), module.__dict__)
sys.exit(sys.modules[%(package)r + ".agent"].main())
'''


def module_source(name: str) -> str:
    """The text of agent module ``name`` (``kdiag/agent/<name>.py``)."""
    # A plain path, not importlib.resources.files (3.9+), so this file too stays Python 3.8 clean.
    return (Path(__file__).parent / (name + ".py")).read_text(encoding="utf-8")


def agent_source() -> str:
    """The whole agent as one self-contained source, ready to pass to ``python3 -c``."""
    sources = "(\n%s)" % "".join("    (%r, %r),\n" % (name, module_source(name)) for name in MODULES)
    return BOOTSTRAP % {"sources": sources, "package": PACKAGE}
