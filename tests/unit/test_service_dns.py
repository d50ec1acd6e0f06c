"""A pod's resolver and what the cluster DNS should answer.

Cases from the Kubernetes docs "DNS for Services and Pods" (the resolv.conf example with
`search <namespace>.svc.cluster.local svc.cluster.local cluster.local` and `options ndots:5`,
dnsPolicy values, dnsConfig merging, A records of normal and headless Services, ExternalName
CNAMEs, pod A records), "Debugging DNS Resolution", and resolv.conf(5) for ndots and search.
"""

from __future__ import annotations

from kdiag.model.service_dns import (
    NODE_LOCAL_DNS,
    DnsConfig,
    DnsRecords,
    ResolvConf,
    cluster_dns_address,
    expected_resolution,
    parse_resolv_conf,
    pod_resolv_conf,
    predict_answer,
    query_names,
    render_resolv_conf,
)
from kdiag.model.service_objects import ServiceInfo, ServicePort

KUBELET_RESOLV = """\
search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.32.0.10
options ndots:5
"""
POD = ResolvConf(("10.32.0.10",), ("default.svc.cluster.local", "svc.cluster.local", "cluster.local"), 5,
                 ("ndots:5",))
WEB = ServiceInfo("default", "web", cluster_ips=("10.96.0.20",), ports=(ServicePort(80),))
HEADLESS = ServiceInfo("default", "db", headless=True, ports=(ServicePort(5432),))
EXTERNAL = ServiceInfo("prod", "my-service", type="ExternalName", external_name="my.database.example.com")
RECORDS = DnsRecords(services={"default/web": WEB, "default/db": HEADLESS, "prod/my-service": EXTERNAL},
                     endpoints={"default/db": ("10.244.1.7", "10.244.2.7")},
                     namespaces=frozenset({"default", "prod", "kube-system"}))


def test_parse_the_kubelets_resolv_conf() -> None:
    assert parse_resolv_conf(KUBELET_RESOLV) == POD


def test_parse_keeps_three_nameservers_last_search_and_caps_ndots() -> None:
    text = ("# comment\nnameserver 1.1.1.1\nnameserver 2.2.2.2 ; trailing\nnameserver 3.3.3.3\n"
            "nameserver 4.4.4.4\ndomain a.example\nsearch b.example c.example\noptions ndots:20 timeout:1\n")
    conf = parse_resolv_conf(text)
    assert conf.nameservers == ("1.1.1.1", "2.2.2.2", "3.3.3.3")
    assert conf.search == ("b.example", "c.example") and conf.ndots == 15
    assert parse_resolv_conf("search x.example\ndomain y.example\n").search == ("y.example",)
    assert parse_resolv_conf("options ndots:bad\n").ndots == 1
    assert parse_resolv_conf(render_resolv_conf(POD)) == POD


def test_short_name_goes_through_the_search_path_first() -> None:
    """ndots:5: "web" has fewer dots, so each search domain is tried, then the name as is."""
    assert query_names("web", POD) == ("web.default.svc.cluster.local.", "web.svc.cluster.local.",
                                       "web.cluster.local.", "web.")


def test_name_with_enough_dots_is_tried_as_is_first() -> None:
    conf = ResolvConf(POD.nameservers, POD.search, 2)
    assert query_names("web.default.svc", conf)[0] == "web.default.svc."
    assert query_names("web.default", conf)[0] == "web.default.default.svc.cluster.local."


def test_trailing_dot_is_absolute() -> None:
    assert query_names("web.default.svc.cluster.local.", POD) == ("web.default.svc.cluster.local.",)


def test_every_short_form_resolves_to_the_cluster_ip() -> None:
    """docs: web, web.default, web.default.svc and the FQDN all reach the Service from `default`."""
    for name in ("web", "web.default", "web.default.svc", "web.default.svc.cluster.local",
                 "web.default.svc.cluster.local."):
        resolution = expected_resolution(name, POD, RECORDS)
        assert resolution.answer is not None, name
        assert resolution.answer.addresses == ("10.96.0.20",) and resolution.answer.service == "default/web"
        assert resolution.nameserver == "10.32.0.10"


def test_search_path_tries_are_listed_until_the_answer() -> None:
    resolution = expected_resolution("web.default", POD, RECORDS)
    assert [(t.qname, t.rcode) for t in resolution.tries] == [
        ("web.default.default.svc.cluster.local.", "NXDOMAIN"), ("web.default.svc.cluster.local.", "NOERROR")]


