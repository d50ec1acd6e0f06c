"""The waypoints probe: ICMP echo to each address the expected path passes through (spec.waypoints:
the source node's own address, the far end of the tunnel, the destination node's bridge and node
address), all at once. Which of them answered tells the faults of a node apart from the source
side: a node answers on its own addresses even when it forwards nothing."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

from .probes import Context, probe_icmp
from .spec import not_measured

WAYPOINT_COUNT = 2  # echo requests per address: enough to tell silence from loss, cheap in parallel


def probe_waypoints(ctx: Context, ping_refused: str) -> Dict[str, Any]:
    """probe_icmp against each of spec.waypoints in threads, each bounded by the timeout."""
    addresses: List[str] = ctx.spec["waypoints"]
    results: List[Optional[Dict[str, Any]]] = [None] * len(addresses)

    def measure(index: int, address: str) -> None:
        spec = dict(ctx.spec, target=address, count=min(WAYPOINT_COUNT, ctx.spec["count"]))
        sub = Context(dict(spec, probes=["icmp"]), ctx.engine, ctx.raw_permitted, ctx.local)
        try:
            outcome = probe_icmp(sub)
        except PermissionError:
            outcome = not_measured(ping_refused)
        except Exception as exc:  # one address's failure must not cost the others theirs
            outcome = not_measured("icmp failed: %s: %s" % (type(exc).__name__, exc))
        results[index] = {"address": address, "result": outcome}

    threads = [threading.Thread(target=measure, args=(i, a), daemon=True) for i, a in enumerate(addresses)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + ctx.timeout + 1.0
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {"measured": True, "method": "parallel",
            "results": [results[i] or {"address": a, "result": not_measured("did not finish in time")}
                        for i, a in enumerate(addresses)]}
