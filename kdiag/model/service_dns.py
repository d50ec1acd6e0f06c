"""DNS as a pod sees it: its resolv.conf, the names its resolver tries, and what the cluster's
DNS should answer according to the API objects. Pure.

Sources (cited in tests/unit/test_service_dns.py):

- Kubernetes docs, "DNS for Services and Pods": A/AAAA `<svc>.<ns>.svc.<domain>` -> the
  ClusterIP; a headless Service -> the IPs of its ready endpoints (all of them with
  publishNotReadyAddresses); ExternalName -> a CNAME; `<a-b-c-d>.<ns>.pod.<domain>` -> a.b.c.d.
  dnsPolicy: ClusterFirst (default; hostNetwork pods fall back to Default), ClusterFirstWithHostNet,
  Default (the node's resolv.conf), None (only dnsConfig). dnsConfig nameservers / searches are
  appended (at most 3 nameservers, 32 search domains), options merged by name.
- The kubelet writes for ClusterFirst: `nameserver <clusterDNS>`, `search <ns>.svc.<domain>
  svc.<domain> <domain>` plus the node's search domains, `options ndots:5`; with no clusterDNS
  configured ClusterFirst falls back to Default.
- resolv.conf(5) / glibc res_nsearch: a trailing dot means absolute; a name with at least
  `ndots` dots is tried as is first, then with each search domain; otherwise the search domains
  first and the name as is last. The last `search`/`domain` line wins; ndots is capped at 15.
- NodeLocal DNSCache: a DaemonSet (node-local-dns) listening on 169.254.20.10 on every node,
  which the kubelet's clusterDNS points pods at.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kdiag.model.service_objects import ServiceInfo

CLUSTER_DOMAIN = "cluster.local"
NODE_LOCAL_DNS = "169.254.20.10"
MAX_NAMESERVERS = 3  # glibc MAXNS; the kubelet keeps the first three
MAX_SEARCH = 32  # kubelet limit since 1.28 (MaxDNSSearchPaths)
POD_NDOTS = 5


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    ndots: int = 1
    options: tuple[str, ...] = ()  # every option as written, ndots:N included


@dataclass(frozen=True)
class DnsConfig:
    """A pod's spec.dnsConfig."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()  # (name, value)


def parse_resolv_conf(text: str) -> ResolvConf:
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        keyword, *values = line.split()
        if keyword == "nameserver" and values and len(nameservers) < MAX_NAMESERVERS:
            nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            search = values if keyword == "search" else values[:1]  # the last one wins
        elif keyword == "options":
            options += values
    return ResolvConf(tuple(nameservers), tuple(search), _ndots(options), tuple(options))


def _ndots(options: Sequence[str], default: int = 1) -> int:
    ndots = default
    for option in options:
        if option.startswith("ndots:"):
            with contextlib.suppress(ValueError):
                ndots = min(max(int(option[6:]), 0), 15)
    return ndots


def render_resolv_conf(conf: ResolvConf) -> str:
    lines = [f"nameserver {n}" for n in conf.nameservers]
    if conf.search:
        lines.append("search " + " ".join(conf.search))
    if conf.options:
        lines.append("options " + " ".join(conf.options))
    return "\n".join(lines) + "\n"


def query_names(name: str, conf: ResolvConf) -> tuple[str, ...]:
    """The fully qualified names (with a trailing dot) the resolver asks for, in order."""
    if name.endswith("."):
        return (name,)
    listed = tuple(f"{name}.{domain.rstrip('.')}." for domain in conf.search)
    as_is = f"{name}."
    if name.count(".") >= conf.ndots:
        return (as_is, *(n for n in listed if n != as_is))
    return (*listed, as_is) if as_is not in listed else listed


def _unique(values: Sequence[str], limit: int) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return tuple(out[:limit])


def _merge_options(base: Sequence[str], extra: Sequence[tuple[str, str | None]]) -> tuple[str, ...]:
    merged: dict[str, str] = {}
    for option in base:
        merged[option.split(":", 1)[0]] = option
    for name, value in extra:
        merged[name] = f"{name}:{value}" if value is not None else name
    return tuple(merged.values())


@dataclass(frozen=True)
class PodDns:
    """The resolv.conf the kubelet writes for a pod, and which policy produced it."""

    conf: ResolvConf
    policy: str  # the policy in effect, e.g. "Default" for a hostNetwork pod with ClusterFirst
    notes: tuple[str, ...] = ()


