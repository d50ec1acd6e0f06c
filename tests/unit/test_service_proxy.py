"""Who translates ClusterIP traffic: kube-proxy and its mode, or a CNI's own Service datapath.

Sources: kube-proxy's platformApplyDefaults (empty mode = iptables on Linux), the Cilium docs
"Kubernetes Without kube-proxy" (kube-proxy-replacement true / strict / partial / false), the
Antrea docs "AntreaProxy" (antreaProxy.enable, proxyAll), OVN-Kubernetes (OVN load balancers).
"""

from __future__ import annotations

import pytest

from kdiag.model.service_proxy import ProxyFacts, kube_proxy_mode, service_proxy


def with_kube_proxy(**facts: object) -> ProxyFacts:
    """Facts of a cluster running the kube-proxy DaemonSet and ConfigMap, plus `facts`."""
    return ProxyFacts(kube_proxy_daemonset="daemonset kube-system/kube-proxy",  # type: ignore[arg-type]
                      kube_proxy_configmap="configmap kube-system/kube-proxy", **facts)


@pytest.mark.parametrize(("configured", "flag", "mode"), [
    ("", "", "iptables"), (None, "", "iptables"), ("nftables", "", "nftables"), ("IPVS", "", "ipvs"),
    ("iptables", "nftables", "nftables"),
])
def test_kube_proxy_mode(configured: str | None, flag: str, mode: str) -> None:
    assert kube_proxy_mode(configured, flag) == mode


def test_kube_proxy_with_an_empty_mode_is_iptables() -> None:
    proxy = service_proxy(with_kube_proxy(kube_proxy_mode=""))
    assert (proxy.implementation, proxy.mode) == ("kube-proxy", "iptables")
    assert proxy.where == "on the source node, before routing"
    assert any('mode="" (default: iptables)' in e for e in proxy.evidence)
    assert proxy.summary == "kube-proxy (iptables)"


def test_kube_proxy_nftables_from_the_configmap() -> None:
    proxy = service_proxy(with_kube_proxy(kube_proxy_mode="nftables"))
    assert proxy.mode == "nftables" and proxy.notes == ()


def test_configmap_without_daemonset_is_kube_proxy_with_a_caveat() -> None:
    proxy = service_proxy(ProxyFacts(kube_proxy_mode="ipvs"))
    assert proxy.summary == "kube-proxy (ipvs)" and "static pod" in proxy.notes[0]


def test_unknown_mode_is_noted() -> None:
    proxy = service_proxy(with_kube_proxy(kube_proxy_mode="kernelspace"))
    assert "not one kdiag models" in proxy.notes[0]


@pytest.mark.parametrize("kpr", ["true", "strict"])
def test_cilium_kube_proxy_replacement(kpr: str) -> None:
    proxy = service_proxy(ProxyFacts(cilium_kpr=kpr, cilium_daemonset="daemonset kube-system/cilium"))
    assert proxy.summary == "cilium (ebpf)" and proxy.notes == ()
    both = service_proxy(with_kube_proxy(cilium_kpr=kpr, kube_proxy_mode=""))
    assert both.implementation == "cilium" and "kube-proxy is present too" in both.notes[0]


def test_cilium_without_replacement_leaves_it_to_kube_proxy() -> None:
    proxy = service_proxy(with_kube_proxy(cilium_kpr="false", cilium_socket_lb="true", kube_proxy_mode=""))
    assert proxy.implementation == "kube-proxy" and "bpf-lb-sock" in proxy.notes[0]
    partial = service_proxy(with_kube_proxy(cilium_kpr="partial", kube_proxy_mode=""))
    assert partial.implementation == "kube-proxy" and "some" in partial.notes[0]


def test_cilium_without_replacement_and_without_kube_proxy_warns() -> None:
    proxy = service_proxy(ProxyFacts(cilium_kpr=""))
    assert proxy.implementation == "cilium" and "may not be translated" in proxy.notes[0]


def test_antrea_proxy_is_on_by_default_and_kube_proxy_keeps_node_traffic() -> None:
    proxy = service_proxy(with_kube_proxy(antrea_daemonset="daemonset kube-system/antrea-agent",
                                     kube_proxy_mode=""))
    assert proxy.summary == "antrea (openflow)" and "proxyAll is false" in proxy.notes[0]
    alone = service_proxy(ProxyFacts(antrea_daemonset="daemonset kube-system/antrea-agent",
                                     antrea_proxy_all=True))
    assert alone.implementation == "antrea" and alone.notes == ()
    no_kp = service_proxy(ProxyFacts(antrea_daemonset="daemonset kube-system/antrea-agent"))
    assert "hostNetwork pods" in no_kp.notes[0]


def test_antrea_proxy_disabled_falls_to_kube_proxy() -> None:
    proxy = service_proxy(with_kube_proxy(antrea_daemonset="daemonset kube-system/antrea-agent",
                                     antrea_proxy_enabled=False, kube_proxy_mode="nftables"))
    assert proxy.summary == "kube-proxy (nftables)"


def test_ovn_kubernetes_load_balancers() -> None:
    proxy = service_proxy(ProxyFacts(ovn_daemonset="daemonset ovn-kubernetes/ovnkube-node"))
    assert proxy.summary == "ovn-kubernetes (ovn-load-balancer)"


def test_nothing_found_is_unknown_and_unreadable_is_said() -> None:
    proxy = service_proxy(ProxyFacts(unreadable=("configmap kube-system/kube-proxy (forbidden)",)))
    assert proxy.implementation == "unknown" and proxy.notes[0].startswith("not read: configmap")