def test_headless_answers_the_endpoint_addresses() -> None:
    answer = predict_answer("db.default.svc.cluster.local.", RECORDS)
    assert (answer.rcode, answer.addresses) == ("NOERROR", ("10.244.1.7", "10.244.2.7"))
    empty = predict_answer("db.default.svc.cluster.local.", DnsRecords(services={"default/db": HEADLESS}))
    assert empty.rcode == "NXDOMAIN" and "without ready endpoints" in empty.reason


def test_external_name_is_a_cname() -> None:
    """docs: my-service.prod.svc.cluster.local -> CNAME my.database.example.com."""
    answer = predict_answer("my-service.prod.svc.cluster.local.", RECORDS)
    assert (answer.rcode, answer.cname, answer.addresses) == ("NOERROR", "my.database.example.com.", ())
    resolution = expected_resolution("my-service.prod", POD, RECORDS)
    assert resolution.answer is not None and resolution.answer.cname == "my.database.example.com."


def test_unknown_service_namespace_and_shape_are_nxdomain() -> None:
    assert predict_answer("nope.default.svc.cluster.local.", RECORDS).reason == "no service default/nope"
    assert "does not exist" in predict_answer("web.nons.svc.cluster.local.", RECORDS).reason
    assert predict_answer("a.b.c.d.svc.cluster.local.", RECORDS).rcode == "NXDOMAIN"
    assert predict_answer("cluster.local.", RECORDS).rcode == "NXDOMAIN"
    host = predict_answer("web-0.web.default.svc.cluster.local.", RECORDS)
    assert host.rcode == "NXDOMAIN" and "headless" in host.reason
    resolution = expected_resolution("nope", POD, RECORDS)
    assert resolution.answer is None and resolution.tries[-1].qname == "nope."


def test_names_outside_the_cluster_domain_are_not_predicted() -> None:
    answer = predict_answer("example.com.", RECORDS)
    assert answer.rcode == "" and "upstream" in answer.reason
    resolution = expected_resolution("example.com", POD, RECORDS)
    assert resolution.answer is None and not resolution.predictable
    assert resolution.tries[-1].qname == "example.com."


def test_pod_a_records() -> None:
    """docs: 172-17-0-3.default.pod.cluster.local -> 172.17.0.3."""
    assert predict_answer("172-17-0-3.default.pod.cluster.local.", RECORDS).addresses == ("172.17.0.3",)
    assert predict_answer("x-y.default.pod.cluster.local.", RECORDS).rcode == "NXDOMAIN"
    assert predict_answer("1-2-3-4.nons.pod.cluster.local.", RECORDS).rcode == "NXDOMAIN"


def test_custom_cluster_domain() -> None:
    records = DnsRecords(services={"default/web": WEB}, cluster_domain="corp.internal")
    assert predict_answer("web.default.svc.corp.internal.", records).addresses == ("10.96.0.20",)
    assert predict_answer("web.default.svc.cluster.local.", records).rcode == ""


def test_cluster_first_resolv_conf_as_the_kubelet_writes_it() -> None:
    node = ResolvConf(("192.168.0.1",), ("corp.example",), 1)
    dns = pod_resolv_conf("default", cluster_dns=("10.32.0.10",), node=node)
    assert dns.policy == "ClusterFirst"
    assert dns.conf == ResolvConf(("10.32.0.10",), ("default.svc.cluster.local", "svc.cluster.local",
                                                    "cluster.local", "corp.example"), 5, ("ndots:5",))


def test_host_network_pod_with_cluster_first_uses_the_node() -> None:
    node = ResolvConf(("192.168.0.1",), (), 1)
    dns = pod_resolv_conf("default", host_network=True, cluster_dns=("10.32.0.10",), node=node)
    assert dns.policy == "Default" and dns.conf == node and "ClusterFirstWithHostNet" in dns.notes[0]
    with_hostnet = pod_resolv_conf("default", dns_policy="ClusterFirstWithHostNet", host_network=True,
                                   cluster_dns=("10.32.0.10",), node=node)
    assert with_hostnet.policy == "ClusterFirstWithHostNet"
    assert with_hostnet.conf.nameservers == ("10.32.0.10",)


