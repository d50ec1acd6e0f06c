"""Service translation: which endpoints kube-proxy on the source node would use, and on which port.

Cases from the Kubernetes docs: "Service" (targetPort by name, multi-port Services, Services
without selectors, sessionAffinity), "EndpointSlices" (conditions ready / serving / terminating,
ports per slice) and "Service Internal Traffic Policy"; the fallback rules from kube-proxy's
pkg/proxy/topology.go (CategorizeEndpoints) and endpointslicecache.go (nil conditions).
"""

from __future__ import annotations

import pytest

from kdiag.errors import UsageError
from kdiag.model.objects import ContainerPort, PodCondition, PodInfo
from kdiag.model.service import find_port, pod_target_port, selected_pods, translate
from kdiag.model.service_objects import (
    EndpointPort,
    EndpointSliceInfo,
    ServiceInfo,
    ServicePort,
    SliceEndpoint,
)

READY = (PodCondition("Ready", "True"),)
HTTP = ServicePort(80, name="http", target_port="http-web-svc")


def pod(name: str, ip: str, node: str, *, ports: tuple[ContainerPort, ...] = (ContainerPort("nginx", 80,
        name="http-web-svc"),), ready: bool = True, labels: dict[str, str] | None = None) -> PodInfo:
    return PodInfo("default", name, node_name=node, phase="Running", pod_ip=ip, pod_ips=(ip,),
                   conditions=READY if ready else (), ports=ports,
                   labels={"app.kubernetes.io/name": "proxy"} if labels is None else labels)


def service(**kw: object) -> ServiceInfo:
    base: dict[str, object] = dict(namespace="default", name="nginx-service", cluster_ips=("10.96.0.10",),
                                   ports=(HTTP,), selector={"app.kubernetes.io/name": "proxy"})
    base.update(kw)
    return ServiceInfo(**base)  # type: ignore[arg-type]


def endpoint(ip: str, node: str, pod_name: str = "", *, ready: bool | None = True,
             serving: bool | None = True, terminating: bool | None = False) -> SliceEndpoint:
    return SliceEndpoint((ip,), ready=ready, serving=serving, terminating=terminating, node_name=node,
                         target_kind="Pod" if pod_name else "", target_namespace="default",
                         target_name=pod_name)


def slice_(*endpoints: SliceEndpoint, port: int | None = 80, name: str = "http",
           protocol: str = "TCP") -> EndpointSliceInfo:
    return EndpointSliceInfo("default", "nginx-service-abc", service_name="nginx-service",
                             ports=(EndpointPort(name, port, protocol),), endpoints=endpoints)


def test_named_target_port_resolves_through_the_slice_and_is_checked_against_the_pod() -> None:
    """docs: Service "targetPort: http-web-svc" naming the pod's containerPort."""
    pods = [pod("a", "10.244.1.5", "n1"), pod("b", "10.244.2.5", "n2")]
    t = translate(service(), port=HTTP, pods=pods, source_node="n1",
                  slices=[slice_(endpoint("10.244.1.5", "n1", "a"), endpoint("10.244.2.5", "n2", "b"))])
    assert [(b.label, b.used, b.port_from, b.local) for b in t.backends] == [
        ("10.244.1.5:80", True, "endpointslice", True), ("10.244.2.5:80", True, "endpointslice", False)]
    assert t.issues == () and t.frontends == ("10.96.0.10",)


def test_pods_with_different_numbers_for_one_port_name_come_in_separate_slices() -> None:
    """docs EndpointSlices: the controller groups endpoints by their resolved port set."""
    pods = [pod("a", "10.244.1.5", "n1"),
            pod("b", "10.244.2.5", "n2", ports=(ContainerPort("c", 8080, name="http-web-svc"),))]
    slices = [slice_(endpoint("10.244.1.5", "n1", "a")),
              slice_(endpoint("10.244.2.5", "n2", "b"), port=8080)]
    t = translate(service(), port=HTTP, pods=pods, slices=slices, source_node="n1")
    assert sorted(b.label for b in t.used) == ["10.244.1.5:80", "10.244.2.5:8080"]
    assert all(b.expected_port == b.port for b in t.backends)


