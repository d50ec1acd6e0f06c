"""The spec an agent run is given, and the shape of a result: defaults, validation, the time budget."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Dict, List

API_VERSION = "kdiag/v1"
PROBE_NAMES = ("local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu")
# Run only when asked for, each with its own spec key: dns (spec.dns), targets (spec.targets),
# waypoints (spec.waypoints: addresses on the expected path to ping).
EXTRA_PROBES = ("dns", "targets", "waypoints")
MAX_TARGETS = 64
MAX_WAYPOINTS = 8
DNS_TYPES = ("A", "AAAA")
ENGINES = ("auto", "raw", "unprivileged")
DEFAULTS: Dict[str, Any] = {
    "port": 80, "probes": list(PROBE_NAMES), "engine": "auto", "count": 3, "timeout": 2.0, "maxHops": 30,
}
PMTU_ROUNDS = 3


class SpecError(ValueError):
    """The spec is unusable; the message is the one line shown to the user."""


def parse_spec(text: str) -> Dict[str, Any]:
    """Validate a spec JSON text and return it with every default filled in."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SpecError("spec is not valid JSON: %s" % exc) from None
    if not isinstance(raw, dict):
        raise SpecError("spec must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULTS) - {"target", *EXTRA_PROBES})
    if unknown:
        allowed = ", ".join(["target", *DEFAULTS, *EXTRA_PROBES])
        raise SpecError("unknown spec key(s): %s; allowed: %s" % (", ".join(unknown), allowed))
    spec: Dict[str, Any] = {"target": None}
    spec.update(DEFAULTS, **raw)
    try:
        spec["target"] = str(ipaddress.IPv4Address(raw.get("target")))
    except ValueError:
        raise SpecError("spec.target must be an IPv4 address, got %r" % raw.get("target")) from None
    for key, low, high in (("port", 1, 65535), ("count", 1, 100), ("maxHops", 1, 64)):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SpecError("spec.%s must be an integer from %d to %d, got %r" % (key, low, high, value))
    timeout = spec["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise SpecError("spec.timeout must be a number of seconds in (0, 60], got %r" % (timeout,))
    spec["timeout"] = float(timeout)
    if spec["engine"] not in ENGINES:
        raise SpecError("spec.engine must be one of %s, got %r" % (", ".join(ENGINES), spec["engine"]))
    probes = spec["probes"]
    names = PROBE_NAMES + EXTRA_PROBES
    if not isinstance(probes, list) or any(p not in names for p in probes):
        raise SpecError("spec.probes must be a list drawn from %s, got %r" % (", ".join(names), probes))
    spec["probes"] = [p for i, p in enumerate(probes) if p not in probes[:i]]
    for probe in EXTRA_PROBES:
        if probe in spec["probes"] and probe not in raw:
            raise SpecError("spec.probes includes %s but spec.%s is missing" % (probe, probe))
    if "dns" in raw:
        spec["dns"] = _dns_settings(raw["dns"])
    if "targets" in raw:
        spec["targets"] = _targets(raw["targets"])
    if "waypoints" in raw:
        spec["waypoints"] = _waypoints(raw["waypoints"])
    return spec


def _waypoints(raw: Any) -> List[str]:
    """spec.waypoints: [IPv4, ...], the addresses on the expected path to ping."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_WAYPOINTS:
        raise SpecError("spec.waypoints must be a list of 1 to %d IPv4 addresses" % MAX_WAYPOINTS)
    return [_ipv4(value, "spec.waypoints[%d]" % i) for i, value in enumerate(raw)]


def _ipv4(value: Any, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        raise SpecError("%s must be an IPv4 address, got %r" % (what, value)) from None


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise SpecError("%s must be an integer from 1 to 65535, got %r" % (what, value))
    return value


def _dns_settings(raw: Any) -> Dict[str, Any]:
    """spec.dns: {"server": IPv4, "names": [name, ...] (asked in order), "port": 53, "type": "A"}."""
    if not isinstance(raw, dict) or sorted(set(raw) - {"server", "names", "port", "type"}):
        raise SpecError("spec.dns must be an object with server, names, and optionally port and type")
    names = raw.get("names")
    if (not isinstance(names, list) or not 1 <= len(names) <= 16
            or any(not isinstance(n, str) or not n.strip(".") or len(n) > 254
                   or any(not 0 < len(label) <= 63 for label in n.rstrip(".").split(".")) for n in names)):
        raise SpecError("spec.dns.names must be a list of 1 to 16 DNS names, got %r" % (names,))
    qtype = raw.get("type", "A")
    if qtype not in DNS_TYPES:
        raise SpecError("spec.dns.type must be one of %s, got %r" % (", ".join(DNS_TYPES), qtype))
    return {"server": _ipv4(raw.get("server"), "spec.dns.server"), "names": list(names),
            "port": _port(raw.get("port", 53), "spec.dns.port"), "type": qtype}


def _targets(raw: Any) -> List[Dict[str, Any]]:
    """spec.targets: [{"target": IPv4, "port": N, "protocol": "tcp" | "udp"}, ...]."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TARGETS:
        raise SpecError("spec.targets must be a list of 1 to %d targets" % MAX_TARGETS)
    out = []
    for i, entry in enumerate(raw):
        what = "spec.targets[%d]" % i
        if not isinstance(entry, dict) or sorted(set(entry) - {"target", "port", "protocol"}):
            raise SpecError("%s must be an object with target, port and optionally protocol" % what)
        protocol = entry.get("protocol", "tcp")
        if protocol not in ("tcp", "udp"):
            raise SpecError("%s.protocol must be tcp or udp, got %r" % (what, protocol))
        out.append({"target": _ipv4(entry.get("target"), what + ".target"),
                    "port": _port(entry.get("port"), what + ".port"), "protocol": protocol})
    return out


def budget_seconds(spec: Dict[str, Any]) -> float:
    """Upper bound on a whole run: pmtu may need PMTU_ROUNDS waits, every other probe one."""
    return float(PMTU_ROUNDS * spec["timeout"] + 1.0)


def not_measured(reason: str, **extra: Any) -> Dict[str, Any]:
    return dict({"measured": False, "reason": reason}, **extra)
