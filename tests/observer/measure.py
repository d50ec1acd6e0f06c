"""How long the observer adds to a trace, on the namespace nodes (root needed):

    sudo .venv/bin/python -m tests.observer.measure [runs]

Start to "capturing" (python3 -I startup + the first counter read), SIGTERM to the result
(final drain, counters again, node state), and decoding with scapy (its first import included
in the first run only).
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import time

from kdiag.observer import observer_source
from kdiag.observer.decode import decode_packets
from tests.agent.topology import SYSTEM_PYTHON
from tests.observer import topology as topo
from tests.observer.conftest import spec_for


def main(runs: int) -> None:
    nodes = topo.Nodes().build()
    timings: dict[str, list[float]] = {"start -> capturing": [], "SIGTERM -> result": [], "decode": []}
    try:
        for _ in range(runs):
            spec = json.dumps(spec_for({"protocol": "icmp", "src": topo.PA, "dst": topo.PB}))
            started = time.monotonic()
            proc = subprocess.Popen(["ip", "netns", "exec", nodes.ns("n1"), SYSTEM_PYTHON, "-I", "-c",
                                     observer_source(), spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            assert proc.stderr is not None
            proc.stderr.readline()
            timings["start -> capturing"].append(time.monotonic() - started)
            nodes.ping("pa", topo.PB, 1)
            stopped = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            stdout, _ = proc.communicate(timeout=30)
            timings["SIGTERM -> result"].append(time.monotonic() - stopped)
            result = json.loads(stdout)
            decoding = time.monotonic()
            assert len(decode_packets(result)) == 8
            timings["decode"].append(time.monotonic() - decoding)
    finally:
        nodes.destroy()
    for name, values in timings.items():
        print(f"{name}: median {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms, "
              f"first {values[0] * 1000:.0f} ms ({runs} runs)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