def test_slice_port_that_differs_from_the_pod_is_reported() -> None:
    pods = [pod("a", "10.244.1.5", "n1")]
    stale = slice_(endpoint("10.244.1.5", "n1", "a"), port=81)
    t = translate(service(), port=HTTP, pods=pods, slices=[stale], source_node="n1")
    issue = t.issue("slice-port-differs")
    assert issue is not None and issue.pods == ("default/a",)


def test_undeclared_named_target_port_is_a_port_issue_and_not_in_the_slice() -> None:
    """FindPort fails for the pod, so the controller publishes the endpoint without that port."""
    pods = [pod("a", "10.244.1.5", "n1", ports=(ContainerPort("c", 80, name="web"),))]
    empty = EndpointSliceInfo("default", "s", service_name="nginx-service", ports=(),
                              endpoints=(endpoint("10.244.1.5", "n1", "a"),))
    t = translate(service(), port=HTTP, pods=pods, slices=[empty], source_node="n1")
    assert t.used == ()
    kinds = {i.kind for i in t.issues}
    assert {"target-port-undeclared", "port-not-in-slice"} <= kinds
    assert t.backends[0].port is None and "not among" in t.backends[0].reason


def test_target_port_protocol_must_match() -> None:
    udp = ServicePort(53, name="dns", protocol="UDP", target_port="dns")
    p = pod("a", "1.1.1.1", "n1", ports=(ContainerPort("c", 53, "TCP", "dns"),))
    assert pod_target_port(udp, p) is None
    assert pod_target_port(ServicePort(53, name="dns", protocol="TCP", target_port="dns"), p) == 53


def test_numeric_target_port_and_default_target_port() -> None:
    p = pod("a", "1.1.1.1", "n1")
    assert pod_target_port(ServicePort(80, target_port=9376), p) == 9376
    assert pod_target_port(ServicePort(80), p) == 80  # targetPort defaults to port


def test_slice_port_matched_by_name_and_protocol_not_number() -> None:
    """A multi-port Service: each slice port belongs to the Service port of the same name."""
    https = ServicePort(443, name="https", target_port=9377)
    s = service(ports=(HTTP, https))
    sl = EndpointSliceInfo("default", "s", service_name="nginx-service",
                           ports=(EndpointPort("http", 9376), EndpointPort("https", 9377)),
                           endpoints=(endpoint("10.244.1.5", "n1", "a"),))
    pods = [pod("a", "10.244.1.5", "n1")]
    assert translate(s, port=https, pods=pods, slices=[sl], source_node="n1").used[0].port == 9377
    assert translate(s, port=HTTP, pods=pods, slices=[sl], source_node="n1").used[0].port == 9376
    udp_slice = slice_(endpoint("10.244.1.5", "n1", "a"), protocol="UDP")
    assert translate(s, port=HTTP, pods=pods, slices=[udp_slice], source_node="n1").used == ()


def test_nil_conditions_mean_ready_serving_not_terminating() -> None:
    """endpointslicecache.go: Ready nil -> true, Serving nil -> true, Terminating nil -> false."""
    ep = endpoint("10.244.1.5", "n1", ready=None, serving=None, terminating=None)
    assert (ep.is_ready, ep.is_serving, ep.is_terminating) == (True, True, False)
    t = translate(service(selector={}), port=HTTP, pods=[], slices=[slice_(ep)], source_node="n1")
    assert [b.label for b in t.used] == ["10.244.1.5:80"]


def test_not_ready_endpoints_are_not_used_while_a_ready_one_exists() -> None:
    pods = [pod("a", "10.244.1.5", "n1"), pod("b", "10.244.2.5", "n2", ready=False)]
    t = translate(service(), port=HTTP, pods=pods, source_node="n1", slices=[slice_(
        endpoint("10.244.1.5", "n1", "a"), endpoint("10.244.2.5", "n2", "b", ready=False, serving=False))])
    assert [b.pod for b in t.used] == ["default/a"]
    assert next(b for b in t.backends if not b.used).reason == "not ready"
    assert not t.terminating_fallback


