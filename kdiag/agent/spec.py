"""The spec an agent run is given, and the shape of a result: defaults, validation, the time budget."""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Dict

API_VERSION = "kdiag/v1"
PROBE_NAMES = ("local", "icmp", "tcp", "udp", "traceroute", "arp", "pmtu")
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
    unknown = sorted(set(raw) - set(DEFAULTS) - {"target"})
    if unknown:
        allowed = ", ".join(["target", *DEFAULTS])
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
    if not isinstance(probes, list) or any(p not in PROBE_NAMES for p in probes):
        raise SpecError("spec.probes must be a list drawn from %s, got %r" % (", ".join(PROBE_NAMES), probes))
    spec["probes"] = [p for i, p in enumerate(probes) if p not in probes[:i]]
    return spec


def budget_seconds(spec: Dict[str, Any]) -> float:
    """Upper bound on a whole run: pmtu may need PMTU_ROUNDS waits, every other probe one."""
    return float(PMTU_ROUNDS * spec["timeout"] + 1.0)


def not_measured(reason: str, **extra: Any) -> Dict[str, Any]:
    return dict({"measured": False, "reason": reason}, **extra)
