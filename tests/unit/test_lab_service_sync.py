"""What `lab up` waits for before it says the lab is up: each ClusterIP Service translated to the
endpoints the EndpointSlice controller lists, on every node (kdiag_lab.service_sync, pure part)."""

from __future__ import annotations

from typing import Any

from kdiag_lab.service_sync import Translation, expected, translates

NFT = """
    map service-ips {
        elements = { 10.96.0.10 . udp . 53 : goto service-ERFTJQKX-kube-system/kube-dns/udp/dns,
                     10.96.0.1 . tcp . 443 : goto service-2QRHZV4L-default/kubernetes/tcp/https }
    }
    chain endpoint-5TPGNJIY-default/web/tcp/http__10.244.1.2/8081 {
        meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.244.1.2 . 8081, 1 : 10.244.2.5 . 8081 }
    }
"""
IPTABLES = """
-A KUBE-SERVICES -d 10.96.172.4/32 -p tcp -m comment --comment "t1/web:http cluster IP" -j KUBE-SVC-X
-A KUBE-SEP-A -p tcp -m comment --comment "t1/web:http" -m tcp -j DNAT --to-destination 10.244.1.2:8081
"""


def test_nftables_and_iptables_forms_of_a_translation() -> None:
    assert translates(NFT, "10.96.0.10", [])
    assert translates(NFT, "10.96.0.1", [("10.244.1.2", 8081), ("10.244.2.5", 8081)])
    assert translates(IPTABLES, "10.96.172.4", [("10.244.1.2", 8081)])


def test_an_address_inside_a_longer_one_is_not_a_translation() -> None:
    assert not translates(NFT, "10.96.0.1", [("10.244.1.2", 808)])  # 8081 is not 808
    assert not translates(NFT.replace("10.96.0.1 ", "10.96.0.19 "), "10.96.0.1", [])
    assert not translates(IPTABLES, "10.96.172.4", [("10.244.1.2", 8080)])
    assert not translates(IPTABLES, "10.96.17.4", [])


def _service(name: str, cluster_ip: str, selector: dict[str, str] | None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "t", "name": name},
            "spec": {"clusterIP": cluster_ip, **({"selector": selector} if selector else {}), **spec}}


def _slice(service: str, port: int, *endpoints: tuple[str, str, bool]) -> dict[str, Any]:
    return {"metadata": {"namespace": "t", "labels": {"kubernetes.io/service-name": service}},
            "ports": [{"port": port}],
            "endpoints": [{"addresses": [ip], "nodeName": node, "conditions": {"ready": ready}}
                          for ip, node, ready in endpoints]}


def _pod(ip: str, labels: dict[str, str], ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"namespace": "t", "labels": labels},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_expected_waits_for_the_endpointslice_controller_to_list_the_ready_pods() -> None:
    services = [_service("web", "10.96.0.5", {"app": "web"})]
    pods = [_pod("10.244.1.2", {"app": "web"}), _pod("10.244.2.5", {"app": "web", "x": "y"}),
            _pod("10.244.2.6", {"app": "web"}, ready=False), _pod("10.244.2.7", {"app": "db"})]
    assert expected(services, [], pods) is None
    one = _slice("web", 8080, ("10.244.1.2", "worker24", True))
    assert expected(services, [one], pods) is None
    both = _slice("web", 8080, ("10.244.1.2", "worker24", True), ("10.244.2.5", "worker25", True),
                  ("10.244.2.6", "worker25", False))
    [t] = expected(services, [both], pods) or []
    assert t == Translation("10.96.0.5", (("10.244.1.2", 8080, "worker24"), ("10.244.2.5", 8080, "worker25")),
                            node_local=False)
    assert t.on("worker24") == [("10.244.1.2", 8080), ("10.244.2.5", 8080)]
    # A pod being deleted is still Running and Ready, but the controller lists it as not ready.
    leaving = _pod("10.244.2.8", {"app": "web"})
    leaving["metadata"]["deletionTimestamp"] = "2026-12-02T15:00:00Z"
    assert expected(services, [both], [*pods, leaving]) == [t]


def test_headless_external_name_selectorless_and_node_local_services() -> None:
    services = [_service("hl", "None", {"app": "web"}), _service("ext", "", None, type="ExternalName"),
                _service("manual", "10.96.0.6", None),
                _service("local", "10.96.0.7", {"app": "web"}, internalTrafficPolicy="Local")]
    slices = [_slice("manual", 80, ("10.244.2.3", "worker25", True)),
              _slice("local", 8080, ("10.244.1.2", "worker24", True))]
    manual, local = expected(services, slices, [_pod("10.244.1.2", {"app": "web"})]) or []
    assert manual.cluster_ip == "10.96.0.6" and manual.on("worker24") == [("10.244.2.3", 80)]
    assert local.on("worker24") == [("10.244.1.2", 8080)] and local.on("worker25") == []