def test_serving_terminating_fallback_only_when_nothing_is_ready() -> None:
    """KEP-1669 / CategorizeEndpoints: no ready endpoint anywhere -> serving && terminating ones."""
    eps = (endpoint("10.244.1.5", "n1", "a", ready=False, serving=True, terminating=True),
           endpoint("10.244.2.5", "n2", "b", ready=False, serving=False, terminating=True))
    t = translate(service(), port=HTTP, pods=[], source_node="n1", slices=[slice_(*eps)])
    assert [b.address for b in t.used] == ["10.244.1.5"]
    assert t.terminating_fallback and "falls back" in t.notes[0]
    assert "terminating" in t.used[0].reason
    assert next(b for b in t.backends if not b.used).reason == "terminating and not serving"
    with_ready = translate(service(), port=HTTP, pods=[], source_node="n1",
                           slices=[slice_(*eps, endpoint("10.244.3.5", "n3", "c"))])
    assert [b.address for b in with_ready.used] == ["10.244.3.5"] and not with_ready.terminating_fallback


def test_no_ready_endpoints_is_named_with_the_pods() -> None:
    eps = (endpoint("10.244.1.5", "n1", "a", ready=False, serving=False),)
    t = translate(service(), port=HTTP, pods=[pod("a", "10.244.1.5", "n1", ready=False)], source_node="n1",
                  slices=[slice_(*eps)])
    issue = t.issue("no-ready-endpoints")
    assert t.used == () and issue is not None and issue.pods == ("default/a",)


def test_internal_traffic_policy_local_uses_only_the_source_node() -> None:
    """docs "Service Internal Traffic Policy": Local -> node-local endpoints only, else dropped."""
    eps = (endpoint("10.244.1.5", "n1", "a"), endpoint("10.244.2.5", "n2", "b"))
    s = service(internal_traffic_policy="Local")
    t = translate(s, port=HTTP, pods=[], source_node="n2", slices=[slice_(*eps)])
    assert [b.address for b in t.used] == ["10.244.2.5"] and t.policy == "Local"
    assert "not the source node" in next(b for b in t.backends if not b.used).reason
    dropped = translate(s, port=HTTP, pods=[], source_node="n3", slices=[slice_(*eps)])
    assert dropped.used == () and dropped.issue("no-local-endpoints") is not None


def test_local_policy_falls_back_to_local_terminating_not_to_remote_ready() -> None:
    eps = (endpoint("10.244.1.5", "n1", "a"),
           endpoint("10.244.2.5", "n2", "b", ready=False, serving=True, terminating=True))
    t = translate(service(internal_traffic_policy="Local"), port=HTTP, pods=[], source_node="n2",
                  slices=[slice_(*eps)])
    assert [b.address for b in t.used] == ["10.244.2.5"] and t.terminating_fallback


def test_selector_matching_nothing() -> None:
    t = translate(service(selector={"app": "nope"}), port=HTTP, pods=[pod("a", "1.1.1.1", "n1")],
                  slices=[], source_node="n1")
    issue = t.issue("selector-matches-nothing")
    assert t.backends == () and issue is not None and "app=nope" in issue.message


def test_service_without_selector_uses_hand_made_slices() -> None:
    """docs "Services without selectors": endpoints from an EndpointSlice managed by hand."""
    ep = SliceEndpoint(("10.4.5.6",))
    manual = EndpointSliceInfo("default", "my-service-1", service_name="my-service",
                               ports=(EndpointPort("http", 9376),), endpoints=(ep,),
                               managed_by="staff")
    s = service(name="my-service", selector={})
    t = translate(s, port=HTTP, pods=[], slices=[manual], source_node="n1")
    assert [b.label for b in t.used] == ["10.4.5.6:9376"] and t.used[0].pod == ""
    empty = translate(s, port=HTTP, pods=[], slices=[], source_node="n1")
    assert empty.issue("no-selector-no-endpoints") is not None


def test_slices_of_another_service_are_ignored() -> None:
    other = EndpointSliceInfo("default", "x", service_name="other", ports=(EndpointPort("http", 80),),
                              endpoints=(endpoint("9.9.9.9", "n1"),))
    t = translate(service(selector={}), port=HTTP, pods=[], slices=[other], source_node="n1")
    assert t.backends == ()


