"""What the agent's `dns` and `targets` probes saw, decoded once from the ProbeResult into frozen
dataclasses (docs/agent.md describes the raw fields). Pure: no I/O.

The path probes are decoded by kdiag.model.observed; these two belong to the Service chain
(kdiag.model.service_trace) and are judged by kdiag.model.checks.service / .dns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# dns outcomes that mean the nameserver did not give a usable answer at all
DNS_FAILURES = ("timeout", "unreachable", "servfail", "refused", "error")


@dataclass(frozen=True)
class DnsQuerySeen:
    name: str
    transport: str
    rcode: str
    outcome: str
    latency_ms: float | None
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class DnsSeen:
    """The dns probe: the walk over the query names and how the last query ended."""

    measured: bool
    reason: str = ""  # why not measured
    server: str = ""
    outcome: str = ""  # answer | nodata | nxdomain | servfail | refused | timeout | unreachable | error
    rcode: str = ""
    name: str = ""  # the last name asked (the one that answered, when one did)
    addresses: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    latency_ms: float | None = None
    error: str = ""
    icmp_error: str = ""  # "hostUnreachable from 10.250.0.24" when a router said so
    queries: tuple[DnsQuerySeen, ...] = ()

    @property
    def failed(self) -> bool:
        return self.measured and self.outcome in DNS_FAILURES

    def to_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "reason": self.reason or None, "server": self.server or None,
                "outcome": self.outcome or None, "rcode": self.rcode or None, "name": self.name or None,
                "addresses": list(self.addresses), "cnames": list(self.cnames), "latencyMs": self.latency_ms,
                "error": self.error or None, "icmpError": self.icmp_error or None,
                "queries": [{"name": q.name, "transport": q.transport, "rcode": q.rcode or None,
                             "outcome": q.outcome, "latencyMs": q.latency_ms, "addresses": list(q.addresses)}
                            for q in self.queries]}


@dataclass(frozen=True)
class TargetSeen:
    """One entry of the targets probe: address:port and what the tcp or udp probe said there."""

    address: str
    port: int
    protocol: str  # tcp | udp
    measured: bool
    state: str = ""  # tcp: open | closed | filtered; udp: open | closed | filtered | open|filtered
    rtt_ms: float | None = None
    error: str = ""  # the ICMP error's name, e.g. hostUnreachable
    error_from: str = ""
    reason: str = ""  # why not measured

    @property
    def answered(self) -> bool:
        """The peer itself answered: a TCP SYN-ACK, or a UDP reply."""
        return self.state == "open"

    @property
    def refused(self) -> bool:
        """Reached, but nothing listens: TCP RST or ICMP port unreachable from the target."""
        return self.state == "closed"

    def words(self) -> str:
        if not self.measured:
            return f"not measured: {self.reason}"
        text = self.state or "?"
        if self.protocol == "tcp":
            words = {"open": "open (SYN-ACK)", "closed": "closed (RST)", "filtered": "no answer"}
            text = words.get(text, text)
        if self.rtt_ms is not None:
            text += f", {self.rtt_ms:g} ms"
        if self.error:
            text += f"; {self.error} from {self.error_from or '?'}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"measured": self.measured, "state": self.state or None, "rttMs": self.rtt_ms,
                "icmpError": {"name": self.error, "from": self.error_from or None} if self.error else None,
                "reason": self.reason or None}


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _strs(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


def _icmp(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, Mapping):
        return "", ""
    return str(raw.get("name") or ""), str(raw.get("from") or "")


def decode_dns(result: Mapping[str, Any]) -> DnsSeen | None:
    """The dns probe of a ProbeResult; None when it was not asked for."""
    raw = (result.get("probes") or {}).get("dns")
    if not isinstance(raw, Mapping):
        return None
    if not raw.get("measured"):
        return DnsSeen(False, reason=str(raw.get("reason") or "not measured"))
    raw_queries = [q for q in raw.get("queries") or () if isinstance(q, Mapping)]
    last: Mapping[str, Any] = raw_queries[-1] if raw_queries else {}
    queries = []
    for q in raw_queries:
        addresses = tuple(str(a.get("data")) for a in q.get("answers") or ()
                          if isinstance(a, Mapping) and a.get("type") in ("A", "AAAA"))
        queries.append(DnsQuerySeen(str(q.get("name") or ""), str(q.get("transport") or ""),
                                    str(q.get("rcode") or ""), str(q.get("outcome") or ""),
                                    _float(q.get("latencyMs")), addresses))
    name, source = _icmp(raw.get("icmpError") or last.get("icmpError"))
    return DnsSeen(True, server=str(raw.get("server") or ""), outcome=str(raw.get("outcome") or ""),
                   rcode=str(raw.get("rcode") or ""), name=str(raw.get("name") or ""),
                   addresses=_strs(raw.get("addresses")), cnames=_strs(raw.get("cnames")),
                   latency_ms=_float(raw.get("latencyMs")),
                   error=str(raw.get("error") or last.get("error") or ""),
                   icmp_error=f"{name} from {source or '?'}" if name else "", queries=tuple(queries))


def decode_targets(result: Mapping[str, Any]) -> tuple[TargetSeen, ...]:
    """The targets probe's results in spec order; () when it was not asked for or did not run."""
    raw = (result.get("probes") or {}).get("targets")
    if not isinstance(raw, Mapping) or not raw.get("measured"):
        return ()
    out = []
    for entry in raw.get("results") or ():
        if not isinstance(entry, Mapping):
            continue
        r = entry.get("result") or {}
        error, error_from = _icmp(r.get("icmpError"))
        out.append(TargetSeen(
            str(entry.get("target") or ""), int(entry.get("port") or 0), str(entry.get("protocol") or "tcp"),
            bool(r.get("measured")), state=str(r.get("state") or ""), rtt_ms=_float(r.get("rttMs")),
            error=error, error_from=error_from, reason=str(r.get("reason") or "")))
    return tuple(out)