def test_default_policy_and_an_unknown_node_file() -> None:
    dns = pod_resolv_conf("default", dns_policy="Default", cluster_dns=("10.32.0.10",))
    assert dns.conf.nameservers == () and "not known" in dns.notes[0] and "no nameserver" in dns.notes[-1]


def test_no_cluster_dns_falls_back_to_default() -> None:
    dns = pod_resolv_conf("default", node=ResolvConf(("192.168.0.1",)))
    assert dns.policy == "Default" and dns.conf.nameservers == ("192.168.0.1",)


def test_dns_policy_none_with_dns_config() -> None:
    """docs example: dnsPolicy None, nameservers 192.0.2.1, searches ns1.svc.cluster-domain.example
    and my.dns.search.suffix, options ndots:2 and edns0."""
    config = DnsConfig(("192.0.2.1",), ("ns1.svc.cluster-domain.example", "my.dns.search.suffix"),
                       (("ndots", "2"), ("edns0", None)))
    dns = pod_resolv_conf("default", dns_policy="None", cluster_dns=("10.32.0.10",), dns_config=config)
    assert dns.conf == ResolvConf(("192.0.2.1",), ("ns1.svc.cluster-domain.example", "my.dns.search.suffix"),
                                  2, ("ndots:2", "edns0"))


def test_dns_config_is_merged_into_cluster_first() -> None:
    config = DnsConfig(("1.1.1.1", "10.32.0.10", "2.2.2.2", "3.3.3.3"), ("svc.cluster.local", "extra"),
                       (("ndots", "1"),))
    dns = pod_resolv_conf("default", cluster_dns=("10.32.0.10",), dns_config=config)
    assert dns.conf.nameservers == ("10.32.0.10", "1.1.1.1", "2.2.2.2")
    assert dns.conf.search[-1] == "extra" and dns.conf.search.count("svc.cluster.local") == 1
    assert dns.conf.ndots == 1 and dns.conf.options == ("ndots:1",)


def test_cluster_dns_address_kube_dns_or_node_local_cache() -> None:
    kube_dns = ServiceInfo("kube-system", "kube-dns", cluster_ips=("10.96.0.10",))
    assert cluster_dns_address(kube_dns, node_local_dns=False)[0] == "10.96.0.10"
    assert cluster_dns_address(kube_dns, node_local_dns=True)[0] == NODE_LOCAL_DNS == "169.254.20.10"
    assert cluster_dns_address(None, node_local_dns=False)[0] == ""


def test_agent_dns_spec_walks_the_same_names() -> None:
    from kdiag.model.service_dns import agent_dns_spec

    resolution = expected_resolution("web", POD, RECORDS)
    assert agent_dns_spec(resolution, POD) == {"server": "10.32.0.10", "names": list(query_names("web", POD))}
    assert agent_dns_spec(resolution, ResolvConf()) is None


def test_answer_difference() -> None:
    from kdiag.model.service_dns import answer_difference

    web = expected_resolution("web", POD, RECORDS)
    fqdn = "web.default.svc.cluster.local."
    assert answer_difference(web, name=fqdn, addresses=["10.96.0.20"]) == ""
    assert "expected 10.96.0.20 (the ClusterIP), got 10.96.0.99" in answer_difference(
        web, name=fqdn, addresses=["10.96.0.99"])
    assert "search path" in answer_difference(web, name="web.", addresses=["10.96.0.20"])
    db = expected_resolution("db", POD, RECORDS)
    headless = ["10.244.2.7", "10.244.1.7"]
    assert answer_difference(db, name="db.default.svc.cluster.local.", addresses=headless) == ""
    ext = expected_resolution("my-service.prod", POD, RECORDS)
    assert "expected CNAME" in answer_difference(ext, name="my-service.prod.svc.cluster.local.", addresses=[])
    nope = expected_resolution("nope", POD, RECORDS)
    assert answer_difference(nope, name="nope.", addresses=["1.2.3.4"]) == ""  # upstream's business
    assert "predicts NXDOMAIN for nope.default.svc.cluster.local." in answer_difference(
        nope, name="nope.default.svc.cluster.local.", addresses=["1.2.3.4"])
    outside = expected_resolution("example.com", POD, RECORDS)
    assert answer_difference(outside, name="example.com.", addresses=["93.184.215.14"]) == ""
