"""One Facts per Service/DNS fault class, for tests/unit/test_checks.py's registry tests (every
owned code and severity raised by some scenario, each check raising only what it owns)."""

from __future__ import annotations

from dataclasses import replace

from kdiag.model.checks import Facts
from kdiag.model.checks import service as service_check
from kdiag.model.findings import Code
from tests.unit.service_helpers import (
    HTTP,
    WP_A,
    WP_B,
    dns_probe,
    no_path,
    plan,
    probe_doc,
    service_facts,
    slice_for,
    wp_service,
)


def _scenarios() -> dict[str, Facts]:
    healthy = plan()
    wrong = plan(
        wp_service(ports=(replace(HTTP, target_port=8081),)), slices=(slice_for(WP_A, WP_B, port=8081),)
    )
    nothing = plan(wp_service(selector={"app": "nothing"}), slices=())
    stale = plan(slices=(slice_for(WP_A, WP_B, port=8080),))
    fqdn = "wp.default.svc.cluster.local."
    return {
        "svc healthy": service_facts(healthy, probe_doc(healthy)),
        "svc no endpoints": service_facts(
            nothing, no_path(probe_doc(nothing, front="filtered", endpoints=()))
        ),
        "svc wrong targetPort": service_facts(
            wrong, probe_doc(wrong, front="closed", endpoints=("closed", "closed"))
        ),
        "svc stale slice": service_facts(stale, probe_doc(stale)),
        "svc not translated": service_facts(healthy, probe_doc(healthy, front="filtered")),
        "svc one replica silent": service_facts(healthy, probe_doc(healthy, endpoints=("open", "filtered"))),
        "dns timeout": service_facts(healthy, probe_doc(healthy, dns=dns_probe(fqdn, "timeout", rcode=None))),
        "dns mismatch": service_facts(
            healthy, probe_doc(healthy, dns=dns_probe(fqdn, "answer", ("10.96.9.9",)))
        ),
    }


SERVICE_SCENARIOS = _scenarios()


def test_the_stale_slice_scenario_is_a_warning() -> None:
    found = service_check.CHECK.run(SERVICE_SCENARIOS["svc stale slice"])
    assert [(f.code, f.severity) for f in found] == [(Code.SVC_PORT_MISMATCH, "warning")]