def test_endpoint_without_addresses_is_ignored_and_duplicates_merge() -> None:
    sl = slice_(SliceEndpoint(()), endpoint("10.244.1.5", "n1"), endpoint("10.244.1.5", "n1"))
    t = translate(service(selector={}), port=HTTP, pods=[], slices=[sl], source_node="n1")
    assert [b.label for b in t.backends] == ["10.244.1.5:80"]


def test_selected_pods_without_slices_are_predicted_not_used() -> None:
    """No controller-manager: the pods are there, no EndpointSlice, so kube-proxy has nothing."""
    pods = [pod("a", "10.244.1.5", "n1"), pod("x", "10.244.1.6", "n1", labels={"app": "other"})]
    t = translate(service(), port=HTTP, pods=pods, slices=[], source_node="n1")
    assert [(b.label, b.used, b.from_slice, b.port_from) for b in t.backends] == [
        ("10.244.1.5:80", False, False, "pod containerPort http-web-svc")]
    issue = t.issue("no-endpointslices")
    assert issue is not None and "kube-controller-manager" in issue.message


def test_terminal_pods_are_not_selected() -> None:
    done = PodInfo("default", "job", phase="Succeeded", labels={"app.kubernetes.io/name": "proxy"})
    assert selected_pods(service(), [done, pod("a", "1.1.1.1", "n1")]) == [pod("a", "1.1.1.1", "n1")]


def test_empty_selector_selects_nothing() -> None:
    assert selected_pods(service(selector={}), [pod("a", "1.1.1.1", "n1")]) == []


def test_external_name_is_not_translated() -> None:
    """docs: type ExternalName maps to a DNS name; no proxying is set up."""
    s = service(type="ExternalName", cluster_ips=(), external_name="my.database.example.com", selector={})
    t = translate(s, port=HTTP, pods=[], slices=[], source_node="n1")
    issue = t.issue("external-name")
    assert t.backends == () and issue is not None and "my.database.example.com" in issue.message


def test_headless_has_no_frontend_and_says_so() -> None:
    s = service(cluster_ips=(), headless=True)
    t = translate(s, port=HTTP, pods=[pod("a", "10.244.1.5", "n1")], source_node="n1",
                  slices=[slice_(endpoint("10.244.1.5", "n1", "a"))])
    assert t.frontends == () and [b.address for b in t.used] == ["10.244.1.5"]
    assert any("headless" in n for n in t.notes)


def test_session_affinity_is_noted_with_its_default_timeout() -> None:
    t = translate(service(session_affinity="ClientIP"), port=HTTP, pods=[], slices=[], source_node="n1")
    assert any("ClientIP" in n and "10800s" in n for n in t.notes)
    t2 = translate(service(session_affinity="ClientIP", affinity_timeout=60), port=HTTP, pods=[], slices=[],
                   source_node="n1")
    assert any("60s" in n for n in t2.notes) and t2.affinity_timeout == 60


def test_find_port_by_number_name_or_the_only_one() -> None:
    https = ServicePort(443, name="https", target_port=9377)
    two = service(ports=(HTTP, https))
    assert find_port(service(), None) == HTTP
    assert find_port(two, 443) == https and find_port(two, "443") == https and find_port(two, "http") == HTTP
    with pytest.raises(UsageError, match=r"has 2 ports \(80/TCP \(http\), 443/TCP \(https\)\): choose one"):
        find_port(two, None)
    with pytest.raises(UsageError, match="has no port 8080"):
        find_port(two, 8080)
    with pytest.raises(UsageError, match="has no ports"):
        find_port(service(ports=()), None)


def test_find_port_same_number_two_protocols_is_ambiguous() -> None:
    dns = service(ports=(ServicePort(53, name="dns", protocol="UDP"), ServicePort(53, name="dns-tcp")))
    with pytest.raises(UsageError, match="exists for UDP/TCP"):
        find_port(dns, 53)
    assert find_port(dns, "dns-tcp").protocol == "TCP"
