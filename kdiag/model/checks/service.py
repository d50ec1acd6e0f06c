"""A trace through a Service: endpoints to send to, endpoints listening on the targetPort, the
ClusterIP translated on the source node, every endpoint answering.

How the faults are told apart (the agent probes the ClusterIP:port and each chosen endpoint
IP:targetPort directly, from the source's node):
- no endpoint kube-proxy would use (selector, readiness, EndpointSlices, internalTrafficPolicy):
  SVC_NO_ENDPOINTS, from the API alone;
- the targetPort is not declared by the pods, missing from the slices, or refused (RST / ICMP port
  unreachable) by the endpoints themselves: SVC_PORT_MISMATCH, naming the pods and their nodes;
- the endpoints answer directly but the ClusterIP does not: nothing translates it on the source
  node, SVC_NOT_TRANSLATED (kube-proxy's rules, or the CNI's service datapath, on that node);
- some endpoints answer and others not: ENDPOINT_UNREACHABLE, naming the silent ones and their
  nodes (a ClusterIP connection lands on any of them, so it fails now and then).
"""

from __future__ import annotations

from kdiag.model.checks.base import Check, Facts
from kdiag.model.findings import Code, Finding
from kdiag.model.service_trace import Probed, ServiceTrace

NO_ENDPOINT_KINDS = ("selector-matches-nothing", "no-selector-no-endpoints", "no-endpointslices",
                     "no-ready-endpoints", "no-local-endpoints")
_SHOWN = 5


def _listed(probed: list[Probed] | tuple[Probed, ...]) -> str:
    shown = ", ".join(p.where() for p in probed[:_SHOWN])
    return shown + (f" and {len(probed) - _SHOWN} more" if len(probed) > _SHOWN else "")


def _node_of(probed: Probed) -> str:
    return probed.target.backend.node_name if probed.target.backend else ""


def _no_endpoints(trace: ServiceTrace) -> list[Finding]:
    tr = trace.plan.translation
    if tr.used:
        return []
    svc = tr.service
    issue = next((i for kind in NO_ENDPOINT_KINDS if (i := tr.issue(kind)) is not None), None)
    kind = issue.kind if issue else ""
    message = issue.message if issue else f"service {svc.key} has no endpoint for port {tr.port.label()}"
    if issue and issue.pods:
        message += f" ({', '.join(issue.pods[:_SHOWN])})"
    front = [p for p in trace.frontends if p.seen is not None and p.seen.measured]
    if front:
        message += "; " + ", ".join(f"ClusterIP {p.where()}: {p.seen.words()}" for p in front if p.seen)
    slices = f"kubectl get endpointslices -n {svc.namespace} -l kubernetes.io/service-name={svc.name}"
    hint = {
        "selector-matches-nothing": f"compare the selector with the pods' labels (kubectl get pods -n "
                                    f"{svc.namespace} --show-labels); {slices}",
        "no-ready-endpoints": "the selected pods are not Ready: kubectl describe pod (readiness probe, "
                              f"restarts, events); {slices}",
        "no-endpointslices": "the EndpointSlice controller of kube-controller-manager publishes them: "
                             "is it running?",
        "no-local-endpoints": "internalTrafficPolicy Local: run a replica on "
                              f"{tr.source_node or 'the source node'}, or set the policy to Cluster",
        "no-selector-no-endpoints": "a Service without a selector needs EndpointSlices made by hand "
                                    f"({slices})",
    }.get(kind, slices)
    node = tr.source_node if kind == "no-local-endpoints" else ""
    return [Finding(Code.SVC_NO_ENDPOINTS, "error", message, hint, node)]


def _ports(trace: ServiceTrace) -> list[Finding]:
    tr, out = trace.plan.translation, []
    port = tr.port
    for kind in ("target-port-undeclared", "port-not-in-slice"):
        issue = tr.issue(kind)
        if issue is not None:
            pods = f": {', '.join(issue.pods[:_SHOWN])}" if issue.pods else ""
            out.append(Finding(Code.SVC_PORT_MISMATCH, "error", issue.message + pods,
                               f"the Service's targetPort {port.target_port!r} must name a containerPort of "
                               f"the pods (kubectl get service -n {tr.service.namespace} {tr.service.name} "
                               "-o yaml; kubectl get pod -o jsonpath='{.spec.containers[*].ports}')"))
    differs = tr.issue("slice-port-differs")
    if differs is not None:
        out.append(Finding(Code.SVC_PORT_MISMATCH, "warning", f"{differs.message}: "
                           f"{', '.join(differs.pods[:_SHOWN])}", "the EndpointSlice controller "
                           "rewrites slices when pods change: is kube-controller-manager running?"))
    used = trace.used_endpoints
    refused = [p for p in used if p.refused]
    if refused:
        proto = port.protocol
        answer = "RST" if proto == "TCP" else "ICMP port unreachable"
        message = (f"{len(refused)} of {len(used)} endpoint(s) of {tr.service.key} refuse {proto} on the "
                   f"targetPort ({answer}): {_listed(refused)}")
        declared = sorted({n for p in refused if p.target.backend
                           for n in trace.plan.declared_ports.get(p.target.backend.pod, ())})
        hint = (f"nothing listens on targetPort {port.target_port} in those pods"
                + (f"; they declare containerPorts {', '.join(map(str, declared))}" if declared else "")
                + ": fix the Service's targetPort or the application's listen port")
        out.append(Finding(Code.SVC_PORT_MISMATCH, "error", message, hint, _node_of(refused[0])))
    return out


