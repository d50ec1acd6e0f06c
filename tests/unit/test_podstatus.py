"""kubectl's pod/node printer rules. Cases are ported from printers_test.go (k8s v1.36.3, TestPrintPod,
TestPrintPodWithRestartableInitContainer, TestPrintPodwide, TestPrintNonTerminatedPod,
TestPrintNodeStatus, TestPrintNodeRole, TestTranslateTimestampSince) with the Go expectations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kdiag.model.objects import ContainerState, ContainerStatusInfo, NodeInfo, PodCondition, PodInfo
from kdiag.model.podstatus import find_node_roles, human_duration, node_status, translate_timestamp_since
from kdiag.render.rows import POD_WIDE_HEADER, node_roles_text, pod_row, pod_wide_row

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
RUNNING = ContainerState("running")
NO_STATE = ContainerState("")


def ago(**kwargs: float) -> datetime:
    return NOW - timedelta(**kwargs)


def waiting(reason: str = "") -> ContainerState:
    return ContainerState("waiting", reason=reason)


def terminated(reason: str = "", exit_code: int = 0, signal: int = 0) -> ContainerState:
    return ContainerState("terminated", reason=reason, exit_code=exit_code, signal=signal)


def finished(at: datetime) -> ContainerState:
    return ContainerState("terminated", finished_at=at)


def cs(
    state: ContainerState = NO_STATE,
    *,
    name: str = "",
    ready: bool = False,
    restarts: int = 0,
    last: ContainerState = NO_STATE,
    started: bool | None = None,
) -> ContainerStatusInfo:
    return ContainerStatusInfo(name, ready, restarts, state, last, started)


def pod(
    name: str = "test",
    *,
    containers: int = 1,
    init: tuple[tuple[str, bool], ...] = (),
    phase: str = "podPhase",
    reason: str = "",
    statuses: tuple[ContainerStatusInfo, ...] = (),
    init_statuses: tuple[ContainerStatusInfo, ...] = (),
    conditions: tuple[PodCondition, ...] = (),
    deleted: datetime | None = None,
    **extra: object,
) -> PodInfo:
    return PodInfo(
        namespace="default",
        name=name,
        phase=phase,
        status_reason=reason,
        containers=("",) * containers,
        init_containers=init,
        container_statuses=statuses,
        init_container_statuses=init_statuses,
        conditions=conditions,
        deleted=deleted,
        **extra,  # type: ignore[arg-type]
    )


def row(p: PodInfo) -> tuple[str, ...]:
    return pod_row(p, NOW)


UNNAMED_INIT = (("", False),)
READY_TRUE = PodCondition("Ready", "True")


RUN3 = cs(RUNNING, ready=True, restarts=3)
INIT_RESTARTING = cs(RUNNING, restarts=3, last=finished(ago(seconds=10)))
INIT_DONE_RESTARTED = cs(terminated(), restarts=2, last=finished(ago(minutes=2)))
CRASHED = terminated("podCrash", exit_code=1)

# Go's TestPrintPod test1..test24: (pod, expected READY, STATUS, RESTARTS); AGE is "<unknown>" throughout.
# fmt: off
PRINT_POD_CASES = [
    (pod("test1", containers=2, statuses=(RUN3, cs(restarts=3))), ("1/2", "podPhase", "6")),
    (pod("test2", containers=2, statuses=(RUN3, cs(waiting("ContainerWaitingReason"), restarts=3))),
     ("1/2", "ContainerWaitingReason", "6")),
    (pod("test3", containers=2, statuses=(cs(waiting("ContainerWaitingReason"), restarts=3),
                                          cs(terminated("ContainerTerminatedReason"), restarts=3))),
     ("0/2", "ContainerWaitingReason", "6")),
    (pod("test4", containers=2, statuses=(RUN3, cs(ready=True, restarts=3))), ("1/2", "podPhase", "6")),
    (pod("test5", containers=2, reason="podReason", statuses=(RUN3, cs(ready=True, restarts=3))),
     ("1/2", "podReason", "6")),
    (pod("test6", containers=2, phase="Running",
         statuses=(cs(terminated("Completed"), ready=True, restarts=3), RUN3)),
     ("1/2", "NotReady", "6")),
    (pod("test6", containers=2, phase="Running", conditions=(READY_TRUE,),
         statuses=(cs(terminated("Completed"), ready=True, restarts=3), RUN3)),
     ("1/2", "Running", "6")),
    (pod("test7", init=UNNAMED_INIT, init_statuses=(INIT_RESTARTING,), statuses=(cs(waiting()),)),
     ("0/1", "Init:0/1", "3 (10s ago)")),
    (pod("test8", init=UNNAMED_INIT * 2, init_statuses=(INIT_RESTARTING, cs(waiting())),
         statuses=(cs(waiting()),)),
     ("0/1", "Init:0/2", "3 (10s ago)")),
    (pod("test9", init=UNNAMED_INIT * 2, init_statuses=(cs(terminated()), INIT_RESTARTING),
         statuses=(cs(waiting()),)),
     ("0/1", "Init:1/2", "3 (10s ago)")),
    (pod("test10", init=UNNAMED_INIT * 2, init_statuses=(INIT_DONE_RESTARTED, INIT_RESTARTING),
         statuses=(cs(waiting()),)),
     ("0/1", "Init:1/2", "5 (10s ago)")),
    (pod("test11", phase="Running", init=UNNAMED_INIT, init_statuses=(INIT_DONE_RESTARTED,),
         statuses=(cs(RUNNING, restarts=4, last=finished(ago(seconds=20))),)),
     ("0/1", "Running", "4 (20s ago)")),
    (pod("test12", phase="Running",
         statuses=(cs(RUNNING, ready=True, restarts=3, last=finished(ago(days=5))),)),
     ("1/1", "Running", "3 (5d ago)")),
    (pod("test13", containers=2, phase="Running",
         statuses=(cs(RUNNING, ready=True),
                   cs(RUNNING, ready=True, restarts=3, last=finished(ago(days=10))))),
     ("2/2", "Running", "3 (10d ago)")),
    (pod("test14", containers=2, phase="Running",
         statuses=(cs(RUNNING, ready=True, restarts=6, last=finished(ago(days=5))),
                   cs(RUNNING, ready=True, restarts=3, last=finished(ago(days=20))))),
     ("2/2", "Running", "9 (5d ago)")),
    (pod("test15", containers=2, conditions=(PodCondition("PodScheduled", "False", "SchedulingGated"),)),
     ("0/2", "SchedulingGated", "0")),
    (pod("test16", phase="Succeeded", statuses=(cs(terminated("Completed")),)), ("0/1", "Completed", "0")),
    (pod("test17", phase="Failed", statuses=(cs(terminated("Error", exit_code=1)),)), ("0/1", "Error", "0")),
    (pod("test18", phase="Succeeded", statuses=(cs(terminated("Completed")),), deleted=ago(seconds=10)),
     ("0/1", "Completed", "0")),
    (pod("test19", phase="Running", statuses=(cs(RUNNING),), deleted=ago(seconds=10)),
     ("0/1", "Terminating", "0")),
    (pod("test20", phase="Pending", deleted=ago(seconds=10)), ("0/1", "Terminating", "0")),
    (pod("test21", containers=2, phase="Failed", statuses=(cs(CRASHED), cs(RUNNING, ready=True))),
     ("1/2", "podCrash", "0")),
    (pod("test22", containers=2, phase="Failed", statuses=(cs(RUNNING, ready=True), cs(CRASHED))),
     ("1/2", "podCrash", "0")),
    (pod("test23", containers=3, phase="Failed",
         statuses=(cs(RUNNING, ready=True), cs(CRASHED, ready=True), cs(terminated(), ready=True))),
     ("1/3", "podCrash", "0")),
    (pod("test24", containers=3, phase="Failed", statuses=(cs(RUNNING), cs(CRASHED), cs(terminated()))),
     ("0/3", "podCrash", "0")),
]
# fmt: on


@pytest.mark.parametrize(("p", "expected"), PRINT_POD_CASES, ids=lambda v: getattr(v, "name", ""))
def test_print_pod_matches_go_cases(p: PodInfo, expected: tuple[str, str, str]) -> None:
    assert row(p) == (p.name, *expected, "<unknown>")


SIDECARS = (("restartable-init-1", True), ("restartable-init-2", True))


def test_sidecar_running_but_not_started_is_still_initialising() -> None:
    p = pod(
        "test1",
        phase="Pending",
        init=SIDECARS,
        init_statuses=(
            cs(RUNNING, name="restartable-init-1", restarts=3, started=False, last=finished(ago(seconds=10))),
            cs(waiting(), name="restartable-init-2", started=False),
        ),
        statuses=(cs(waiting()),),
        conditions=(PodCondition("Initialized", "False"),),
    )
    assert row(p) == ("test1", "0/3", "Init:0/2", "3 (10s ago)", "<unknown>")


def test_started_sidecar_moves_init_progress_on() -> None:
    p = pod(
        "test1",
        phase="Pending",
        init=SIDECARS,
        init_statuses=(
            cs(RUNNING, name="restartable-init-1", restarts=3, started=True, last=finished(ago(seconds=10))),
            cs(RUNNING, name="restartable-init-2", started=False),
        ),
        statuses=(cs(waiting()),),
        conditions=(PodCondition("Initialized", "False"),),
    )
    assert row(p) == ("test1", "0/3", "Init:1/2", "3 (10s ago)", "<unknown>")


def test_started_sidecars_count_restarts_with_main_containers() -> None:
    p = pod(
        "test2",
        phase="Running",
        init=SIDECARS,
        init_statuses=(
            cs(RUNNING, name="restartable-init-1", restarts=3, started=True, last=finished(ago(seconds=10))),
            cs(RUNNING, name="restartable-init-2", started=True),
        ),
        statuses=(cs(RUNNING, ready=True, restarts=4, last=finished(ago(seconds=20))),),
        conditions=(PodCondition("Initialized", "True"),),
    )
    assert row(p) == ("test2", "1/3", "Running", "7 (10s ago)", "<unknown>")


def test_failed_sidecars_after_initialisation_do_not_hide_completion() -> None:
    p = pod(
        "test3",
        phase="Succeeded",
        init=SIDECARS,
        init_statuses=(
            cs(
                terminated("Error", exit_code=137),
                name="restartable-init-1",
                restarts=3,
                started=False,
                last=finished(ago(seconds=10)),
            ),
            cs(terminated("Error", exit_code=137), name="restartable-init-2", started=False),
        ),
        statuses=(cs(terminated("Completed"), restarts=4, last=finished(ago(seconds=20))),),
        conditions=(PodCondition("Initialized", "True"),),
    )
    assert row(p) == ("test3", "0/3", "Completed", "7 (10s ago)", "<unknown>")


def test_statuses_for_unknown_containers() -> None:
    p = pod(
        "test4",
        phase="Running",
        init=(("init1", False), ("sidecar1", True)),
        init_statuses=(cs(name="initinvalid"), cs(name="init1"), cs(name="sidecar1")),
        statuses=(cs(name="containerinvalid"), cs(name="container1")),
    )
    assert row(p) == ("test4", "0/2", "Init:0/2", "0", "<unknown>")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (terminated(exit_code=2), "Init:ExitCode:2"),
        (terminated(exit_code=137, signal=9), "Init:Signal:9"),
        (terminated("OOMKilled", exit_code=137), "Init:OOMKilled"),
        (waiting("CrashLoopBackOff"), "Init:CrashLoopBackOff"),
        (waiting("PodInitializing"), "Init:0/1"),
    ],
)
def test_failing_init_container(state: ContainerState, expected: str) -> None:
    p = pod(
        init=UNNAMED_INIT,
        phase="Pending",
        init_statuses=(cs(state),),
        statuses=(cs(waiting("PodInitializing")),),
    )
    assert row(p)[2] == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (terminated(exit_code=3), "ExitCode:3"),
        (terminated(exit_code=0, signal=15), "Signal:15"),
        (waiting("CrashLoopBackOff"), "CrashLoopBackOff"),
        (waiting("ContainerCreating"), "ContainerCreating"),
    ],
)
def test_container_state_reasons(state: ContainerState, expected: str) -> None:
    assert row(pod(phase="Running", statuses=(cs(state),)))[2] == expected


def test_completed_container_with_error_sibling_shows_error() -> None:
    # reason ends as "Completed" (first container), an earlier-walked one failed: the error wins.
    p = pod(containers=2, phase="Running", statuses=(cs(terminated("Completed")), cs(terminated("Error", 1))))
    assert row(p)[2] == "Error"


def test_node_lost_pod_being_deleted_is_unknown() -> None:
    p = pod(phase="Running", reason="NodeLost", statuses=(cs(RUNNING, ready=True),), deleted=ago(seconds=1))
    assert row(p)[2] == "Unknown"


def test_evicted_pod_shows_reason() -> None:
    assert row(pod(phase="Failed", reason="Evicted"))[2] == "Evicted"


@pytest.mark.parametrize(
    ("phase", "expected"),
    [("Running", "Running"), ("Pending", "Pending"), ("Unknown", "Unknown"), ("Succeeded", "Succeeded")],
)
def test_phase_shows_when_no_container_says_otherwise(phase: str, expected: str) -> None:
    statuses = (cs(RUNNING, ready=True, restarts=3), cs(restarts=3))
    assert row(pod(containers=2, phase=phase, statuses=statuses))[1:4] == ("1/2", expected, "6")


def test_age_from_creation_timestamp() -> None:
    p = PodInfo(namespace="ns", name="p", created=ago(days=6, hours=2, minutes=5))
    assert row(p)[4] == "6d2h"


def test_wide_row_with_node_ip_and_readiness_gates() -> None:
    p = pod(
        "test1",
        containers=2,
        node_name="test1",
        pod_ips=("1.1.1.1", "2001:db8::"),
        pod_ip="1.1.1.1",
        nominated_node_name="node1",
        readiness_gates=("condition1", "condition2", "condition3"),
        conditions=(PodCondition("condition1", "False"), PodCondition("condition2", "True")),
        statuses=(cs(RUNNING, ready=True, restarts=3), cs(restarts=3)),
    )
    assert pod_wide_row(p, NOW) == (
        "test1",
        "1/2",
        "podPhase",
        "6",
        "<unknown>",
        "1.1.1.1",
        "test1",
        "node1",
        "1/3",
    )


def test_wide_row_fills_absent_values_with_none() -> None:
    p = pod(
        "test2", containers=2, statuses=(cs(RUNNING, ready=True, restarts=3), cs(waiting("W"), restarts=3))
    )
    assert pod_wide_row(p, NOW)[5:] == ("<none>", "<none>", "<none>", "<none>")
    assert len(POD_WIDE_HEADER) == 9


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=-2.1), "<invalid>"),
        (timedelta(seconds=-1.9), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=30), "30s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=5, seconds=3), "5m3s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(seconds=600), "10m"),
        (timedelta(minutes=100), "100m"),
        (timedelta(hours=3, minutes=5), "3h5m"),
        (timedelta(hours=7), "7h"),
        (timedelta(hours=8, minutes=59), "8h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=6, hours=2), "6d2h"),
        (timedelta(days=90), "90d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=731), "2y1d"),
        (timedelta(days=3650), "10y"),
    ],
)
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


def test_unknown_timestamp() -> None:
    assert translate_timestamp_since(None, NOW) == "<unknown>"


@pytest.mark.parametrize(
    ("ready", "unschedulable", "expected"),
    [
        ("True", False, "Ready"),
        ("True", True, "Ready,SchedulingDisabled"),
        ("False", False, "NotReady"),
        ("False", True, "NotReady,SchedulingDisabled"),
        ("Unknown", False, "NotReady"),
        ("", False, "Unknown"),
        ("", True, "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status(ready: str, unschedulable: bool, expected: str) -> None:
    assert node_status(NodeInfo("n", ready=ready, unschedulable=unschedulable)) == expected


def test_node_roles() -> None:
    labels = {
        "node-role.kubernetes.io/master": "",
        "node-role.kubernetes.io/control-plane": "",
        "node-role.kubernetes.io/proxy": "",
        "kubernetes.io/role": "node",
        "node-role.kubernetes.io/": "",
    }
    assert find_node_roles(labels) == ("control-plane", "master", "node", "proxy")
    assert find_node_roles({"kubernetes.io/role": "node"}) == ("node",)
    assert node_roles_text(NodeInfo("n")) == "<none>"
    assert node_roles_text(NodeInfo("n", roles=("a", "b"))) == "a,b"
