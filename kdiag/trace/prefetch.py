"""Import, on a background thread, the modules a trace needs only once its probe has answered.

A trace spends ~0.3 s waiting on the API and the probe pod, and its start-up ~0.1 s creating the
model's dataclasses (observations, checks, verdict, the trace view). Importing the second set while
the first is awaited takes it off the wall time: the main thread sleeps in socket reads meanwhile.
The caller joins the thread before using these modules, so no module is imported by both threads at
once (the import system would resolve a cycle between them with a half-initialised module).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable

# What `judged` and the views use after the probe, and nothing before it.
AFTER_PROBE = (
    "kdiag.model.observations",
    "kdiag.model.service_observed",
    "kdiag.model.findings",
    "kdiag.model.hops",
    "kdiag.model.capture_hops",
    "kdiag.model.verdict",
    "kdiag.model.trace",
    "kdiag.render.trace",
)


def prefetch(modules: Iterable[str] = AFTER_PROBE) -> threading.Thread:
    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the main thread's own import raises it, where it matters
                return

    thread = threading.Thread(target=load, name="kdiag-prefetch", daemon=True)
    thread.start()
    return thread
