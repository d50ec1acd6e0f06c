"""kdiag probe agent: observe pod-to-pod connectivity from inside a pod. Engine choice, the
parallel run of the probes within the budget, and main().

Usage: python3 -m kdiag.agent '<spec json>', or python3 -c "$(agent_source())" '<spec json>'
Writes progress to stderr and exactly one ProbeResult JSON document to stdout.
Exit codes: 0 result produced (however unreachable the target), 2 bad spec, 3 internal failure.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .dns import probe_dns
from .local import probe_local
from .ports import probe_arp, probe_targets, probe_tcp_connect, probe_tcp_raw, probe_udp
from .probes import Context, probe_icmp, probe_pmtu, probe_traceroute
from .spec import API_VERSION, SpecError, budget_seconds, not_measured, parse_spec
from .waypoints import probe_waypoints


def raw_sockets_permitted() -> Tuple[bool, str]:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True, "raw sockets permitted"
    except OSError as exc:
        return False, "raw sockets not permitted (%s); they need CAP_NET_RAW" % (exc.strerror or exc)


def ping_socket_reason() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as handle:
            allowed = " ".join(handle.read().split())
    except OSError:
        allowed = "unknown"
    return ("ICMP datagram sockets are not permitted for gid %d (net.ipv4.ping_group_range = %s); "
            "the unprivileged engine cannot send echo requests" % (os.getgid(), allowed))


def probe_plan(ctx: Context) -> Dict[str, Callable[[], Dict[str, Any]]]:
    """Per probe, the callable that measures it under this engine, or explains why it cannot."""
    needs_raw = "raw engine requested but " + raw_sockets_permitted()[1]

    def unavailable(reason: str) -> Callable[[], Dict[str, Any]]:
        return lambda: not_measured(reason)

    def icmp() -> Dict[str, Any]:
        try:
            return probe_icmp(ctx)
        except PermissionError:
            return not_measured(ping_socket_reason())

    plan: Dict[str, Callable[[], Dict[str, Any]]] = {
        "local": lambda: dict(ctx.local), "icmp": icmp, "udp": lambda: probe_udp(ctx),
        "traceroute": lambda: probe_traceroute(ctx), "pmtu": lambda: probe_pmtu(ctx),
        "tcp": lambda: probe_tcp_raw(ctx) if ctx.engine == "raw" else probe_tcp_connect(ctx),
        "arp": lambda: probe_arp(ctx) if ctx.engine == "raw" else not_measured(
            "ARP needs a packet socket (CAP_NET_RAW); the unprivileged engine can neither send nor see ARP"),
        # plain sockets: the same under both engines
        "dns": lambda: probe_dns(ctx.spec.get("dns"), ctx.timeout),
        "targets": lambda: probe_targets(ctx),
        "waypoints": lambda: probe_waypoints(ctx, ping_socket_reason()),
    }
    if ctx.engine == "raw" and not ctx.raw_permitted:
        plan.update({name: unavailable(needs_raw)
                     for name in ("icmp", "tcp", "traceroute", "arp", "pmtu", "waypoints")})
    return plan


def run(spec: Dict[str, Any], log: Callable[[str], None]) -> Dict[str, Any]:
    """Measure every requested probe, in parallel threads, within budget_seconds(spec)."""
    started = time.monotonic()
    budget = budget_seconds(spec)
    raw_permitted, why = raw_sockets_permitted()
    engine = spec["engine"] if spec["engine"] != "auto" else ("raw" if raw_permitted else "unprivileged")
    log("engine %s (%s%s)" % (engine, "auto: " if spec["engine"] == "auto" else "", why))
    try:
        local = probe_local(spec["target"], spec["port"])
    except (OSError, ValueError, IndexError) as exc:  # no /proc/net/route: other probes go without
        local = not_measured("could not read the local network view: %s" % exc)
    ctx = Context(spec, engine, raw_permitted, local)
    plan = probe_plan(ctx)
    results: Dict[str, Dict[str, Any]] = {}

    def measure(name: str) -> None:
        begun = time.monotonic()
        try:
            results[name] = plan[name]()
        except Exception as exc:  # one broken probe must not cost the others their result
            results[name] = not_measured("%s failed: %s: %s" % (name, type(exc).__name__, exc))
        finally:
            if name == "pmtu":
                ctx.pmtu_finished.set()
        outcome = "measured" if results[name]["measured"] else "not measured: " + results[name]["reason"]
        log("%s %s in %.3fs" % (name, outcome, time.monotonic() - begun))

    threads = [threading.Thread(target=measure, args=(name,), daemon=True) for name in spec["probes"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, started + budget - time.monotonic()))
    probes = {name: results.get(name) or not_measured("did not finish within the %.1fs budget" % budget)
              for name in spec["probes"]}
    return {"apiVersion": API_VERSION, "kind": "ProbeResult", "engine": engine, "engineReason": why,
            "target": spec["target"], "spec": spec, "budgetSeconds": budget,
            "durationSeconds": round(time.monotonic() - started, 3), "probes": probes}


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            sys.stderr.write("kdiag-agent: %s\n" % line)
            sys.stderr.flush()

    if len(args) != 1:
        log("usage: agent '<spec json>' (exactly one argument, got %d)" % len(args))
        return 2
    try:
        spec = parse_spec(args[0])
    except SpecError as exc:
        log("error: %s" % exc)
        return 2
    try:
        result = run(spec, log)
    except Exception as exc:  # a bug outside any probe: say so on one line, no traceback
        log("internal error: %s: %s" % (type(exc).__name__, exc))
        return 3
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0