def _reachability(trace: ServiceTrace) -> list[Finding]:
    tr, used = trace.plan.translation, trace.used_endpoints
    proxy = trace.plan.proxy
    silent = [p for p in used if p.silent]
    answering = [p for p in used if p.answered or p.refused]
    front_bad = [p for p in trace.frontends if p.silent or (p.refused and answering and all(
        e.answered for e in answering))]
    out: list[Finding] = []
    if silent:
        nodes = sorted({_node_of(p) for p in silent if _node_of(p)})
        message = (f"{len(silent)} of {len(used)} endpoint(s) of {tr.service.key} do not answer "
                   f"{tr.port.protocol} {silent[0].target.port}: {_listed(silent)}")
        if answering:
            message += f"; {len(answering)} answer"
        if front_bad:
            message += "; the ClusterIP failed too (a connection lands on any endpoint)"
        hint = (f"the path to each silent endpoint (on {', '.join(nodes) or '?'}): kdiag trace SRC "
                "NAMESPACE/POD for it; the pod itself, its node's forwarding, a NetworkPolicy")
        out.append(Finding(Code.ENDPOINT_UNREACHABLE, "error", message, hint, _node_of(silent[0])))
    elif front_bad and answering and all(p.answered for p in answering):
        f = front_bad[0]
        node = tr.source_node
        message = (f"ClusterIP {f.where()}: {f.seen.words() if f.seen else '?'}, while all {len(answering)} "
                   f"endpoint(s) answer directly: {proxy.summary} does not translate it on {node or '?'}")
        out.append(Finding(Code.SVC_NOT_TRANSLATED, "error", message,
                           _translation_hint(trace, f.target.address, f.target.port), node))
    return out


def _translation_hint(trace: ServiceTrace, ip: str, port: int) -> str:
    proxy, node = trace.plan.proxy, trace.plan.translation.source_node or "the source node"
    rules = {"iptables": f"iptables -t nat -S KUBE-SERVICES | grep {ip}",
             "nftables": f"nft list map ip kube-proxy service-ips | grep {ip}",
             "ipvs": f"ipvsadm -Ln -t {ip}:{port}",
             "ebpf": f"cilium-dbg service list | grep {ip}"}.get(proxy.mode, "")
    running = (f"is kube-proxy running on {node}? (kubectl get pods -A -o wide --field-selector "
               f"spec.nodeName={node} | grep kube-proxy)" if proxy.implementation == "kube-proxy"
               else f"the {proxy.implementation} agent on {node}")
    return f"{running}; its rules for {ip}:{port} on {node}" + (f": {rules}" if rules else "")


def _as_expected(trace: ServiceTrace) -> list[Finding]:
    tr, used = trace.plan.translation, trace.used_endpoints
    fronts = trace.frontends
    if not used or not all(p.answered for p in used) or not all(p.answered for p in fronts):
        return []
    chain = (f"ClusterIP {', '.join(p.where() for p in fronts)} answered, translated by "
             f"{trace.plan.proxy.summary} on {tr.source_node or '?'}" if fronts
             else "headless: no ClusterIP, the endpoints are reached directly")
    total = len(tr.used)
    counted = f"{len(used)}/{len(used)} endpoint(s) answer on the targetPort" + (
        f" ({total} in all, at most {trace.plan.max_endpoints} probed: --max-endpoints)" if total > len(used)
        else "")
    return [Finding(Code.SVC_AS_EXPECTED, "info",
                    f"{tr.service.key} port {tr.port.label()}: {chain}; {counted}")]


def _run(facts: Facts) -> list[Finding]:
    trace = facts.service
    if trace is None:
        return []
    found = _no_endpoints(trace) + _ports(trace) + _reachability(trace)
    return found or _as_expected(trace)


CHECK = Check("service", {Code.SVC_NO_ENDPOINTS: ("error",), Code.SVC_PORT_MISMATCH: ("error", "warning"),
                          Code.SVC_NOT_TRANSLATED: ("error",), Code.ENDPOINT_UNREACHABLE: ("error",),
                          Code.SVC_AS_EXPECTED: ("info",)},
              lambda facts: facts.service is not None, _run)