def pod_resolv_conf(namespace: str, *, dns_policy: str = "ClusterFirst", host_network: bool = False,
                    cluster_dns: Sequence[str] = (), cluster_domain: str = CLUSTER_DOMAIN,
                    node: ResolvConf | None = None, dns_config: DnsConfig | None = None) -> PodDns:
    """What the kubelet writes into the pod's /etc/resolv.conf (pkg/kubelet/network/dns).

    `node`: the node's resolv.conf (kubelet --resolv-conf), None when unknown to kdiag.
    """
    notes: list[str] = []
    policy = dns_policy or "ClusterFirst"
    if policy == "ClusterFirst" and host_network:
        policy = "Default"
        notes.append("hostNetwork pod with dnsPolicy ClusterFirst uses the node's resolv.conf "
                     "(ClusterFirstWithHostNet would use cluster DNS)")
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet") and not cluster_dns:
        policy = "Default"
        notes.append("the kubelet has no clusterDNS configured: ClusterFirst falls back to Default")
    host = node or ResolvConf()
    if policy == "Default" and node is None:
        notes.append("the node's resolv.conf is not known to kdiag")
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        domain = cluster_domain.rstrip(".")
        search = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host.search]
        conf = ResolvConf(tuple(cluster_dns[:MAX_NAMESERVERS]), tuple(search), POD_NDOTS,
                          (f"ndots:{POD_NDOTS}",))
    elif policy == "None":
        conf = ResolvConf()
    else:
        conf = host
    if dns_config is not None:
        options = _merge_options(conf.options, dns_config.options)
        conf = ResolvConf(_unique([*conf.nameservers, *dns_config.nameservers], MAX_NAMESERVERS),
                          _unique([*conf.search, *dns_config.searches], MAX_SEARCH),
                          _ndots(options, conf.ndots if policy != "None" else 1), options)
    if not conf.nameservers:
        notes.append("no nameserver: every lookup fails")
    return PodDns(conf, policy, tuple(notes))


def cluster_dns_address(kube_dns: ServiceInfo | None, *, node_local_dns: bool) -> tuple[str, str]:
    """(address, why) of the clusterDNS pods are expected to use; address "" when unknown."""
    if node_local_dns:
        return NODE_LOCAL_DNS, "NodeLocal DNSCache DaemonSet present: pods ask the cache on their node"
    if kube_dns is not None and kube_dns.cluster_ip:
        return kube_dns.cluster_ip, f"ClusterIP of service {kube_dns.key}"
    return "", "no kube-dns Service with a ClusterIP in kube-system"


@dataclass(frozen=True)
class DnsRecords:
    """What the API says the cluster DNS serves, for the Services kdiag looked up.

    services: by "namespace/name"; endpoints: the ready (or, with publishNotReadyAddresses,
    all) endpoint addresses of headless Services, by the same key; namespaces: known namespace
    names, or None when kdiag could not list them.
    """

    services: Mapping[str, ServiceInfo] = field(default_factory=dict)
    endpoints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    namespaces: frozenset[str] | None = None
    cluster_domain: str = CLUSTER_DOMAIN


@dataclass(frozen=True)
class DnsAnswer:
    qname: str
    rcode: str  # "NOERROR" | "NXDOMAIN" | "" (not predictable: outside the cluster domain)
    addresses: tuple[str, ...] = ()
    cname: str = ""
    service: str = ""  # "namespace/name" when the name is a Service's
    reason: str = ""


def predict_answer(qname: str, records: DnsRecords) -> DnsAnswer:
    """The A-record answer the cluster DNS (CoreDNS's kubernetes plugin) gives for one FQDN."""
    name = qname.rstrip(".").lower()
    domain = records.cluster_domain.rstrip(".").lower()
    if name != domain and not name.endswith("." + domain):
        return DnsAnswer(qname, "", reason=f"outside {domain}: forwarded upstream, not predictable")
    labels = name[: -len(domain)].rstrip(".").split(".") if name != domain else []
    if len(labels) == 3 and labels[2] == "pod":
        return _pod_answer(qname, labels[0], labels[1], records)
    if len(labels) not in (3, 4) or labels[-1] != "svc":
        return DnsAnswer(qname, "NXDOMAIN", reason=f"not a Service or pod name of {domain}")
    service_name, namespace = labels[-3], labels[-2]
    key = f"{namespace}/{service_name}"
    service = records.services.get(key)
    if service is None:
        where = (f"namespace {namespace} does not exist" if records.namespaces is not None
                 and namespace not in records.namespaces else f"no service {key}")
        return DnsAnswer(qname, "NXDOMAIN", reason=where)
    if len(labels) == 4:  # <hostname>.<svc>.<ns>.svc: a headless Service's endpoint by hostname
        return DnsAnswer(qname, "NXDOMAIN", service=key,
                         reason="endpoint hostnames are not modelled" if service.headless
                         else "only headless Services have per-endpoint names")
    if service.is_external_name:
        return DnsAnswer(qname, "NOERROR", cname=service.external_name.rstrip(".") + ".", service=key,
                         reason=f"ExternalName: CNAME {service.external_name}")
    if service.headless:
        addresses = tuple(a for a in records.endpoints.get(key, ()) if _is_v4(a))
        if not addresses:
            return DnsAnswer(qname, "NXDOMAIN", service=key, reason="headless, without ready endpoints")
        return DnsAnswer(qname, "NOERROR", addresses, service=key, reason="headless: the endpoints")
    v4 = tuple(a for a in service.cluster_ips if _is_v4(a))
    return DnsAnswer(qname, "NOERROR", v4, service=key, reason="the ClusterIP")


