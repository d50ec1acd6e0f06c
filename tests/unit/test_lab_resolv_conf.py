"""resolv.conf as the kubelet writes it for each dnsPolicy (kdiag_lab.kubelet_sandbox, pure)."""

from __future__ import annotations

from typing import Any

from kdiag_lab.kubelet_sandbox import resolv_conf

NODE = "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"


def pod(namespace: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": "p"}, "spec": spec}


def test_cluster_first_is_the_cluster_dns_with_the_namespace_search_path() -> None:
    assert resolv_conf(pod(), NODE) == (
        "nameserver 10.96.0.10\n"
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "options ndots:5\n"
    )


def test_host_network_gets_the_node_file_unless_it_opts_in() -> None:
    assert resolv_conf(pod(hostNetwork=True), NODE) is None
    assert resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), NODE) == resolv_conf(
        pod(), NODE
    )


def test_default_is_the_node_file_and_none_is_only_dns_config() -> None:
    assert resolv_conf(pod(dnsPolicy="Default"), NODE) is None
    config = {"nameservers": ["10.0.0.9"], "searches": ["a.example"],
              "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}
    assert resolv_conf(pod(dnsPolicy="None", dnsConfig=config), NODE) == (
        "nameserver 10.0.0.9\nsearch a.example\noptions ndots:2 rotate\n"
    )
    merged = resolv_conf(pod(dnsPolicy="Default", dnsConfig={"searches": ["b.example"]}), NODE)
    assert merged == "nameserver 192.0.2.53\nsearch corp.example b.example\noptions edns0\n"


def test_dns_config_options_override_cluster_first_ones() -> None:
    text = resolv_conf(pod(dnsConfig={"options": [{"name": "ndots", "value": "1"}]}), NODE)
    assert text is not None and text.endswith("options ndots:1\n")
