# ruff: noqa: UP031
# %-formatting builds the shipped source, as in kdiag/agent/__init__.py.
"""The node observer: what the expected path's interfaces on one node saw of the probe's flow,
and the node state that decides its forwarding.

Like the probe agent, the observer is a package of standard-library modules that imports
nothing from kdiag; kdiag ships it as ONE source text (``python3 -c '<source>' '<spec>'``) that
runs on the node's python3, built by :func:`observer_source`. ``decode.py`` is the exception:
it is the client side (scapy, imported lazily) and is never shipped.
"""

from pathlib import Path

# Dependency order: each module only imports modules listed before it.
MODULES = ("spec", "bpf", "capture", "tools", "nodestate", "netfilter", "observer")
CLIENT_MODULES = ("decode",)  # in the package, never shipped
PACKAGE = "kdiag_observer"  # the in-memory package's name on the node; not "kdiag", which may exist

# The same bootstrap as the agent's (see kdiag/agent/__init__.py): an empty package registered
# in sys.modules, each module's source run as `<package>.<name>` in dependency order.
BOOTSTRAP = '''\
# kdiag node observer, shipped as one source: the modules of kdiag/observer/, run in memory.
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
    exec(compile(text, "<kdiag-observer/%%s.py>" %% name, "exec"), module.__dict__)
sys.exit(sys.modules[%(package)r + ".observer"].main())
'''


def module_source(name: str) -> str:
    """The text of observer module ``name`` (``kdiag/observer/<name>.py``)."""
    return (Path(__file__).parent / (name + ".py")).read_text(encoding="utf-8")


def observer_source() -> str:
    """The whole observer as one self-contained source, ready to pass to ``python3 -c``."""
    sources = "(\n%s)" % "".join("    (%r, %r),\n" % (name, module_source(name)) for name in MODULES)
    return BOOTSTRAP % {"sources": sources, "package": PACKAGE}