def _pod_answer(qname: str, dashed: str, namespace: str, records: DnsRecords) -> DnsAnswer:
    if records.namespaces is not None and namespace not in records.namespaces:
        return DnsAnswer(qname, "NXDOMAIN", reason=f"namespace {namespace} does not exist")
    address = dashed.replace("-", ".")
    if not _is_v4(address):
        return DnsAnswer(qname, "NXDOMAIN", reason="not an a-b-c-d pod name")
    return DnsAnswer(qname, "NOERROR", (address,), reason="pod A record (CoreDNS `pods insecure`)")


def _is_v4(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 4
    except ValueError:
        return False


@dataclass(frozen=True)
class Resolution:
    """What the source pod's resolver should do for `name`: each query and its predicted answer,
    up to the first that answers; `answer` is that one, or None when every query fails."""

    name: str
    nameserver: str
    tries: tuple[DnsAnswer, ...]
    answer: DnsAnswer | None

    @property
    def predictable(self) -> bool:
        return all(t.rcode for t in self.tries)


def expected_resolution(name: str, conf: ResolvConf, records: DnsRecords) -> Resolution:
    """Walk the query names as the resolver does; NXDOMAIN moves to the next one, a NOERROR
    with an answer (or a CNAME) ends the search, an unpredictable name ends the prediction."""
    tries: list[DnsAnswer] = []
    for qname in query_names(name, conf):
        answer = predict_answer(qname, records)
        tries.append(answer)
        if not answer.rcode:
            return Resolution(name, conf.nameservers[0] if conf.nameservers else "", tuple(tries), None)
        if answer.rcode == "NOERROR" and (answer.addresses or answer.cname):
            return Resolution(name, conf.nameservers[0] if conf.nameservers else "", tuple(tries), answer)
    return Resolution(name, conf.nameservers[0] if conf.nameservers else "", tuple(tries), None)


def agent_dns_spec(resolution: Resolution, conf: ResolvConf) -> dict[str, object] | None:
    """The agent's spec.dns for this resolution: the pod's first nameserver and every query name
    in the resolver's order (the agent walks them the same way); None without a nameserver."""
    if not conf.nameservers:
        return None
    return {"server": conf.nameservers[0], "names": list(query_names(resolution.name, conf))[:16]}


def answer_difference(expected: Resolution, *, name: str, addresses: Sequence[str],
                      cnames: Sequence[str] = ()) -> str:
    """"" when what the nameserver answered (for query `name`) is what the API predicts, else one
    line saying how it differs. Unpredictable names (outside the cluster domain) never differ."""
    answer = expected.answer
    if answer is None:
        tried = {t.qname.rstrip(".").lower(): t for t in expected.tries}
        predicted = tried.get(name.rstrip(".").lower())
        if predicted is not None and not predicted.rcode:
            return ""  # a name outside the cluster domain: upstream's answer is not known
        return f"the API predicts NXDOMAIN for {predicted.qname if predicted else name}, it was answered"
    if name.rstrip(".").lower() != answer.qname.rstrip(".").lower():
        return f"answered as {name}, expected as {answer.qname} (search path or ndots differ?)"
    if answer.cname and answer.cname.lower() not in (c.lower() for c in cnames):
        return f"expected CNAME {answer.cname}, got {', '.join(cnames) or 'none'}"
    if answer.addresses and sorted(addresses) != sorted(answer.addresses):
        return (f"expected {', '.join(answer.addresses)} ({answer.reason}), "
                f"got {', '.join(addresses) or 'no address'}")
    return ""
