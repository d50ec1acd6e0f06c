"""`kdiag trace` to Services and DNS names on the session lab: bad input (one line, exit 2, no probe
pod), a Service whose selector matches nothing, a headless Service probed at its endpoints, a wrong
targetPort, and completion of svc/ names. Each test makes its own Services in its own
namespace; EndpointSlices made by hand carry their own managed-by label so a real EndpointSlice
controller leaves them alone.

The healthy chain through kube-proxy and CoreDNS (svc/helm-wp-wordpress, short name, FQDN,
ClusterIP) and the faults that need them are in test_trace_services_proxy.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Lab
from tests.e2e.trace_helpers import HELLO_1, HELLO_2, WORDPRESS, codes, finding, probe_pods, trace

pytestmark = pytest.mark.lab
WORDPRESS_IP = "10.244.2.3"  # seed pod on worker25, listening on :80
MANAGED_BY = {"endpointslice.kubernetes.io/managed-by": "kdiag-tests"}


@pytest.fixture
def namespace(lab: Lab) -> Iterator[str]:
    """A namespace for the test's Services (no pods run there, so no ServiceAccount is awaited)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    lab.kubectl("create", "namespace", name)
    yield name
    lab.kubectl("delete", "namespace", name, "--wait=false", check=False)


def service(lab: Lab, namespace: str, name: str, **spec: Any) -> None:
    base: dict[str, Any] = {"ports": [{"name": "http", "port": 80, "targetPort": 80}]}
    lab.apply(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {**base, **spec}},
        namespace,
    )


def wordpress_slice(lab: Lab, namespace: str, service_name: str, port: int = 80) -> None:
    """An EndpointSlice listing the seed wordpress pod, as the controller would for a selector."""
    lab.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {
                "name": f"{service_name}-manual",
                "labels": {"kubernetes.io/service-name": service_name, **MANAGED_BY},
            },
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [
                {
                    "addresses": [WORDPRESS_IP],
                    "nodeName": "worker25",
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                    "targetRef": {"kind": "Pod", "namespace": "default", "name": WORDPRESS},
                }
            ],
        },
        namespace,
    )


def _usage_error(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_unknown_service_is_one_line_naming_what_is_there(lab: Lab) -> None:
    _usage_error(
        lab.kdiag("trace", HELLO_1, "svc/nosuch"),
        'service "nosuch" not found in namespace "default"',
        "kubernetes",
    )
    assert probe_pods(lab) == []


def test_a_port_the_service_does_not_have(lab: Lab, namespace: str) -> None:
    service(lab, namespace, "web", selector={"app": "web"})
    _usage_error(
        lab.kdiag("trace", HELLO_1, f"svc/{namespace}/web", "--port", "81"),
        f"service {namespace}/web has no port 81 (ports: 80/TCP (http))",
    )
    _usage_error(
        lab.kdiag("trace", HELLO_1, f"svc/{namespace}/web", "--port", "metrics"), "has no port metrics"
    )
    assert probe_pods(lab) == []


def test_external_name_is_explained_and_not_probed(lab: Lab, namespace: str) -> None:
    lab.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com"},
        },
        namespace,
    )
    _usage_error(
        lab.kdiag("trace", HELLO_1, f"svc/{namespace}/db"),
        f"service {namespace}/db is ExternalName: DNS answers a CNAME to db.example.com",
    )
    assert probe_pods(lab) == []


def test_headless_service_without_endpoints_is_refused(lab: Lab, namespace: str) -> None:
    service(lab, namespace, "hl", clusterIP="None", selector={"app": "nothing"})
    _usage_error(
        lab.kdiag("trace", HELLO_1, f"svc/{namespace}/hl"),
        f"headless service {namespace}/hl has no endpoint to probe: selector app=nothing matches no pod",
    )


def test_port_name_needs_a_service_and_ip_port_a_cluster_ip(lab: Lab) -> None:
    _usage_error(lab.kdiag("trace", HELLO_1, HELLO_2, "--port", "http"), "--port http names a Service port")
    _usage_error(lab.kdiag("trace", HELLO_1, f"{WORDPRESS_IP}:80"), f"{WORDPRESS_IP} is not a ClusterIP")


def test_selector_matching_nothing_is_no_endpoints(lab: Lab, namespace: str) -> None:
    service(lab, namespace, "web", selector={"app": "nothing"})
    result, doc = trace(lab, HELLO_1, f"svc/{namespace}/web")
    assert result.exit_code == 1, result.stderr
    assert doc["verdict"]["status"] == "problem" and codes(doc)[0] == "SVC_NO_ENDPOINTS"
    f = finding(doc, "SVC_NO_ENDPOINTS")
    assert f"selector app=nothing matches no pod in namespace {namespace}" in f["message"]
    assert doc["service"]["pathEndpoint"] is None and doc["service"]["endpoints"] == []
    assert [i["kind"] for i in doc["service"]["issues"]] == ["selector-matches-nothing"]
    assert doc["service"]["frontends"][0]["result"]["measured"] is True
    assert probe_pods(lab) == []


def test_headless_service_is_probed_at_its_endpoints(lab: Lab, namespace: str) -> None:
    service(lab, namespace, "hl", clusterIP="None")
    wordpress_slice(lab, namespace, "hl")
    result, doc = trace(lab, HELLO_1, f"svc/{namespace}/hl")
    assert result.exit_code == 0, (result.stderr, codes(doc))
    assert doc["service"]["headless"] is True and doc["service"]["frontends"] == []
    [endpoint] = doc["service"]["endpoints"]
    assert (endpoint["address"], endpoint["node"], endpoint["result"]["state"]) == (
        WORDPRESS_IP,
        "worker25",
        "open",
    )
    assert "headless: no ClusterIP" in finding(doc, "SVC_AS_EXPECTED")["message"]
    assert doc["destination"]["ip"] == WORDPRESS_IP  # the path is traced to the endpoint
    text = lab.kdiag("trace", HELLO_1, f"svc/{namespace}/hl")
    assert "Service chain" in text.stdout and "none (headless)" in text.stdout


def test_wrong_target_port_is_refused_by_the_endpoint(lab: Lab, namespace: str) -> None:
    service(lab, namespace, "hl", clusterIP="None", ports=[{"name": "http", "port": 80, "targetPort": 8081}])
    wordpress_slice(lab, namespace, "hl", port=8081)
    result, doc = trace(lab, HELLO_1, f"svc/{namespace}/hl")
    assert result.exit_code == 1, result.stderr
    f = finding(doc, "SVC_PORT_MISMATCH")
    assert f["node"] == "worker25" and f"{WORDPRESS_IP}:8081 (" in f["message"] and "RST" in f["message"]


def test_completion_offers_services_as_svc_names(lab: Lab, namespace: str) -> None:
    from tests.e2e.test_completion import bash_complete

    service(lab, namespace, "web", selector={"app": "web"})
    env = {"KUBECONFIG": str(lab.kubeconfig)}
    assert "svc/kubernetes" in bash_complete(["kdiag", "trace", HELLO_1, "svc/"], env)
    assert bash_complete(["kdiag", "trace", HELLO_1, "svc/kube"], env) == ["svc/kubernetes"]
    assert bash_complete(["kdiag", "trace", HELLO_1, f"svc/{namespace}/w"], env) == [f"svc/{namespace}/web"]
    first = bash_complete(["kdiag", "trace", HELLO_1, ""], env)
    assert "svc/" in first and HELLO_2 in first  # pods, and the word that leads to Services
