# ruff: noqa: UP006, UP031, UP035, UP045
# Shipped to nodes and run there on Python 3.8+, like kdiag/agent: no 3.10 syntax upgrades.
"""main(): parse the spec, open the captures, read the drop counters, say "capturing" on stderr,
capture for the window (or until SIGTERM/SIGINT), read the counters and the node state again,
print one ObserverResult."""

from __future__ import annotations

import base64
import json
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from . import netfilter, nodestate
from .bpf import flow_filter
from .capture import Capture
from .spec import SpecError, parse_spec

READY = "kdiag-observer: capturing"  # on stderr once every socket is open: start the probe now


def log(message: str) -> None:
    sys.stderr.write("kdiag-observer: %s\n" % message)
    sys.stderr.flush()


def concrete_source(flow: Dict[str, Any], packets: List[Dict[str, Any]]) -> Optional[str]:
    """With a source prefix: the address inside it that sent to flow.dst (from the first such
    captured packet's IPv4 header), so the route lookups ask about the real peer."""
    prefix = int(flow.get("srcPrefix", 32))
    if prefix >= 32:
        return None
    mask = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    want = struct.unpack("!I", socket.inet_aton(flow["src"]))[0] & mask
    dst = socket.inet_aton(flow["dst"])
    for packet in packets:
        header = base64.b64decode(packet["data"])[packet["networkOffset"]:]
        ours = len(header) >= 20 and header[16:20] == dst
        if ours and struct.unpack("!I", header[12:16])[0] & mask == want:
            return socket.inet_ntoa(header[12:16])
    return None


def observe(spec: Dict[str, Any]) -> Dict[str, Any]:
    began = time.monotonic()
    stopping: List[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopping.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    # The C-level handler writes the signal number here, waking the capture's select at once.
    wake, waker = socket.socketpair()
    for end in (wake, waker):
        end.setblocking(False)
    signal.set_wakeup_fd(waker.fileno())
    program = flow_filter(spec["flow"], spec["encapsulations"], spec["snapLength"])
    capture = Capture(spec["interfaces"], program, max_packets=spec["maxPackets"],
                      snap_length=spec["snapLength"])
    before = netfilter.read_all()
    sys.stderr.write(READY + "\n")
    sys.stderr.flush()
    try:
        started, ended, ended_by = capture.run(spec["window"], lambda: bool(stopping), wake)
    finally:
        signal.set_wakeup_fd(-1)
        wake.close()
        waker.close()
    interfaces = capture.close()
    source = concrete_source(spec["flow"], capture.packets)
    asked = dict(spec, flow=dict(spec["flow"], src=source)) if source else spec
    # The counters and the node state are a dozen independent tool runs: read side by side, so the
    # trace waiting for this result waits for the slower half only.
    found: Dict[str, Any] = {}
    reader = threading.Thread(target=lambda: found.update(after=netfilter.read_all()))
    reader.start()
    state = nodestate.snapshot(asked, capture.links)
    reader.join()
    after = found["after"]
    return {
        "apiVersion": "kdiag/v1",
        "kind": "ObserverResult",
        "node": spec["node"] or socket.gethostname(),
        "spec": spec,
        "window": {"startedAt": round(started, 6), "endedAt": round(ended, 6),
                   "seconds": round(ended - started, 3), "endedBy": ended_by},
        "interfaces": interfaces,
        "packets": capture.packets,
        "nodeState": state,
        "netfilter": netfilter.compare(before, after),
        "durationSeconds": round(time.monotonic() - began, 3),
    }


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: kdiag-observer '<spec json>'\n")
        return 2
    try:
        spec = parse_spec(args[0])
    except SpecError as error:
        log("error: %s" % error)
        return 2
    try:
        result = observe(spec)
    except Exception as error:  # one line, never a traceback: the trace reads our stderr
        log("internal error: %s: %s" % (type(error).__name__, error))
        return 3
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    log("%d packets on %d interfaces" % (len(result["packets"]), len(result["interfaces"])))
    return 0
