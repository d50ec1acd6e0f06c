"""Import, on a background thread, the modules a trace needs only once its probe has answered.

A trace spends ~0.3 s waiting on the API and the probe pod, while its start-up spends ~30 ms
creating the dataclasses of the modules it needs only afterwards (observations, checks, verdict,
the trace view). Importing those during the wait, when the main thread sleeps in socket reads,
takes them off the start-up; it shortens the wall time where the probe pod runs on another machine
(on the 2-core lab the thread and the probe pod share the CPUs). The caller joins the thread before
using these modules, so no module is imported by both threads at once (the import system would
resolve a cycle between them with a half-initialised module).
"""

from __future__ import annotations

import importlib
import threading

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


def prefetch() -> threading.Thread:
    def load() -> None:
        for name in AFTER_PROBE:
            try:
                importlib.import_module(name)
            except Exception:  # the main thread's own import raises it, where it matters
                return

    thread = threading.Thread(target=load, name="kdiag-prefetch", daemon=True)
    thread.start()
    return thread
